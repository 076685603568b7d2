/**
 * SQL literals: the ONLY escaper of the project's ClickHouse SQL. ClickHouse 18.16 has no query parameters, so
 * every string that reaches ClickHouse SQL (user input, event content in VALUES rows, JSON paths) goes through
 * `sqlString`, every number through `sqlInt` (and `i64` where the arithmetic must stay 64-bit), and database
 * names are validated by `sqlIdent`. Event rows do not come this way: they travel as RowBinary (rowbinary.ts),
 * which is length-prefixed binary, so no event text is ever parsed as SQL or as a text format.
 */
import { UsageError } from '../../errors.js';

const ESCAPES: Record<string, string> = {
  '\\': '\\\\',
  "'": "\\'",
  '\0': '\\0',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\b': '\\b',
  '\f': '\\f',
};

/**
 * A ClickHouse string literal holding exactly `s`: single quotes around it, backslash and quote escaped, and the
 * control characters that ClickHouse's parser treats specially written as escapes. Valid for queries and for
 * VALUES data.
 */
export function sqlString(s: string): string {
  if (typeof s !== 'string') throw new TypeError('sqlString: not a string');
  return "'" + s.replace(/[\\'\0\n\r\t\b\f]/g, (c) => ESCAPES[c]!) + "'";
}

/** A SQL integer literal; throws for anything but a safe integer (or a bigint, or a canonical digit string). */
export function sqlInt(n: number | bigint | string): string {
  if (typeof n === 'bigint') return n.toString();
  if (typeof n === 'string') {
    if (!/^-?(0|[1-9]\d{0,19})$/.test(n)) throw new RangeError(`not an integer: ${JSON.stringify(n)}`);
    return n;
  }
  if (!Number.isSafeInteger(n)) throw new RangeError(`not an integer: ${n}`);
  return String(n);
}

/**
 * An Int64 literal of integer digits (from sqlInt or computed). 18.16 types a literal by its value (60000 is a
 * UInt16) and an operation by its operands' types (`Int64 % UInt16` is an Int16, so 32768 and more wrap to
 * negatives), so every literal of the window arithmetic and of the time bounds is made an Int64: no result can be
 * narrower than its operands.
 */
export const i64 = (digits: string): string => `toInt64(${digits})`;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** A validated, quoted identifier (database names come from the URL). */
export function sqlIdent(name: string): string {
  if (!IDENTIFIER.test(name)) {
    throw new UsageError(`ClickHouse database "${name}": use letters, digits and _ (not starting with a digit), at most 64`);
  }
  return '`' + name + '`';
}
