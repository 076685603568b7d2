/**
 * The price file of `meter invoice` (YAML) and its validation, free of I/O. Shapes and names are OpenMeter's
 * rate-card prices (`unit`, `tiered` graduated/volume, `package`, `flat`, `minimumAmount`, `maximumAmount`) plus
 * `per`. Validation collects every problem of every price, each naming the price and the field, like meter.ts.
 *
 * Amounts are decimal strings: YAML reads `0.1` as a binary float, so a YAML number is refused.
 */
import { ConfigError, yamlProblem } from '../errors.js';
import { parseYamlFile, type YamlFile } from './yaml.js';
import { Decimal } from './decimal.js';
import type { Meter } from './meter.js';
import { minorDigits, type PriceModel, type Tier } from './rating.js';

/** One price of the file. */
export interface Price {
  /** 1-based position in the file. */
  index: number;
  /** How messages name it: `price #2 (output_tokens model=gpt-4o)`. */
  label: string;
  meter: Meter;
  /** groupBy key -> value; a usage row matches when it has every one of these values. */
  match: Array<[string, string]>;
  description?: string;
  model: PriceModel;
  minimum: Decimal | null;
  maximum: Decimal | null;
}

export interface PriceFile {
  /** The file's name, for messages. */
  file: string;
  currency: string;
  /** The currency's minor digits (ISO 4217). */
  digits: number;
  prices: Price[];
}

const AMOUNT = /^\d+(?:\.\d+)?$/;

/**
 * The longest amount or `per` a price file may write: far past any price (a millionth of a cent per token is 8
 * decimals), and short enough that exact arithmetic on it stays cheap (100,000 digits took seconds per line).
 */
const MAX_AMOUNT_TEXT = 100;
const PRICE_KEYS = ['meter', 'match', 'description', 'price', 'minimumAmount', 'maximumAmount'];
const MODEL_KEYS: Record<string, string[]> = {
  unit: ['type', 'amount', 'per'],
  tiered: ['type', 'mode', 'tiers', 'per'],
  package: ['type', 'amount', 'quantityPerPackage'],
  flat: ['type', 'amount'],
};

const isMapping = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);

/** The 1-based line of the file where a path (`['prices', 0, 'price', 'amount']`) is, or of its nearest parent. */
export type LineOf = (path: Array<string | number>) => number | null;
/** The text of the scalar at a path of the parsed document, as written (null when unknown). */
export type TextOf = (path: Array<string | number>) => string | null;

/** `price.tiers[2].unitPrice.amount` -> `['price', 'tiers', 1, 'unitPrice', 'amount']` (messages count tiers from 1). */
function fieldPath(field: string): Array<string | number> {
  return field.split('.').flatMap((part) => {
    const m = /^(.*)\[(\d+)\]$/.exec(part);
    return m === null ? [part] : [m[1]!, Number(m[2]) - 1];
  });
}

/** Validates a parsed price document against the configured meters; throws ConfigError listing every problem. */
export function validatePrices(
  doc: unknown,
  file: string,
  meters: Meter[],
  lineOf: LineOf = () => null,
  textOf: TextOf = () => null,
): PriceFile {
  const problems: string[] = [];
  // Each problem starts with the line it is on, so that it is found in a long file without counting prices.
  const on = (path: Array<string | number>, text: string) => {
    const line = lineOf(path);
    problems.push(line === null ? text : `line ${line}: ${text}`);
  };
  if (!isMapping(doc)) throw new ConfigError(file, ['must be a mapping with currency: and prices:'], 'price file');
  for (const key of Object.keys(doc)) {
    if (key !== 'currency' && key !== 'prices') on([key], `${key}: unknown key (a price file has currency: and prices:)`);
  }
  let digits = 2;
  const currency = doc.currency;
  if (currency === undefined || currency === null) on(['currency'], 'currency: missing (an ISO 4217 code such as USD, EUR, JPY)');
  else if (typeof currency !== 'string')
    on(
      ['currency'],
      `currency: must be an ISO 4217 code such as USD, EUR, JPY, not ${typeof currency === 'number' ? 'a number' : `a ${typeof currency}`}`,
    );
  else {
    const d = minorDigits(currency);
    if (d === null) on(['currency'], `currency: "${currency}" is not an ISO 4217 currency code (USD, EUR, JPY, KWD...)`);
    else digits = d;
  }
  const prices: Price[] = [];
  if (!Array.isArray(doc.prices) || doc.prices.length === 0) on(['prices'], 'prices: must be a non-empty list');
  else {
    doc.prices.forEach((raw: unknown, i: number) => {
      const path = (field: string) => ['prices', i, ...(field === '' ? [] : fieldPath(field))];
      const price = validatePrice(
        raw,
        i + 1,
        meters,
        digits,
        problems,
        (field, text) => on(path(field), text),
        (field) => textOf(path(field)),
      );
      if (price !== null) prices.push(price);
    });
  }
  if (problems.length > 0) throw new ConfigError(file, problems, 'price file');
  return { file, currency: currency as string, digits, prices };
}

function validatePrice(
  raw: unknown,
  index: number,
  meters: Meter[],
  digits: number,
  problems: string[],
  on: (field: string, text: string) => void,
  written: (field: string) => string | null,
): Price | null {
  if (!isMapping(raw)) {
    on('', `price #${index}: must be a mapping with meter: and price:`);
    return null;
  }
  const before = problems.length;
  const matchText =
    isMapping(raw.match) && Object.keys(raw.match).length > 0
      ? ' ' +
        Object.entries(raw.match)
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
          .join(' ')
      : '';
  const label = `price #${index} (${typeof raw.meter === 'string' ? raw.meter : '?'}${matchText})`;
  // The fields named so far: an empty one is named once (an unknown field left empty is only unknown).
  const named = new Set<string>();
  const at = (field: string, text: string) => {
    named.add(field);
    on(field, `${label} ${field}: ${text}`);
  };
  for (const key of Object.keys(raw)) if (!PRICE_KEYS.includes(key)) at(key, `unknown field (use ${PRICE_KEYS.join(', ')})`);
  let meter: Meter | undefined;
  if (typeof raw.meter !== 'string') {
    if (raw.meter === undefined) at('meter', 'missing (the slug of a meter of the config)');
    else if (raw.meter !== null) at('meter', `must be the slug of a meter of the config, not ${kindOf(raw.meter)}`);
  } else {
    meter = meters.find((m) => m.slug === raw.meter);
    if (meter === undefined) {
      at(
        'meter',
        `"${raw.meter}" is not a meter of the config (${meters.length ? meters.map((m) => m.slug).join(', ') : 'none configured; see --config'})`,
      );
    }
  }
  const match: Array<[string, string]> = [];
  if (raw.match !== undefined && raw.match !== null) {
    if (!isMapping(raw.match)) at('match', 'must be a mapping of groupBy key: value');
    else {
      for (const [key, value] of Object.entries(raw.match)) {
        if (meter !== undefined && !meter.groupBy.some((g) => g.key === key)) {
          at(
            `match.${key}`,
            `meter ${meter.slug} has ${meter.groupBy.length ? `groupBy keys ${meter.groupBy.map((g) => g.key).join(', ')}` : 'no groupBy keys'}`,
          );
        }
        if (value === null || value === undefined)
          at(`match.${key}`, 'must be a string: write "" for the usage whose group value is missing or null');
        else if (typeof value !== 'string')
          at(`match.${key}`, `must be a string (write ${JSON.stringify(String(value))}): group values are compared as text`);
        else match.push([key, value]);
      }
    }
  }
  if (raw.description !== undefined && raw.description !== null && typeof raw.description !== 'string') at('description', 'must be text');
  const amount = (field: string, value: unknown, required = true): Decimal | null => {
    if (value === null) return null;
    if (value === undefined) {
      if (required) at(field, 'missing (a decimal string such as "2.50")');
      return null;
    }
    if (typeof value === 'number') {
      const text = written(field);
      const plain = plainWritten(text, value);
      if (plain === null || plain.startsWith('-')) at(field, `${text ?? value} is not a decimal amount such as "2.50"`);
      else if (plain.length > MAX_AMOUNT_TEXT) at(field, `an amount of ${plain.length} digits is not read (at most ${MAX_AMOUNT_TEXT})`);
      else at(field, `write the amount as a string ("${plain}"): YAML reads a number as a binary float`);
      return null;
    }
    if (typeof value !== 'string' || !AMOUNT.test(value)) {
      at(field, `${JSON.stringify(value)} is not a decimal amount such as "2.50" (digits, optional fraction, not negative)`);
      return null;
    }
    if (value.length > MAX_AMOUNT_TEXT) {
      at(field, `an amount of ${value.length} characters is not read (at most ${MAX_AMOUNT_TEXT})`);
      return null;
    }
    return Decimal.parse(value);
  };
  const model = validateModel(raw.price, at, amount, written('price.per'));
  const commitment = (field: string): Decimal | null => {
    const d = amount(field, raw[field], false);
    if (d !== null && d.round(digits).compare(d) !== 0) at(field, `has more decimals than the currency's ${digits}`);
    return d;
  };
  const minimum = commitment('minimumAmount');
  const maximum = commitment('maximumAmount');
  if (minimum !== null && maximum !== null && minimum.compare(maximum) > 0)
    at('minimumAmount', `${minimum} is above maximumAmount ${maximum}`);
  // A field written without a value (YAML null, `per:` alone on its line) is refused, never read as absent: an empty
  // per would bill per unit, an empty minimumAmount drop the commitment. The checks above leave nulls to this one.
  for (const field of emptyFields(raw, '')) if (!named.has(field)) at(field, 'empty: give a value, or remove the line');
  if (problems.length > before || meter === undefined || model === null) return null;
  const price: Price = { index, label, meter, match, model, minimum, maximum };
  if (typeof raw.description === 'string') price.description = raw.description;
  return price;
}

/**
 * The fields of a price written without a value (YAML null), named as messages name them (`price.tiers[2].flatPrice`).
 * The values of `match` have a message of their own.
 */
function* emptyFields(v: unknown, field: string): Generator<string> {
  if (v === null) yield field;
  else if (Array.isArray(v)) for (let i = 0; i < v.length; i++) yield* emptyFields(v[i], `${field}[${i + 1}]`);
  else if (isMapping(v) && field !== 'match')
    for (const [key, x] of Object.entries(v)) yield* emptyFields(x, field === '' ? key : `${field}.${key}`);
}

/**
 * A number YAML read as a double, as the plain decimal of its text as written (1e-7: 0.0000001; 2^60 with all its
 * digits), or of the double when the text is unknown; null for what is no decimal (.inf, .nan).
 */
function plainWritten(text: string | null, value: number): string | null {
  if (!Number.isFinite(value)) return null;
  return (text === null ? null : Decimal.parse(text)?.toString()) ?? Decimal.parse(String(value))?.toString() ?? null;
}

/** What a YAML value is, for a message: a number, a list, text... */
function kindOf(v: unknown): string {
  return Array.isArray(v) ? 'a list' : typeof v === 'string' ? 'text' : typeof v === 'object' ? 'a mapping' : `a ${typeof v}`;
}

type At = (field: string, text: string) => void;
type Amount = (field: string, value: unknown, required?: boolean) => Decimal | null;

function validateModel(raw: unknown, at: At, amount: Amount, perWritten: string | null): PriceModel | null {
  if (!isMapping(raw)) {
    if (raw === undefined) at('price', 'missing (a mapping with type: unit, tiered, package or flat)');
    else if (raw !== null) at('price', `must be a mapping with type: unit, tiered, package or flat, not ${kindOf(raw)}`);
    return null;
  }
  const type = raw.type;
  if (typeof type !== 'string' || !Object.hasOwn(MODEL_KEYS, type)) {
    if (type !== null) at('price.type', `${JSON.stringify(type ?? null)} is not one of unit, tiered, package, flat`);
    return null;
  }
  for (const key of Object.keys(raw)) {
    if (!MODEL_KEYS[type]!.includes(key)) at(`price.${key}`, `not a field of a ${type} price (${MODEL_KEYS[type]!.join(', ')})`);
  }
  const per = perOf(raw.per, at, perWritten);
  switch (type) {
    case 'unit': {
      const a = amount('price.amount', raw.amount);
      return a === null || per === null ? null : { type, amount: a, per };
    }
    case 'flat': {
      const a = amount('price.amount', raw.amount);
      return a === null ? null : { type, amount: a };
    }
    case 'package': {
      const a = amount('price.amount', raw.amount);
      const size = amount('price.quantityPerPackage', raw.quantityPerPackage);
      if (size?.isZero()) at('price.quantityPerPackage', 'must be above 0');
      return a === null || size === null || size.isZero() ? null : { type, amount: a, quantityPerPackage: size };
    }
    default: {
      const mode = raw.mode;
      if (mode !== 'graduated' && mode !== 'volume' && mode !== null)
        at('price.mode', `${JSON.stringify(mode ?? null)} is not graduated or volume`);
      const tiers = validateTiers(raw.tiers, at, amount);
      if (tiers === null || per === null || (mode !== 'graduated' && mode !== 'volume')) return null;
      return { type: 'tiered', mode, tiers, per };
    }
  }
}

/** `per`: a positive whole number whose only prime factors are 2 and 5 (1, 1000, 1000000), so division is exact. */
function perOf(raw: unknown, at: At, written: string | null): Decimal | null {
  if (raw === undefined || raw === null) return Decimal.parse('1');
  // A whole number past 2^53 that YAML read as a double (10000000000000000 is exact, 2^60 is not): its digits
  // are those written, and a string keeps them.
  const plain = typeof raw === 'number' && Number.isInteger(raw) && !Number.isSafeInteger(raw) ? plainWritten(written, raw) : null;
  if (plain !== null && /^\d+$/.test(plain)) {
    if (plain.length > MAX_AMOUNT_TEXT) at('price.per', `a per of ${plain.length} digits is not read (at most ${MAX_AMOUNT_TEXT})`);
    else at('price.per', `write a per past 2^53 as a string ("${plain}"): YAML reads a number as a binary float`);
    return null;
  }
  const text = typeof raw === 'number' && Number.isSafeInteger(raw) ? String(raw) : typeof raw === 'string' ? raw : null;
  if (text !== null && text.length > MAX_AMOUNT_TEXT) {
    at('price.per', `a per of ${text.length} characters is not read (at most ${MAX_AMOUNT_TEXT})`);
    return null;
  }
  const d = text !== null && /^\d+$/.test(text) ? Decimal.parse(text) : null;
  if (d === null || d.isZero()) {
    const shown = typeof raw === 'number' && !Number.isFinite(raw) ? `${raw} (a number too large for YAML)` : JSON.stringify(raw);
    at('price.per', `${shown} is not a positive whole number (amounts are per this many units, e.g. 1000000)`);
    return null;
  }
  if (Decimal.parse('1')!.divideExact(d) === null) {
    at(
      'price.per',
      `${text}: amounts per ${text} units would be endless decimals; use a number whose only prime factors are 2 and 5 (10, 1000, 1000000)`,
    );
    return null;
  }
  return d;
}

function validateTiers(raw: unknown, at: At, amount: Amount): Tier[] | null {
  if (!Array.isArray(raw) || raw.length === 0) {
    if (raw !== null) at('price.tiers', 'must be a non-empty list of { upToAmount, unitPrice: { amount }, flatPrice: { amount } }');
    return null;
  }
  const tiers: Tier[] = [];
  let ok = true;
  let previous: Decimal | null = null;
  raw.forEach((t: unknown, i: number) => {
    const where = `price.tiers[${i + 1}]`;
    if (!isMapping(t)) {
      at(where, 'must be a mapping');
      ok = false;
      return;
    }
    for (const key of Object.keys(t))
      if (!['upToAmount', 'unitPrice', 'flatPrice'].includes(key))
        at(`${where}.${key}`, 'unknown field (upToAmount, unitPrice, flatPrice)');
    const last = i === raw.length - 1;
    let upTo: Decimal | null = null;
    if (t.upToAmount !== undefined && t.upToAmount !== null) {
      upTo = amount(`${where}.upToAmount`, t.upToAmount);
      if (upTo === null) ok = false;
      else if (last) {
        at(`${where}.upToAmount`, 'the last tier must be open-ended (no upToAmount), so every quantity has a tier');
        ok = false;
      } else if (previous !== null && upTo.compare(previous) <= 0) {
        at(`${where}.upToAmount`, `${upTo} is not above the previous tier's ${previous}`);
        ok = false;
      } else if (upTo.isZero()) {
        at(`${where}.upToAmount`, 'must be above 0');
        ok = false;
      }
      if (upTo !== null) previous = upTo;
    } else if (!last && t.upToAmount !== null) {
      at(`${where}.upToAmount`, 'missing: only the last tier is open-ended');
      ok = false;
    }
    const sub = (field: 'unitPrice' | 'flatPrice'): Decimal | null => {
      const v = t[field];
      if (v === undefined || v === null) return null;
      if (!isMapping(v)) {
        at(`${where}.${field}`, 'must be a mapping { amount: "..." }');
        ok = false;
        return null;
      }
      // A key ignored here would bill silently at another price: `unitPrice: { amount: "1", per: 1000 }` would
      // charge 1 per unit, a thousand times what was meant (per belongs to the price).
      for (const key of Object.keys(v)) {
        if (key !== 'amount') {
          at(`${where}.${field}.${key}`, `unknown field (a ${field} has only amount${key === 'per' ? '; per belongs to the price' : ''})`);
          ok = false;
        }
      }
      const a = amount(`${where}.${field}.amount`, v.amount);
      if (a === null) ok = false;
      return a;
    };
    const unitAmount = sub('unitPrice');
    const flatAmount = sub('flatPrice');
    if ((t.unitPrice === undefined || t.unitPrice === null) && (t.flatPrice === undefined || t.flatPrice === null)) {
      at(where, 'needs a unitPrice, a flatPrice or both');
      ok = false;
    }
    tiers.push({ upTo, unitAmount, flatAmount });
  });
  return ok ? tiers : null;
}

/** Parses a price file's text (YAML or JSON) and validates it against the meters. */
export function parsePriceFile(text: string, file: string, meters: Meter[]): PriceFile {
  let parsed: YamlFile;
  try {
    parsed = parseYamlFile(text);
  } catch (e) {
    throw new ConfigError(file, [yamlProblem(e)], 'price file');
  }
  const textOf: TextOf = (path) => {
    // A scalar node keeps its text as written in `source`.
    const node = parsed.document.getIn(path, true) as { source?: unknown } | undefined;
    return typeof node?.source === 'string' ? node.source : null;
  };
  return validatePrices(parsed.value, file, meters, parsed.lineOf, textOf);
}
