/**
 * The report page's script, run in the browser: it builds the page from the report document (report-doc.ts) and
 * draws each meter's chart with uPlot. It is written here as one self-contained function so that TypeScript checks
 * it; the page embeds its compiled text (`reportClient.toString()`), so it must use nothing outside its own body.
 * Values are shown as their exact decimal text (digits grouped for reading); only the chart's geometry uses doubles.
 */
import type uPlot from 'uplot';
import type { ReportDoc, ReportDocMeter } from './report-doc.js';

export function reportClient(U: typeof uPlot, doc: ReportDoc, root: HTMLElement): void {
  const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#86bcb6'];
  const OTHERS = '#c5cad3';
  /** Rows a table shows before "show all": laying out 1,000 rows took longer than everything else on the page. */
  const ROWS_SHOWN = 200;
  /** The largest bar height drawn: far from where a double overflows, however many layers are stacked. */
  const HEIGHT_CAP = 1e300;

  function h(tag: string, attrs: Record<string, string> = {}, ...children: Array<Node | string | null>): HTMLElement {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    for (const c of children) if (c !== null) e.append(c);
    return e;
  }
  /** Exact decimal text with its integer digits grouped by commas: the digits are the store's, never a double's. */
  function num(text: string | null): string {
    if (text === null) return '–';
    const m = /^(-?)(\d+)(\.\d+)?$/.exec(text);
    return m === null ? text : m[1] + m[2]!.replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (m[3] ?? '');
  }
  function numCell(text: string | null, tag = 'td'): HTMLElement {
    const c = h(tag, { class: 'n' }, num(text));
    if (text !== null) c.setAttribute('data-value', text);
    return c;
  }
  const windows = doc.windows;
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  /**
   * An axis label of window i, from its label in the report's zone (`2026-11`, `2026-11-03`, `2026-11-03 14:00`):
   * the larger unit only where it changes since the previous label.
   */
  function tickLabel(i: number, prev: number | null): string {
    const l = windows.label[i]!,
      p = prev === null ? '' : windows.label[prev]!;
    const y = l.slice(0, 4),
      mo = MONTHS[Number(l.slice(5, 7)) - 1]!,
      d = String(Number(l.slice(8, 10)));
    if (doc.window === 'month') return p.slice(0, 4) !== y ? `${mo}\n${y}` : mo;
    if (doc.window === 'day') return p.slice(0, 7) !== l.slice(0, 7) ? `${mo} ${d}${p.slice(0, 4) !== y ? '\n' + y : ''}` : d;
    // From the 12th character on: the hour, with the offset windowLabels adds to an hour a fall-back night repeats.
    return p.slice(0, 10) !== l.slice(0, 10) ? `${l.slice(11)}\n${mo} ${d}` : l.slice(11);
  }
  const indexOf = new Map(windows.t.map((t, i) => [t, i]));
  /**
   * The windows that get an axis label, at most `most` (about 64 pixels each): all when they fit, else the first of
   * each month (days) or day (hours) when those fit, else every k-th of those.
   */
  function ticks(most: number): number[] {
    let idx = windows.t.map((_, i) => i);
    if (idx.length <= most) return idx.map((i) => windows.t[i]!);
    const starts = idx.filter((i) => (doc.window === 'day' ? windows.label[i]!.endsWith('-01') : windows.label[i]!.endsWith(' 00:00')));
    if (doc.window !== 'month' && starts.length >= 2) idx = starts;
    const k = Math.ceil(idx.length / most);
    return idx.filter((_, j) => j % k === 0).map((i) => windows.t[i]!);
  }
  /** Axis numbers: compact (12.5K, 3M), and in exponent form where compact letters run out. */
  const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });
  const axisNumber = (v: number) => (Math.abs(v) >= 1e15 ? v.toExponential(1) : compact.format(v));
  const span = (i: number) => `${windows.start[i]} to ${windows.end[i]}`;
  const color = (m: ReportDocMeter, i: number) => (m.series[i]!.others ? OTHERS : PALETTE[i % PALETTE.length]!);

  function chart(m: ReportDocMeter, box: HTMLElement, width: number): void {
    const n = windows.t.length;
    // Heights only (the numbers shown are the exact text): each value is capped at its share of HEIGHT_CAP, so that
    // a stack of capped values stays within it and every layer is drawn.
    const cap = HEIGHT_CAP / Math.max(1, m.series.length);
    const own = m.series.map((s) => s.values.map((v) => (v === null ? null : Math.max(-cap, Math.min(cap, Number(v))))));
    // A stack: each layer is drawn as the sum of itself and the layers below it, the first (largest) layer on top.
    // Layers are drawn first to last, each painting over the one before, so each shows exactly its own part.
    // Credits (negative values) stack down from zero the same way, apart from the usage above it, so a layer's
    // bar is as long as its own value whatever the signs of the others.
    const layers = (sign: 1 | -1) =>
      own.map((_, i) =>
        own[0]!.map((_, w) => {
          const sum = own.slice(i).reduce((a, s) => a + (Math.sign(s[w] ?? 0) === sign ? s[w]! : 0), 0);
          return sum === 0 ? null : sum;
        }),
      );
    const plotted: Array<Array<number | null>> = m.additive ? [...layers(1), ...layers(-1)] : own;
    const step = n > 1 ? windows.t[1]! - windows.t[0]! : 3600;
    const xs = windows.t;
    const bars = U.paths.bars!({ size: [0.86, 64], align: 0 });
    const series: uPlot.Series[] = [{}];
    for (const part of m.additive ? ['usage', 'credits'] : ['values'])
      m.series.forEach((s, i) => {
        const c = color(m, i);
        series.push(
          m.additive
            ? { label: `${s.label} ${part}`, stroke: c, fill: c, width: 0, paths: bars, points: { show: false } }
            : { label: s.label, stroke: c, width: 2, points: { show: true, size: 5 }, spanGaps: false },
        );
      });
    const tip = h('div', { class: 'tip', hidden: '' });
    box.append(tip);
    const opts: uPlot.Options = {
      width: Math.max(320, width),
      height: 300,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { show: !m.additive } },
      scales: {
        // Not a time scale: the ticks are the windows themselves, labelled as the server wrote them in the zone.
        x: { time: false, range: () => [xs[0]! - step / 2, xs[n - 1]! + step / 2] },
        // Bars stand on zero: a scale cut above it would make small differences look large.
        ...(m.additive
          ? {
              y: {
                range: (_u: uPlot, lo: number, hi: number): uPlot.Range.MinMax => [
                  lo < 0 ? lo * 1.05 : 0,
                  hi > 0 ? hi * 1.05 : lo < 0 ? 0 : 1,
                ],
              },
            }
          : {}),
      },
      axes: [
        {
          stroke: '#555',
          size: 44,
          grid: { show: false },
          ticks: { stroke: '#ddd' },
          splits: (u) => ticks(Math.max(2, Math.floor(u.bbox.width / devicePixelRatio / 64))),
          values: (_u, splits) => splits.map((t, j) => tickLabel(indexOf.get(t)!, j === 0 ? null : indexOf.get(splits[j - 1]!)!)),
        },
        {
          stroke: '#555',
          grid: { stroke: '#eee' },
          ticks: { stroke: '#ddd' },
          values: (_u, ticks) => ticks.map(axisNumber),
          // Wide enough for the longest label (1.0e+20): about 7 pixels a character, plus the ticks and a gap.
          size: (_u, values) => Math.max(48, 22 + 7 * Math.max(0, ...(values ?? []).map((v) => String(v).length))),
        },
      ],
      series,
      hooks: {
        setCursor: [
          (u) => {
            const i = u.cursor.idx;
            if (i === null || i === undefined || u.cursor.left === undefined || u.cursor.left < 0) {
              tip.hidden = true;
              return;
            }
            tip.replaceChildren(h('div', { class: 'tip-head' }, windows.label[i]!), h('div', { class: 'tip-span' }, span(i)));
            const t = h('table');
            if (m.windowTotals) t.append(h('tr', { class: 'tip-total' }, h('td', {}, 'total'), numCell(m.windowTotals[i]!)));
            m.series.forEach((s, k) => {
              const sw = h('span', { class: 'sw' });
              sw.style.background = color(m, k);
              t.append(h('tr', {}, h('td', {}, sw, s.label), numCell(s.values[i]!)));
            });
            tip.append(t);
            tip.hidden = false;
            const left = u.cursor.left + u.over.offsetLeft;
            tip.style.left = `${left + tip.offsetWidth + 24 > box.clientWidth ? left - tip.offsetWidth - 12 : left + 12}px`;
            tip.style.top = `${(u.cursor.top ?? 0) + u.over.offsetTop + 8}px`;
          },
        ],
      },
    };
    const plot = new U(opts, [xs, ...plotted] as uPlot.AlignedData, box);
    new ResizeObserver(() => plot.setSize({ width: Math.max(320, box.clientWidth), height: 300 })).observe(box);
  }

  function legend(m: ReportDocMeter): HTMLElement {
    const l = h('ul', { class: 'legend' });
    m.series.forEach((s, i) => {
      const sw = h('span', { class: 'sw' });
      sw.style.background = color(m, i);
      l.append(h('li', {}, sw, h('span', { class: 'lab', title: s.label }, s.label), h('span', { class: 'lv' }, num(s.total))));
    });
    return l;
  }

  function entityTable(m: ReportDocMeter): HTMLElement {
    const head = h(
      'tr',
      {},
      h('th', { class: 'n' }, '#'),
      h('th', {}, m.entity),
      h('th', { class: 'n' }, 'total'),
      ...(m.additive ? [h('th', { class: 'n' }, 'share')] : []),
      h('th', {}, 'peak window'),
      h('th', { class: 'n' }, 'peak'),
      h('th', {}, `usage per ${doc.window}`),
    );
    const body = h('tbody');
    const row = (r: ReportDocMeter['rows'][number], i: number) =>
      h(
        'tr',
        {},
        h('td', { class: 'n rank' }, String(i + 1)),
        h('td', { class: 'who' }, r.label),
        numCell(r.total),
        ...(m.additive ? [h('td', { class: 'n' }, r.share === null ? '–' : `${r.share}%`)] : []),
        h('td', r.peak === null ? {} : { title: span(r.peak) }, r.peak === null ? '–' : windows.label[r.peak]!),
        numCell(r.peakValue),
        h('td', { class: 'spark', 'aria-hidden': 'true' }, r.spark),
      );
    const table = h('table', { class: 'rows' }, h('thead', {}, head), body);
    const wrap = h('div', { class: 'table-wrap' }, table);
    const more = h('button', { type: 'button' });
    /** Shows the rows whose label holds `find` (all for ''), the first ROWS_SHOWN of them unless `all`; ranks stay. */
    const show = (find: string, all: boolean) => {
      const needle = find.toLowerCase();
      const hits: Array<[ReportDocMeter['rows'][number], number]> = [];
      m.rows.forEach((r, i) => (needle === '' || r.label.toLowerCase().includes(needle)) && hits.push([r, i]));
      body.replaceChildren(...(all ? hits : hits.slice(0, ROWS_SHOWN)).map(([r, i]) => row(r, i)));
      more.textContent = `show all ${hits.length} rows`;
      more.hidden = all || hits.length <= ROWS_SHOWN;
    };
    const out = h('div', {});
    if (m.rows.length > 20) {
      const search = h('input', {
        type: 'search',
        placeholder: `find a ${m.entity}`,
        'aria-label': `find a ${m.entity}`,
      }) as HTMLInputElement;
      search.oninput = () => show(search.value, false);
      more.onclick = () => show(search.value, true);
      out.append(h('div', { class: 'find' }, search));
    }
    show('', false);
    out.append(wrap, more);
    return out;
  }

  /** A usage statement's table: one row per window, a column per series (when split) and the window's total. */
  function windowTable(m: ReportDocMeter): HTMLElement {
    const split = m.series.length > 1;
    const cols = split ? m.series : [];
    const totals = m.windowTotals ?? (m.series.length === 1 ? m.series[0]!.values : null);
    const head = h(
      'tr',
      {},
      h('th', {}, doc.window),
      ...cols.map((c) => h('th', { class: 'n' }, c.label)),
      ...(totals ? [h('th', { class: 'n' }, split ? 'total' : m.slug)] : []),
    );
    const body = h('tbody');
    windows.label.forEach((label, i) =>
      body.append(
        h(
          'tr',
          {},
          h('td', { title: span(i) }, label),
          ...cols.map((c) => numCell(c.values[i]!)),
          ...(totals ? [numCell(totals[i]!)] : []),
        ),
      ),
    );
    if (m.additive) body.append(h('tr', { class: 'sum' }, h('td', {}, 'total'), ...cols.map((c) => numCell(c.total)), numCell(m.total)));
    return h('div', { class: 'table-wrap' }, h('table', { class: 'rows windows' }, h('thead', {}, head), body));
  }

  function invoices(): HTMLElement | null {
    const inv = doc.invoices;
    if (inv === null) return null;
    const sec = h('section', { class: 'card invoices' }, h('h2', {}, doc.subject === null ? 'Invoices' : 'Invoice'));
    if (inv.invoices.length === 0) sec.append(h('p', { class: 'muted' }, 'No usage of a priced meter in this range.'));
    if (doc.subject === null) {
      const body = h('tbody');
      for (const i of inv.invoices)
        body.append(h('tr', {}, h('td', { class: 'who' }, i.customer), h('td', { class: 'n' }, String(i.lines.length)), numCell(i.total)));
      if (inv.invoices.length)
        sec.append(
          h(
            'div',
            { class: 'table-wrap' },
            h(
              'table',
              { class: 'rows' },
              h(
                'thead',
                {},
                h('tr', {}, h('th', {}, 'customer'), h('th', { class: 'n' }, 'lines'), h('th', { class: 'n' }, `total ${inv.currency}`)),
              ),
              body,
            ),
          ),
        );
    } else {
      for (const i of inv.invoices) {
        const body = h('tbody');
        for (const l of i.lines) {
          body.append(
            h(
              'tr',
              l.lineType === 'unpriced' ? { class: 'unpriced' } : {},
              h('td', {}, l.meter),
              h('td', {}, l.group),
              h('td', {}, l.description ?? ''),
              h('td', {}, l.lineType + (l.tier === null ? '' : ` ${l.tier}`)),
              numCell(l.quantity),
              numCell(l.unitAmount),
              numCell(l.per),
              numCell(l.amount),
            ),
          );
        }
        body.append(
          h(
            'tr',
            { class: 'sum' },
            h('td', { colspan: '7' }, 'total'),
            h('td', { class: 'n', 'data-value': i.total }, `${num(i.total)} ${inv.currency}`),
          ),
        );
        const head = h(
          'tr',
          {},
          ...['meter', 'group', 'description', 'line'].map((c) => h('th', {}, c)),
          ...['quantity', 'unit price', 'per', 'amount'].map((c) => h('th', { class: 'n' }, c)),
        );
        sec.append(h('div', { class: 'table-wrap' }, h('table', { class: 'rows' }, h('thead', {}, head), body)));
      }
    }
    if (inv.unpriced > 0)
      sec.append(h('p', { class: 'warn' }, `${inv.unpriced} usage row(s) match no price: shown as unpriced, not billed.`));
    return sec;
  }

  const scope = [
    doc.subjects.length > 1 ? `Subjects ${doc.subjects.join(', ')}` : null,
    doc.groupBy !== null ? `Split by ${doc.groupBy}` : null,
  ]
    .filter((x) => x !== null)
    .join('. ');
  root.append(
    h(
      'header',
      {},
      h('h1', {}, doc.title),
      h('p', { class: 'range' }, h('strong', {}, doc.from), ' to ', h('strong', {}, doc.to)),
      h(
        'p',
        { class: 'rule' },
        `Time zone ${doc.zone}. From is inclusive, to is exclusive: an event at exactly the end belongs to the next period. ` +
          `Windows are calendar ${doc.window}s in ${doc.zone}; the first and last may be partial.${scope ? ' ' + scope + '.' : ''}`,
      ),
    ),
  );
  if (doc.subject !== null) root.append(invoices() ?? '');
  const later: Array<{ m: ReportDocMeter; box: HTMLElement; tables: HTMLElement }> = [];
  for (const m of doc.meters) {
    const kpis = h(
      'div',
      { class: 'kpis' },
      h(
        'div',
        {},
        h('span', { class: 'k' }, m.additive ? 'total' : m.aggregation.toLowerCase()),
        h('span', { class: 'v', 'data-value': m.total ?? '' }, num(m.total)),
      ),
      ...(doc.subject === null || doc.groupBy !== null
        ? [h('div', {}, h('span', { class: 'k' }, `${m.entity}s`), h('span', { class: 'v' }, num(String(m.rows.length))))]
        : []),
      ...(m.peak !== null
        ? [
            h(
              'div',
              { title: span(m.peak) },
              h('span', { class: 'k' }, `peak ${doc.window}`),
              h('span', { class: 'v' }, windows.label[m.peak]!),
              h('span', { class: 'sub' }, num(m.peakValue)),
            ),
          ]
        : []),
    );
    const box = h('div', { class: 'chart' });
    const sec = h(
      'section',
      { class: 'card meter', 'data-meter': m.slug },
      h('h2', {}, m.slug, h('span', { class: 'agg' }, m.aggregation)),
      m.description ? h('p', { class: 'muted' }, m.description) : null,
      kpis,
    );
    if (m.rows.length === 0) {
      sec.append(h('p', { class: 'muted empty' }, 'No usage in this range.'));
      root.append(sec);
      continue;
    }
    if (m.additive && m.series.every((s) => s.values.every((v) => v === null || v === '0'))) {
      // Nothing to draw: every value is 0 (a meter of usage that did not occur, such as cached tokens). A total of
      // 0 is not enough: credits of 5 and -5 add up to it.
      sec.append(h('p', { class: 'muted empty' }, `Every value is 0 in this range (${m.rows.length} ${m.entity}s with events).`));
      root.append(sec);
      continue;
    }
    const tables = h('div', {});
    sec.append(box, legend(m), tables);
    root.append(sec);
    later.push({ m, box, tables });
  }
  if (doc.subject === null) root.append(invoices() ?? '');
  root.append(
    h(
      'footer',
      {},
      `${doc.generator} · values are exact decimals, as meter query prints them (digits grouped for reading) · charts by uPlot`,
    ),
  );
  // The charts' width is measured once, before the tables are in the page: reading it later would lay out every
  // table row first.
  const width = later.length ? later[0]!.box.clientWidth : 0;
  for (const { m, box } of later) chart(m, box, width);
  for (const { m, tables } of later) {
    if (doc.subject === null || doc.groupBy !== null) tables.append(entityTable(m));
    if (doc.subject !== null) tables.append(windowTable(m));
  }
}
