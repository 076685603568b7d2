/**
 * The exact order key of a number: a string whose byte order is the numbers' exact order. ClickHouse compares
 * strings by bytes, so MIN, MAX (argMin/argMax over `nk`) compare numbers of any size exactly, never as doubles.
 */
import type { Decimal } from '../../core/decimal.js';

/** Digits of the exponent in an order key, and the offset that makes every exponent a Decimal can have positive. */
const KEY_EXP_WIDTH = 7;
const KEY_EXP_OFFSET = 5_000_000;
/** Ends a negative number's key: above every digit, so a shorter digit string (a smaller magnitude) sorts later. */
const KEY_NEGATIVE_END = '~';

/**
 * The order key of a canonical decimal text (see the spec: `-`, digits, `.digits`, no exponent, no leading or
 * trailing zeros): strings whose byte order is the numbers' exact order, equal exactly when the numbers are.
 * Zero is "1". A positive number 0.d1d2...dn x 10^e (d1 and dn not 0) is "2", e + KEY_EXP_OFFSET in
 * KEY_EXP_WIDTH digits, then d1...dn: a larger exponent is a larger number, and at equal exponents the digits
 * compare as strings (a prefix is the smaller number). A negative number is "0", then the same exponent and digits
 * with every digit d replaced by 9 - d (larger magnitudes sort first), then KEY_NEGATIVE_END (so that of two
 * digit strings one of which is a prefix of the other, the prefix, the smaller magnitude, sorts after).
 */
export function orderKeyOfCanonical(text: string): string {
  const neg = text.charCodeAt(0) === 45; // '-'
  const body = neg ? text.slice(1) : text;
  if (body === '0') return '1';
  const dot = body.indexOf('.');
  const int = dot < 0 ? body : body.slice(0, dot);
  const frac = dot < 0 ? '' : body.slice(dot + 1);
  let exp: number, digits: string;
  if (int !== '0') {
    exp = int.length;
    digits = frac === '' ? stripTrailingZeros(int) : int + frac;
  } else {
    let z = 0;
    while (frac.charCodeAt(z) === 48) z++;
    exp = -z;
    digits = frac.slice(z);
  }
  const e = exp + KEY_EXP_OFFSET;
  if (e < 0 || e >= 10 ** KEY_EXP_WIDTH) throw new RangeError(`number out of the order key's range: ${text.slice(0, 40)}...`);
  const expText = String(e).padStart(KEY_EXP_WIDTH, '0');
  if (!neg) return '2' + expText + digits;
  return '0' + complementDigits(expText) + complementDigits(digits) + KEY_NEGATIVE_END;
}

/** The order key of a decimal (see orderKeyOfCanonical). */
export function orderKey(d: Decimal): string {
  return orderKeyOfCanonical(d.toString());
}

function stripTrailingZeros(s: string): string {
  let end = s.length;
  while (end > 1 && s.charCodeAt(end - 1) === 48) end--;
  return end === s.length ? s : s.slice(0, end);
}

function complementDigits(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += String.fromCharCode(105 - s.charCodeAt(i)); // '0'+'9' - c
  return out;
}
