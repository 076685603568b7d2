/**
 * The report as one JSON document: what the page's script draws from, inline in the file or, for a server, fetched
 * from a URL. Every number is exact decimal text (a JSON number would lose digits in the browser); times are RFC 3339
 * in the report's zone, with labels as a person reads them.
 */
import type { Report } from '../core/report.js';
import type { WindowSize } from '../core/window.js';
import { messageSafe, terminalSafe } from './table.js';

export const REPORT_DOC_VERSION = 1;

export interface ReportDocSeries {
  label: string;
  values: Array<string | null>;
  total: string | null;
  others: boolean;
}

export interface ReportDocRow {
  label: string;
  total: string | null;
  share: string | null;
  /** Index into windows; null when no window has a value. */
  peak: number | null;
  peakValue: string | null;
  spark: string;
}

export interface ReportDocMeter {
  slug: string;
  description: string | null;
  aggregation: string;
  additive: boolean;
  entity: string;
  total: string | null;
  peak: number | null;
  peakValue: string | null;
  series: ReportDocSeries[];
  rows: ReportDocRow[];
  windowTotals: Array<string | null> | null;
}

export interface ReportDocInvoiceLine {
  meter: string;
  group: string;
  description: string | null;
  lineType: string;
  tier: number | null;
  quantity: string | null;
  unitAmount: string | null;
  per: string | null;
  amount: string | null;
}

export interface ReportDoc {
  version: number;
  title: string;
  subject: string | null;
  subjects: string[];
  groupBy: string | null;
  zone: string;
  from: string;
  to: string;
  window: string;
  windows: { t: number[]; label: string[]; start: string[]; end: string[] };
  meters: ReportDocMeter[];
  invoices: null | {
    currency: string;
    unpriced: number;
    invoices: Array<{ customer: string; total: string; lines: ReportDocInvoiceLine[] }>;
  };
  generator: string;
}

/** How a window start is labelled: the local date (and hour) it starts at, from its RFC 3339 text. */
export function windowLabel(size: WindowSize, rfc3339: string): string {
  if (size === 'MONTH') return rfc3339.slice(0, 7);
  if (size === 'DAY') return rfc3339.slice(0, 10);
  return `${rfc3339.slice(0, 10)} ${rfc3339.slice(11, 16)}`;
}

/**
 * The labels of window starts: windowLabel, with the UTC offset added to a label that two windows share (the hour
 * that a fall-back night repeats: 02:00 +02:00, then 02:00 +01:00), so that no two rows of a table read alike.
 */
export function windowLabels(size: WindowSize, starts: string[]): string[] {
  const labels = starts.map((s) => windowLabel(size, s));
  const seen = new Map<string, number>();
  for (const l of labels) seen.set(l, (seen.get(l) ?? 0) + 1);
  return labels.map((l, i) => (seen.get(l)! > 1 ? `${l} ${/(Z|[+-]\d\d:\d\d)$/.exec(starts[i]!)?.[1] ?? ''}`.trimEnd() : l));
}

/**
 * The page's data. Subjects and group values are shown as the CLI shows them (terminalSafe): a right-to-left
 * override or a zero-width character as an escape, so that one customer cannot look like another on the page.
 */
export function reportDoc(report: Report, generator: string): ReportDoc {
  const start = report.windows.map((w) => report.formatTime(w.start));
  const peakValue = (p: { window: number; value: string } | null) => ({ peak: p?.window ?? null, peakValue: p?.value ?? null });
  return {
    version: REPORT_DOC_VERSION,
    title: report.subject === null ? 'Usage report' : `Usage statement: ${terminalSafe(report.subject)}`,
    subject: report.subject === null ? null : terminalSafe(report.subject),
    subjects: report.subjects.map(terminalSafe),
    groupBy: report.groupBy,
    zone: report.zone,
    from: report.formatTime(report.fromMs),
    to: report.formatTime(report.toMs),
    window: report.windowSize.toLowerCase(),
    windows: {
      // Seconds: uPlot's time scale.
      t: report.windows.map((w) => w.start / 1000),
      label: windowLabels(report.windowSize, start),
      start,
      end: report.windows.map((w) => report.formatTime(w.end)),
    },
    meters: report.meters.map((m) => ({
      slug: m.meter.slug,
      description: m.meter.description === undefined ? null : terminalSafe(m.meter.description),
      aggregation: m.meter.aggregation,
      additive: m.additive,
      entity: m.entity,
      total: m.total,
      ...peakValue(m.peak),
      // Labels hold their backslashes doubled already (see labelOf in core/report.ts).
      series: m.series.map((s) => ({ label: messageSafe(s.label), values: s.values, total: s.total, others: s.others !== undefined })),
      rows: m.rows.map((r) => ({ label: messageSafe(r.label), total: r.total, share: r.share, ...peakValue(r.peak), spark: r.spark })),
      windowTotals: m.windowTotals,
    })),
    invoices:
      report.invoices === null
        ? null
        : {
            currency: report.invoices.currency,
            unpriced: report.invoices.unpriced,
            invoices: report.invoices.invoices.map((inv) => ({
              customer: terminalSafe(inv.customer),
              total: inv.total,
              lines: inv.lines.map((l) => ({
                meter: l.meter,
                group: terminalSafe(l.group.map(([k, v]) => `${k}=${v}`).join(' ')),
                description: l.description === null ? null : terminalSafe(l.description),
                lineType: l.lineType,
                tier: l.tier,
                quantity: l.quantity,
                unitAmount: l.unitAmount,
                per: l.per,
                amount: l.amount,
              })),
            })),
          },
    generator,
  };
}
