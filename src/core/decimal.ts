/**
 * Exact decimal arithmetic for billing totals: a value is `mantissa * 10^-scale` with a BigInt mantissa, so
 * 0.1 + 0.2 is exactly 0.3 and sums of any size never round. Numbers enter through their shortest round-trip text
 * (what `String(n)` prints), so an input of `0.1` is the decimal 0.1, not the binary fraction nearest to it.
 */

const NUMERIC = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** An exact decimal number. Immutable. */
export class Decimal {
  private constructor(
    readonly mantissa: bigint,
    readonly scale: number,
  ) {}

  static readonly ZERO = new Decimal(0n, 0);

  /** Parses decimal text (`12`, `-0.5`, `1e3`, `.5`); null when it is not a finite decimal number. */
  static parse(text: string): Decimal | null {
    const m = NUMERIC.exec(text);
    if (m === null) return null;
    const int = m[2] ?? '',
      frac = m[3] ?? '';
    if (int === '' && frac === '') return null;
    const exp = m[4] === undefined ? 0 : Number(m[4]);
    if (!Number.isSafeInteger(exp) || Math.abs(exp) > 100_000) return null;
    let mantissa = BigInt(int + frac || '0');
    if (m[1] === '-') mantissa = -mantissa;
    let scale = frac.length - exp;
    if (scale < 0) {
      mantissa *= 10n ** BigInt(-scale);
      scale = 0;
    }
    return new Decimal(mantissa, scale).normalized();
  }

  /** The decimal a finite JS number prints as; integers (also beyond 2^53 as BigInt) are taken exactly. */
  static from(value: number | bigint): Decimal {
    if (typeof value === 'bigint') return new Decimal(value, 0);
    if (Number.isInteger(value) && Number.isSafeInteger(value)) return new Decimal(BigInt(value), 0);
    const d = Decimal.parse(String(value));
    if (d === null) throw new RangeError(`not a finite number: ${value}`);
    return d;
  }

  private normalized(): Decimal {
    let { mantissa, scale } = this;
    if (mantissa === 0n) return new Decimal(0n, 0);
    while (scale > 0 && mantissa % 10n === 0n) {
      mantissa /= 10n;
      scale--;
    }
    return new Decimal(mantissa, scale);
  }

  add(other: Decimal): Decimal {
    if (this.scale === other.scale) return new Decimal(this.mantissa + other.mantissa, this.scale);
    if (this.scale > other.scale) {
      return new Decimal(this.mantissa + other.mantissa * 10n ** BigInt(this.scale - other.scale), this.scale);
    }
    return new Decimal(this.mantissa * 10n ** BigInt(other.scale - this.scale) + other.mantissa, other.scale);
  }

  /** This divided by a positive integer, rounded half away from zero to `digits` decimal places. */
  divide(divisor: bigint | number, digits = 12): Decimal {
    const d = BigInt(divisor);
    if (d <= 0n) throw new RangeError('divisor must be positive');
    // Scale the numerator so the quotient has `digits` decimals, then round on the remainder.
    // With more decimals than `digits`, divide by d * 10^excess instead, so no digit is cut before rounding.
    const shift = digits - this.scale;
    const num = shift >= 0 ? this.mantissa * 10n ** BigInt(shift) : this.mantissa;
    const den = shift >= 0 ? d : d * 10n ** BigInt(-shift);
    let q = num / den;
    const r = num % den;
    if (r !== 0n && (r < 0n ? -r : r) * 2n >= den) q += num < 0n ? -1n : 1n;
    return new Decimal(q, digits).normalized();
  }

  /** This minus other, exactly. */
  sub(other: Decimal): Decimal {
    return this.add(other.neg());
  }

  neg(): Decimal {
    return new Decimal(-this.mantissa, this.scale);
  }

  /** This times other, exactly. */
  mul(other: Decimal): Decimal {
    return new Decimal(this.mantissa * other.mantissa, this.scale + other.scale).normalized();
  }

  /** -1, 0 or 1. */
  sign(): -1 | 0 | 1 {
    return this.mantissa < 0n ? -1 : this.mantissa > 0n ? 1 : 0;
  }

  isInteger(): boolean {
    return this.normalized().scale === 0;
  }

  /**
   * This divided by `other` (not zero), rounded to `digits` decimal places (0 or more) by `mode`:
   * `halfAwayFromZero` (0.005 -> 0.01, -0.005 -> -0.01), `ceil` (towards +infinity) or `floor` (towards -infinity).
   * The rounding sees the exact quotient, so it is never off by a digit cut earlier.
   */
  quotient(other: Decimal, digits: number, mode: RoundingMode = 'halfAwayFromZero'): Decimal {
    if (other.mantissa === 0n) throw new RangeError('division by zero');
    if (!Number.isSafeInteger(digits) || digits < 0) throw new RangeError('digits must be a whole number >= 0');
    // this / other = (m1 / 10^s1) / (m2 / 10^s2); scaled by 10^digits: m1 * 10^(s2 + digits) / (m2 * 10^s1).
    let num = this.mantissa * 10n ** BigInt(other.scale + digits);
    let den = other.mantissa * 10n ** BigInt(this.scale);
    if (den < 0n) {
      num = -num;
      den = -den;
    }
    return new Decimal(roundQuotient(num, den, mode), digits).normalized();
  }

  /** This rounded to `digits` decimal places by `mode` (see quotient). */
  round(digits: number, mode: RoundingMode = 'halfAwayFromZero'): Decimal {
    return this.quotient(ONE, digits, mode);
  }

  /**
   * This divided by `other` exactly, or null when the quotient has no finite decimal expansion (x / 3) or
   * `other` is zero. Dividing by a number whose only prime factors are 2 and 5 (10, 1000, 1000000) is always exact.
   */
  divideExact(other: Decimal): Decimal | null {
    if (other.mantissa === 0n) return null;
    let num = this.mantissa * 10n ** BigInt(other.scale);
    let den = other.mantissa * 10n ** BigInt(this.scale);
    if (den < 0n) {
      num = -num;
      den = -den;
    }
    const g = gcd(num < 0n ? -num : num, den);
    num /= g;
    den /= g;
    // den = 2^a * 5^b exactly when the quotient terminates; then num / den = num * 10^k / den / 10^k.
    let twos = 0,
      fives = 0,
      rest = den;
    while (rest % 2n === 0n) (rest /= 2n), twos++;
    while (rest % 5n === 0n) (rest /= 5n), fives++;
    if (rest !== 1n) return null;
    const k = Math.max(twos, fives);
    return new Decimal((num * 10n ** BigInt(k)) / den, k).normalized();
  }

  /**
   * Plain decimal text with at least `digits` fraction digits (`4.6` -> `4.60`, `1200` with 0 -> `1200`,
   * `0.0000025` with 2 -> `0.0000025`): money in a currency's minor units, never cut.
   */
  toFixedMin(digits: number): string {
    const text = this.toString();
    const point = text.indexOf('.');
    const have = point < 0 ? 0 : text.length - point - 1;
    if (have >= digits) return text;
    return (point < 0 ? text + '.' : text) + '0'.repeat(digits - have);
  }

  compare(other: Decimal): number {
    const diff = this.add(new Decimal(-other.mantissa, other.scale)).mantissa;
    return diff < 0n ? -1 : diff > 0n ? 1 : 0;
  }

  isZero(): boolean {
    return this.mantissa === 0n;
  }

  /** Plain decimal text without exponent and without trailing zeros (`1000`, `0.3`, `-12.5`). */
  toString(): string {
    const n = this.normalized();
    const neg = n.mantissa < 0n;
    let digits = (neg ? -n.mantissa : n.mantissa).toString();
    if (n.scale > 0) {
      digits = digits.padStart(n.scale + 1, '0');
      digits = digits.slice(0, digits.length - n.scale) + '.' + digits.slice(digits.length - n.scale);
    }
    return (neg ? '-' : '') + digits;
  }
}

export type RoundingMode = 'halfAwayFromZero' | 'ceil' | 'floor';

const ONE = Decimal.parse('1')!;

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** num / den (den > 0) rounded to a whole number by `mode`. */
function roundQuotient(num: bigint, den: bigint, mode: RoundingMode): bigint {
  let q = num / den; // truncated towards zero
  const r = num % den;
  if (r === 0n) return q;
  if (mode === 'ceil') return num > 0n ? q + 1n : q;
  if (mode === 'floor') return num < 0n ? q - 1n : q;
  if ((r < 0n ? -r : r) * 2n >= den) q += num < 0n ? -1n : 1n;
  return q;
}

/** Strict numeric text, as accepted for meter values: optional sign, digits, optional fraction and exponent. */
const NUMERIC_STRING = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * The longest canonical number text kept: a number that would print longer (`1e5000`) is no usage figure, and
 * bounding it bounds what one short literal can grow into.
 */
export const MAX_NUMBER_TEXT = 1000;

/**
 * The canonical decimal text of numeric text (`2.0` -> `2`, `1e3` -> `1000`, `-0` -> `0`, `1.50` -> `1.5`,
 * `.5` -> `0.5`), the same as `Decimal.parse(text).toString()` but without BigInt arithmetic; null when `text`
 * is not numeric or its canonical text would be longer than MAX_NUMBER_TEXT.
 */
export function canonicalNumber(text: string): string | null {
  const m = NUMERIC.exec(text);
  if (m === null) return null;
  const int = m[2] ?? '',
    frac = m[3] ?? '';
  if (int === '' && frac === '') return null;
  let exp = 0;
  if (m[4] !== undefined) {
    // An exponent beyond any representable length is refused before it is applied.
    if (m[4].replace(/^[+-]?0*/, '').length > 7) return allZero(int + frac) ? '0' : null;
    exp = Number(m[4]);
  }
  let digits = int + frac;
  let point = int.length + exp; // position of the decimal point within `digits`
  // Leading and trailing zeros carry no value.
  let lead = 0;
  while (lead < digits.length && digits.charCodeAt(lead) === 48) lead++;
  if (lead === digits.length) return '0';
  let end = digits.length;
  while (digits.charCodeAt(end - 1) === 48) end--;
  digits = digits.slice(lead, end);
  point -= lead;
  // The length of the text to be, checked before it is built.
  const length = (m[1] === '-' ? 1 : 0) + (point <= 0 ? 2 - point + digits.length : point >= digits.length ? point : digits.length + 1);
  if (length > MAX_NUMBER_TEXT) return null;
  let out: string;
  if (point <= 0) out = '0.' + '0'.repeat(-point) + digits;
  else if (point >= digits.length) out = digits + '0'.repeat(point - digits.length);
  else out = digits.slice(0, point) + '.' + digits.slice(point);
  return m[1] === '-' ? '-' + out : out;
}

function allZero(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) !== 48) return false;
  return true;
}

/**
 * The exact decimal text a meter value stands for, or null when it does not count: JSON numbers (their literal,
 * which canonical data already holds in canonical form) and strings holding a decimal number (`"21"`, `"0.5"`,
 * `"1e3"`), as in OpenMeter, whose canonical text is at most MAX_NUMBER_TEXT long. Booleans, null, `"NaN"`,
 * `"Inf"`, padded or empty strings, objects and arrays do not count. A JS number is taken by its shortest
 * round-trip text.
 */
export function decimalText(value: unknown): string | null {
  if (typeof value === 'number') return Number.isFinite(value) ? canonicalNumber(String(value)) : null;
  if (typeof value === 'string' && NUMERIC_STRING.test(value)) return canonicalNumber(value);
  return null;
}

/**
 * The number a meter value stands for, or null when it does not count: finite numbers count, and so do strings
 * holding a decimal number (`"21"`, `"0.5"`), as in OpenMeter. Booleans, null, `"NaN"`, `"Inf"`, padded or empty
 * strings, objects and arrays do not.
 */
export function numericValue(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string' && NUMERIC_STRING.test(value)) {
    const n = Number(value);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}
