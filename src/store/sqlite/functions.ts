/** The JavaScript functions that the SQLite store's SQL calls (registered per connection). */
import type Database from 'better-sqlite3';
import { Decimal, decimalText } from '../../core/decimal.js';
import { contentFingerprint } from '../../core/event.js';
import { InexactValue } from './errors.js';

/** meter_fp: the content fingerprint of version 1 rows (see UPSERT in writer.ts and MIGRATE_2_TO_3). */
export function registerFingerprint(db: Database.Database): void {
  db.function('meter_fp', { deterministic: true }, (type: unknown, subject: unknown, time: unknown, data: unknown) =>
    contentFingerprint(type as string, subject as string, time as number | null, data as string | null),
  );
}

/** The exact-decimal functions of the aggregate SQL (see aggregate-sql.ts). */
export function registerDecimalFunctions(db: Database.Database): void {
  // The exact decimal text of a value's literal (a number's JSON text or a string), NULL when it does not count.
  db.function('meter_dec', { deterministic: true }, (v: unknown) => (typeof v === 'string' ? decimalText(v) : null));
  // Exact decimal sum of the values SQLite cannot sum exactly, from their literal text: reals, numeric strings,
  // integers past 2^63. Result: "sum count".
  db.aggregate('meter_dsum', {
    start: () => ({ sum: Decimal.ZERO, n: 0 }),
    step: (acc: { sum: Decimal; n: number }, v: unknown) => {
      const text = typeof v === 'string' ? decimalText(v) : null;
      if (text !== null) {
        acc.sum = acc.sum.add(Decimal.parse(text)!);
        acc.n++;
      }
      return acc;
    },
    result: (acc: { sum: Decimal; n: number }) => `${acc.sum.toString()} ${acc.n}`,
  });
  // The exact sum of "sum count" parts (meter_dsum's results, kept in rollups): "sum count", NULL when every part
  // is NULL. Each argument is a part or NULL.
  db.aggregate('meter_dmerge', {
    varargs: true,
    start: () => null,
    step: (acc: { sum: Decimal; n: number } | null, ...parts: unknown[]) => {
      for (const p of parts) {
        if (typeof p !== 'string') continue;
        const sp = p.indexOf(' ');
        acc ??= { sum: Decimal.ZERO, n: 0 };
        acc.sum = acc.sum.add(Decimal.parse(p.slice(0, sp))!);
        acc.n += Number(p.slice(sp + 1));
      }
      return acc;
    },
    result: (acc: { sum: Decimal; n: number } | null) => (acc === null ? null : `${acc.sum.toString()} ${acc.n}`),
  });
  // Stops a 'fast' catch-up (rollup-sql.ts). Not deterministic: SQLite would compute a deterministic call without
  // arguments once, as a constant, whether or not a row reaches it.
  db.function('meter_inexact', { deterministic: false }, () => {
    throw new InexactValue();
  });
  // The least and greatest of such values by exact decimal order, as canonical text.
  for (const [name, sign] of [
    ['meter_dmin', -1],
    ['meter_dmax', 1],
  ] as const) {
    db.aggregate(name, {
      start: () => null,
      step: (best: Decimal | null, v: unknown) => {
        const text = typeof v === 'string' ? decimalText(v) : null;
        if (text === null) return best;
        const d = Decimal.parse(text)!;
        return best === null || d.compare(best) === sign ? d : best;
      },
      result: (best: Decimal | null) => (best === null ? null : best.toString()),
    });
  }
}
