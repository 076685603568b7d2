/**
 * Reading answers in TabSeparated, the format every large result comes in (much cheaper to read than JSON): rows
 * of fields, and the two array shapes the queries return.
 */

/** Rows of TabSeparated text (without the final newline), each with `columns` unescaped fields. */
export function parseTsv(text: string, columns: number): string[][] {
  const rows: string[][] = [];
  for (const line of text.split('\n')) {
    const fields = line.split('\t');
    if (fields.length !== columns) throw new Error(`unexpected line in the answer: ${line.slice(0, 200)}`);
    for (let i = 0; i < columns; i++) if (fields[i]!.includes('\\')) fields[i] = unescapeTsv(fields[i]!);
    rows.push(fields);
  }
  return rows;
}

const TSV_ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', '0': '\0', a: '\x07', v: '\v' };

/** A TabSeparated field's text (ClickHouse escapes \\, tab, newline and a few more with a backslash). */
export function unescapeTsv(s: string): string {
  return s.replace(/\\(.)/gs, (_, c: string) => TSV_ESCAPES[c] ?? c);
}

/** An Array(Tuple(...)) of integers as TabSeparated shows it: [(1,2,3,4),(5,6,7,8)]. */
export function tsvTuples(s: string): Array<[string, string, string, string]> {
  if (!/^\[\(-?\d+,\d+,\d+,\d+\)(?:,\(-?\d+,\d+,\d+,\d+\))*\]$/.test(s))
    throw new Error(`unexpected tuples in the answer: ${s.slice(0, 200)}`);
  return s
    .slice(2, -2)
    .split('),(')
    .map((t) => t.split(',') as [string, string, string, string]);
}

/** The texts of an Array(String) field of decimal texts as TabSeparated shows it: ['1.5','-2']. */
export function tsvTextArray(s: string): string[] {
  if (s === '[]') return [];
  if (!/^\['[-0-9.]+'(?:,'[-0-9.]+')*\]$/.test(s)) throw new Error(`unexpected array in the answer: ${s.slice(0, 200)}`);
  return s.slice(2, -2).split("','");
}
