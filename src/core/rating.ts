/**
 * Rating: a price model and a quantity -> invoice lines with exact and rounded amounts. Pure arithmetic on exact
 * decimals, following OpenMeter's rating code (openmeter/billing/rating) where the vendors differ:
 * - every line is rounded once, half away from zero, to the currency's minor units; totals are sums of rounded lines;
 * - tier bounds are (previous upToAmount, upToAmount]; graduated gives a line per tier reached, volume prices the
 *   whole quantity at the tier it falls in; a tier's flat price is its own line;
 * - no usage line for a quantity <= 0; the first tier's flat price is billed even at zero usage (graduated and
 *   volume alike); package rounds the number of packages up;
 * - minimum and maximum commitments of a price become a true-up (`minimum`) or a discount (`maximum`) line,
 *   computed on the sum of the price's rounded lines.
 */
import { Decimal } from './decimal.js';

/** One tier: `upTo` null for the open-ended last tier. Amounts are per `per` units (unit) or per tier (flat). */
export interface Tier {
  upTo: Decimal | null;
  unitAmount: Decimal | null;
  flatAmount: Decimal | null;
}

export type PriceModel =
  | { type: 'unit'; amount: Decimal; per: Decimal }
  | { type: 'tiered'; mode: 'graduated' | 'volume'; tiers: Tier[]; per: Decimal }
  | { type: 'package'; amount: Decimal; quantityPerPackage: Decimal }
  | { type: 'flat'; amount: Decimal };

export type LineType = 'usage' | 'flat' | 'minimum' | 'maximum';

/** A rated line. `amount` is `amountExact` rounded to the currency's minor digits. */
export interface RatedLine {
  lineType: LineType;
  /** 1-based tier number of tiered prices, else null. */
  tier: number | null;
  quantity: Decimal | null;
  unitAmount: Decimal | null;
  per: Decimal | null;
  amountExact: Decimal;
  amount: Decimal;
}

/** ISO 4217 minor units (exponents) of the currencies whose exponent is not 2. */
const NOT_TWO: Record<string, number> = {
  BIF: 0,
  CLP: 0,
  DJF: 0,
  GNF: 0,
  ISK: 0,
  JPY: 0,
  KMF: 0,
  KRW: 0,
  PYG: 0,
  RWF: 0,
  UGX: 0,
  UYI: 0,
  VND: 0,
  VUV: 0,
  XAF: 0,
  XOF: 0,
  XPF: 0,
  BHD: 3,
  IQD: 3,
  JOD: 3,
  KWD: 3,
  LYD: 3,
  OMR: 3,
  TND: 3,
  CLF: 4,
  UYW: 4,
};

/** Active ISO 4217 currency codes with an exponent of 2. */
const TWO = (
  'AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD CDF CHE CHF ' +
  'CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG ' +
  'HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK ' +
  'MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE ' +
  'SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ' +
  'ZMW ZWG ZWL'
).split(' ');

/** The number of minor digits of an ISO 4217 currency code (USD 2, JPY 0, KWD 3), or null for an unknown code. */
export function minorDigits(currency: string): number | null {
  if (Object.hasOwn(NOT_TWO, currency)) return NOT_TWO[currency]!;
  return TWO.includes(currency) ? 2 : null;
}

/** Rounds money once: half away from zero to the currency's minor digits. */
export function roundMoney(x: Decimal, digits: number): Decimal {
  return x.round(digits, 'halfAwayFromZero');
}

/** qty * unit / per, exactly (per has only the prime factors 2 and 5; price.ts checks it). */
function perUnits(qty: Decimal, unit: Decimal, per: Decimal): Decimal {
  const exact = qty.mul(unit).divideExact(per);
  if (exact === null) throw new RangeError(`per ${per} does not divide exactly`);
  return exact;
}

function line(
  lineType: LineType,
  tier: number | null,
  quantity: Decimal | null,
  unitAmount: Decimal | null,
  per: Decimal | null,
  exact: Decimal,
  digits: number,
): RatedLine {
  return { lineType, tier, quantity, unitAmount, per, amountExact: exact, amount: roundMoney(exact, digits) };
}

/** The lines of a usage price (unit, tiered, package) for one quantity. */
export function rateUsage(price: PriceModel, quantity: Decimal, digits: number): RatedLine[] {
  switch (price.type) {
    case 'unit':
      if (quantity.sign() <= 0) return [];
      return [line('usage', null, quantity, price.amount, price.per, perUnits(quantity, price.amount, price.per), digits)];
    case 'package': {
      if (quantity.sign() <= 0) return [];
      const packages = quantity.quotient(price.quantityPerPackage, 0, 'ceil');
      return [line('usage', null, quantity, price.amount, price.quantityPerPackage, packages.mul(price.amount), digits)];
    }
    case 'tiered':
      return price.mode === 'graduated'
        ? graduated(price.tiers, price.per, quantity, digits)
        : volume(price.tiers, price.per, quantity, digits);
    case 'flat':
      return [rateFlat(price.amount, digits)];
  }
}

/** A flat fee: once per period. */
export function rateFlat(amount: Decimal, digits: number): RatedLine {
  return line('flat', null, Decimal.parse('1'), amount, null, amount, digits);
}

/** A tier's flat line, or none when the tier has no (or a zero) flat price. */
function flatLine(tier: Tier, n: number, digits: number): RatedLine[] {
  if (tier.flatAmount === null || tier.flatAmount.isZero()) return [];
  return [line('flat', n, null, tier.flatAmount, null, tier.flatAmount, digits)];
}

/**
 * Graduated: each tier (lo, hi] bills the part of the quantity inside it, min(q, hi) - lo, as its own line, and its
 * flat price once the quantity is above lo. The first tier's flat price is billed even at zero usage (OpenMeter).
 */
function graduated(tiers: Tier[], per: Decimal, quantity: Decimal, digits: number): RatedLine[] {
  const lines: RatedLine[] = [];
  let lo = Decimal.ZERO;
  tiers.forEach((tier, i) => {
    const reached = quantity.compare(lo) > 0;
    if (reached || i === 0) {
      const hi = tier.upTo === null || quantity.compare(tier.upTo) < 0 ? quantity : tier.upTo;
      const inTier = hi.sub(lo);
      if (reached && tier.unitAmount !== null) {
        lines.push(line('usage', i + 1, inTier, tier.unitAmount, per, perUnits(inTier, tier.unitAmount, per), digits));
      }
      lines.push(...flatLine(tier, i + 1, digits));
    }
    if (tier.upTo !== null) lo = tier.upTo;
  });
  return lines;
}

/**
 * Volume: the whole quantity at the unit price of the first tier with quantity <= upTo (the last tier is open),
 * plus that tier's flat price, which is billed even at zero usage; the unit line only for a quantity > 0.
 */
function volume(tiers: Tier[], per: Decimal, quantity: Decimal, digits: number): RatedLine[] {
  const i = tiers.findIndex((t) => t.upTo === null || quantity.compare(t.upTo) <= 0);
  const tier = tiers[i]!;
  const lines: RatedLine[] = [];
  if (quantity.sign() > 0 && tier.unitAmount !== null) {
    lines.push(line('usage', i + 1, quantity, tier.unitAmount, per, perUnits(quantity, tier.unitAmount, per), digits));
  }
  lines.push(...flatLine(tier, i + 1, digits));
  return lines;
}

/**
 * Commitments of one price, on the sum of its rounded lines: below `minimum` a `minimum` line of the difference
 * (a true-up), above `maximum` a negative `maximum` line of the overage (a discount). Amounts are in minor units.
 */
export function commitments(lines: RatedLine[], minimum: Decimal | null, maximum: Decimal | null, digits: number): RatedLine[] {
  const total = lines.reduce((sum, l) => sum.add(l.amount), Decimal.ZERO);
  if (minimum !== null && total.compare(minimum) < 0) {
    return [line('minimum', null, null, minimum, null, minimum.sub(total), digits)];
  }
  if (maximum !== null && total.compare(maximum) > 0) {
    return [line('maximum', null, null, maximum, null, maximum.sub(total), digits)];
  }
  return [];
}
