/**
 * The ClickHouse store (scale-out): the same Store as SQLite, on a ClickHouse server (18.16 and later), over HTTP,
 * with the same answers. All ClickHouse SQL of the project lives here.
 *
 * SQL text: 18.16 has no query parameters, so every string that reaches SQL goes through one function,
 * `sqlString`, every number through `sqlInt`, and database names are validated (`sqlIdent`). Event
 * rows travel as RowBinary (binary, length-prefixed): no event text is ever parsed as SQL or as a text format.
 *
 * Values follow the value semantics of spec-canonical.md: numbers are exact decimals, never doubles. A store
 * receives canonical `data` (every number a plain exact decimal literal); the reader below canonicalises every
 * number it reads anyway (`Decimal.parse(text).toString()`), so data of any spelling gives the spec's answers.
 *
 * Tables (database from the URL, created on first use, schema version in `meter_meta`, now 2):
 * - `events`: one row per stored copy, MergeTree ORDER BY (type, subject, time_ms), times as epoch ms Int64:
 *     k, source, id: the dedupe key (53-bit hash of source and id) and the two strings it hashes;
 *     type, subject, time_ms, data: the event (data as the compact JSON text it came with, NULL when absent);
 *     fp: the content fingerprint (conflicting duplicates); ingested_ms, run, seq: when, by which writer (a
 *               random id per process) and in which order the copy was stored (first copy, LATEST ties).
 *   Besides `data`, each row carries `data` read at ingest (flattenData: first of duplicate keys, escapes
 *   undone, numbers canonical), in parallel arrays, so meters defined later read values and dimensions by exact
 *   path whatever the JSON looked like:
 *     jp/js/jk: every addressable path ($.a, $.a.b, $.a[0]); its text as a group-by, filter and UNIQUE_COUNT
 *               value (a string its value, a number its canonical decimal, `true`/`false`, an object or array
 *               its JSON text up to MAX_NODE_TEXT, null ''); and its kind (0 null, 1 scalar, 2 object or array);
 *     np/nt/nk/ni/nf/nx: every path holding a usable value (a number, or a numeric string, whose canonical text
 *               has at most MAX_NUMBER_TEXT characters); its canonical decimal text (what sums add and what MIN,
 *               MAX and LATEST show); its exact order key (orderKeyOfCanonical: strings whose byte order is the
 *               numbers' order, what argMin/argMax compare); its integer part and 18-digit fraction as Int64s
 *               (exact Decimal128 sums in SQL; nx = 0 when they cannot hold it: then its text is summed in JS).
 * - `event_keys`: (k, source, id, fp, order) sorted by k, filled by a materialized view: the dedupe lookups.
 * - `dropped`: copies that lost a race between concurrent writers; `batches`: open/closed marks of write groups.
 * A store of schema version 1 (doubles' texts and IEEE bits in place of nt/nk, SQLite's REAL texts in js) is
 * upgraded in place by the first command that opens it for writing (see upgrade); read-only commands refuse it.
 *
 * Integer arithmetic in SQL: 18.16 types a literal by its value and an operation's result by its operands
 * (`Int64 % 60000` is an Int16), so every literal of the window arithmetic and of the time bounds is an explicit
 * Int64 (see i64 and clickhouseDialect). A query without matching events gives no row (HAVING count() > 0:
 * without GROUP BY, an aggregate over no rows is still one row).
 *
 * Dedupe: each batch's keys are looked up (and compared by source and id, so a hash collision never loses an
 * event); duplicates and conflicting duplicates are classified against the first stored copy, as in SQLite, and
 * only new events are inserted. The first copy is the one with the least (ingested_ms, run, seq).
 *
 * Commits: the rows of a write group (the events between two commits) are streamed into one INSERT while the
 * group fills and become visible when it ends (one block). A failed or closed-without-commit group is abandoned
 * by ending the INSERT mid-row, which the server rejects whole. A writer killed mid-INSERT (or a cut connection)
 * makes the server keep the complete rows it received: those events are stored but were never reported;
 * running the same input again finishes the batch (re-ingesting is idempotent).
 *
 * Several writers at once: two processes may both find a key absent and both insert it. Each writer marks its
 * group open before any row can be visible; after inserting, if another writer's group overlapped its own, it
 * checks its keys again, records every copy but the first in `dropped` (counting its own losing copies as
 * duplicates) and marks the group closed. Reads exclude `dropped`; while any group is open (a writer at work,
 * or one that died), reads deduplicate over all keys instead, so every query counts each (source, id) once at
 * any time. `meter ingest` closes groups left open for ten minutes by recording their losers. Per-run summaries
 * may count a raced copy as inserted in both runs; the stored data and every query stay exact. This needs an
 * acknowledged insert to be visible to the next query (one server; not Distributed tables, whose inserts are
 * asynchronous).
 *
 * Durability: a commit returns once the server has written the part (ClickHouse does not fsync by default);
 * power-loss durability comes from the server's configuration and replication, not from meter.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createClient, ClickHouseLogLevel, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import { contentFingerprint, fingerprintOf, type UsageEvent } from '../core/event.js';
import { canonicalOrSame } from '../core/json.js';
import { Decimal } from '../core/decimal.js';
import { pathSteps } from '../core/meter.js';
import { StoreError, UsageError } from '../errors.js';
import { windowKeySql, type WindowDialect } from './sql-dialect.js';
import {
  RowStatus,
  type AggregateRow,
  type Dimension,
  type EventFilter,
  type MeterQuery,
  type Store,
  type StoredEvent,
  type StoreStats,
  type SubjectSummary,
  type WriteOutcome,
} from './store.js';

export const CLICKHOUSE_SCHEMA_VERSION = 2;
export const DEFAULT_HTTP_PORT = 8123;
export const DEFAULT_DATABASE = 'meter';
/** A write group older than this is committed at the end of the next call, so no INSERT stays open long. */
const GROUP_MAX_MS = 20_000;
/** Batches open longer than this are taken for writers that died; `meter ingest` closes them. */
const STALE_BATCH_SECONDS = 600;
/** Object and array texts longer than this are not kept as group-by values (grouping by them shows empty). */
export const MAX_NODE_TEXT = 65_536;

// ---------------------------------------------------------------------------------------------------------------
// SQL text: the one audited escaping function, numbers and identifiers.

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
 * control characters that ClickHouse's parser treats specially written as escapes. The only way text (user input,
 * event content, JSON paths) enters SQL in this module; valid for queries and for VALUES data.
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

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** A validated, quoted identifier (database names come from the URL). */
export function sqlIdent(name: string): string {
  if (!IDENTIFIER.test(name)) {
    throw new UsageError(`ClickHouse database "${name}": use letters, digits and _ (not starting with a digit), at most 64`);
  }
  return '`' + name + '`';
}

// ---------------------------------------------------------------------------------------------------------------
// The URL.

export interface ClickHouseTarget {
  /** http://host:port for the client. */
  httpUrl: string;
  host: string;
  port: number;
  username: string;
  password: string;
  database: string;
  /** The URL without the password, for messages. */
  location: string;
}

/**
 * Parses `clickhouse://[user[:password]@]host[:port]/database` (port: the HTTP port, default 8123; database
 * default `meter`). The password may also come from METER_CLICKHOUSE_PASSWORD (the URL's wins).
 */
export function parseClickHouseUrl(spec: string, env: NodeJS.ProcessEnv = process.env): ClickHouseTarget {
  let u: URL;
  try {
    u = new URL(spec);
  } catch {
    throw new UsageError(`--db ${redact(spec)}: not a URL; use clickhouse://[user[:password]@]host[:port]/database`);
  }
  if (u.protocol.toLowerCase() !== 'clickhouse:') throw new UsageError(`--db ${redact(spec)}: the scheme must be clickhouse://`);
  if (u.hostname === '') throw new UsageError(`--db ${redact(spec)}: no host; use clickhouse://host:8123/database`);
  if (u.search !== '' || u.hash !== '') throw new UsageError(`--db ${redact(spec)}: no ?query or #fragment is understood`);
  const port = u.port === '' ? DEFAULT_HTTP_PORT : Number(u.port);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new UsageError(`--db ${redact(spec)}: bad port`);
  const pathParts = u.pathname.split('/').filter((p) => p !== '');
  if (pathParts.length > 1) throw new UsageError(`--db ${redact(spec)}: the path must be one database name`);
  let database = DEFAULT_DATABASE;
  if (pathParts.length === 1) {
    try {
      database = decodeURIComponent(pathParts[0]!);
    } catch {
      throw new UsageError(`--db ${redact(spec)}: bad database name`);
    }
  }
  sqlIdent(database);
  const dec = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new UsageError(`--db ${redact(spec)}: bad %-escape in the user or password`);
    }
  };
  const username = u.username === '' ? 'default' : dec(u.username);
  const password = u.password !== '' ? dec(u.password) : env.METER_CLICKHOUSE_PASSWORD ?? '';
  const host = u.hostname;
  const user = u.username === '' ? '' : `${u.username}@`;
  return {
    httpUrl: `http://${host}:${port}`,
    host,
    port,
    username,
    password,
    database,
    location: `clickhouse://${user}${host}:${port}/${database}`,
  };
}

/** The spec with any password replaced, for error messages. */
export function redact(spec: string): string {
  return spec.replace(/^([a-z]+:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}

// ---------------------------------------------------------------------------------------------------------------
// Flattening `data` at ingest.

/** Keys a meter path can name (see JSON_PATH in core/meter.ts): others are never looked up, so not stored. */
const PATH_KEY = /^[^.[\]"'\\\s\u0000-\u001f]+$/;

/**
 * One event's data, flattened (see the module comment). Integers are numbers when safe, else decimal text
 * (written as 64-bit on the wire).
 */
export interface FlatData {
  /** How many entries of jp/js/jk, and of the numeric arrays, are in use (the arrays are reused). */
  jn: number;
  nn: number;
  jp: string[];
  js: string[];
  jk: number[];
  np: string[];
  nt: string[];
  nk: string[];
  ni: Array<number | string>;
  nf: Array<number | string>;
  nx: number[];
}

export function emptyFlat(): FlatData {
  return { jn: 0, nn: 0, jp: [], js: [], jk: [], np: [], nt: [], nk: [], ni: [], nf: [], nx: [] };
}

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

/** A decimal integer text as a number when it is safe, else kept as text. */
function intValue(text: string): number | string {
  return text.length <= 15 ? Number(text) : Number.isSafeInteger(Number(text)) ? Number(text) : text;
}

/**
 * The split of a plain decimal text (no exponent, no trailing fraction zeros, `-` for negatives) into an integer
 * part and 18 fraction digits; null when it has more than 18 digits on either side (such values are summed
 * from their text).
 */
export function decimalParts(text: string): { int: number | string; frac: number | string } | null {
  const neg = text.charCodeAt(0) === 45; // '-'
  const dot = text.indexOf('.');
  const ip = text.slice(neg ? 1 : 0, dot < 0 ? text.length : dot);
  const fr = dot < 0 ? '' : text.slice(dot + 1);
  if (ip.length > 18 || fr.length > 18) return null;
  const sign = neg ? '-' : '';
  const f = fr === '' ? '0' : fr.padEnd(18, '0').replace(/^0+(?=\d)/, '');
  return { int: ip === '0' ? 0 : intValue(sign + ip), frac: f === '0' ? 0 : intValue(sign + f) };
}

/** A canonical decimal text (what the spec's canonical data holds): checked so that it is used without parsing. */
const CANONICAL_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d*[1-9])?$/;
/** Strings that are usable meter values when their decimal is (the spec's pattern). */
const NUMERIC_STRING = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
/** Longest canonical text of a usable value (the spec). */
export const MAX_NUMBER_TEXT = 1000;

/**
 * The canonical decimal text of a JSON number literal or a numeric string (`1.50` -> `1.5`, `1e3` -> `1000`,
 * `-0` -> `0`); null when it is no finite decimal. A canonical literal is its own text.
 */
export function canonicalNumber(text: string): string | null {
  if (text !== '-0' && CANONICAL_NUMBER.test(text)) return text;
  return Decimal.parse(text)?.toString() ?? null;
}

/**
 * Reads `data` (its stored JSON text, compact) as the spec reads it: paths as `$.a.b` / `$.a[0]`, the first of
 * duplicate keys, escaped keys and strings unescaped, every number as its canonical decimal text (whatever its
 * spelling in the stored text: old stores and direct writers may hold other spellings), objects and arrays as
 * their text.
 */
export function flattenData(text: string | null, into: FlatData = emptyFlat()): FlatData {
  into.jn = into.nn = 0;
  if (text !== null) new DataScanner(text, into).top();
  return into;
}

const QUOTE = 34, BACKSLASH = 92, LBRACE = 123, RBRACE = 125, LBRACKET = 91, RBRACKET = 93, COMMA = 44;

class DataScanner {
  private i = 0;
  constructor(
    private readonly t: string,
    private readonly f: FlatData,
  ) {}

  top(): void {
    if (this.t.charCodeAt(0) !== LBRACE) return;
    this.object('$');
  }

  /** A string at i (the opening quote): its value; i moves past it. */
  private string(): string {
    const t = this.t;
    const start = this.i;
    let escaped = false;
    let j = start + 1;
    for (;;) {
      const c = t.charCodeAt(j);
      if (c === BACKSLASH) {
        escaped = true;
        j += 2;
      } else if (c === QUOTE) break;
      else if (Number.isNaN(c)) throw new Error('unterminated string in data');
      else j++;
    }
    this.i = j + 1;
    return escaped ? (JSON.parse(t.slice(start, j + 1)) as string) : t.slice(start + 1, j);
  }

  /** Moves i past the value at i. */
  private skip(): void {
    const t = this.t;
    const c = t.charCodeAt(this.i);
    if (c === QUOTE) {
      this.string();
      return;
    }
    if (c === LBRACE || c === LBRACKET) {
      let depth = 0;
      for (let j = this.i; j < t.length; j++) {
        const d = t.charCodeAt(j);
        if (d === QUOTE) {
          this.i = j;
          this.string();
          j = this.i - 1;
        } else if (d === LBRACE || d === LBRACKET) depth++;
        else if (d === RBRACE || d === RBRACKET) {
          if (--depth === 0) {
            this.i = j + 1;
            return;
          }
        }
      }
      throw new Error('unterminated object in data');
    }
    let j = this.i;
    while (j < t.length) {
      const d = t.charCodeAt(j);
      if (d === COMMA || d === RBRACE || d === RBRACKET) break;
      j++;
    }
    this.i = j;
  }

  private object(path: string): void {
    const t = this.t;
    this.i++; // {
    if (t.charCodeAt(this.i) === RBRACE) {
      this.i++;
      return;
    }
    let seen: string[] | Set<string> | null = null;
    for (;;) {
      const key = this.string();
      this.i++; // :
      let dup = false;
      if (seen === null) seen = [key];
      else if (Array.isArray(seen)) {
        dup = seen.includes(key);
        if (!dup) {
          seen.push(key);
          if (seen.length > 16) seen = new Set(seen);
        }
      } else {
        dup = seen.has(key);
        seen.add(key);
      }
      // The first of duplicate keys counts (the spec; canonical data has none); a key a meter path cannot name is
      // never looked up.
      if (dup || !PATH_KEY.test(key)) this.skip();
      else this.value(path + '.' + key);
      if (t.charCodeAt(this.i) === COMMA) this.i++;
      else {
        this.i++; // }
        return;
      }
    }
  }

  private array(path: string): void {
    const t = this.t;
    this.i++; // [
    if (t.charCodeAt(this.i) === RBRACKET) {
      this.i++;
      return;
    }
    for (let n = 0; ; n++) {
      this.value(`${path}[${n}]`);
      if (t.charCodeAt(this.i) === COMMA) this.i++;
      else {
        this.i++; // ]
        return;
      }
    }
  }

  private value(path: string): void {
    const f = this.f, t = this.t;
    const at = f.jn++;
    f.jp[at] = path;
    const c = t.charCodeAt(this.i);
    if (c === QUOTE) {
      const v = this.string();
      f.js[at] = v;
      f.jk[at] = 1;
      // A numeric string counts as its decimal; its group-by text stays the string.
      if (NUMERIC_STRING.test(v)) {
        const exact = Decimal.parse(v)?.toString();
        if (exact !== undefined && exact.length <= MAX_NUMBER_TEXT) addNumber(f, path, exact);
      }
    } else if (c === LBRACE || c === LBRACKET) {
      const start = this.i;
      f.js[at] = '';
      f.jk[at] = 2;
      if (c === LBRACE) this.object(path);
      else this.array(path);
      if (this.i - start <= MAX_NODE_TEXT) f.js[at] = t.slice(start, this.i);
    } else if (c === 116 /* t */) {
      this.i += 4;
      f.js[at] = 'true';
      f.jk[at] = 1;
    } else if (c === 102 /* f */) {
      this.i += 5;
      f.js[at] = 'false';
      f.jk[at] = 1;
    } else if (c === 110 /* n */) {
      this.i += 4;
      f.js[at] = '';
      f.jk[at] = 0;
    } else {
      const start = this.i;
      this.skip();
      const lit = t.slice(start, this.i);
      f.jk[at] = 1;
      // The number's value is its canonical decimal: its group-by and UNIQUE_COUNT text, and what sums add.
      const exact = canonicalNumber(lit);
      f.js[at] = exact ?? lit;
      if (exact !== null && exact.length <= MAX_NUMBER_TEXT) addNumber(f, path, exact);
    }
  }
}

/**
 * Adds a usable number by its canonical decimal text `exact`: what sums add and MIN, MAX and LATEST show, with
 * its order key and, when it fits, its split into an integer part and 18 fraction digits.
 */
function addNumber(f: FlatData, path: string, exact: string): void {
  const n = f.nn++;
  f.np[n] = path;
  f.nt[n] = exact;
  f.nk[n] = orderKeyOfCanonical(exact);
  if (exact.length <= 15 && exact.indexOf('.') < 0) {
    // The common case, a small integer: no text splitting.
    f.ni[n] = Number(exact);
    f.nf[n] = 0;
    f.nx[n] = 1;
    return;
  }
  const parts = decimalParts(exact);
  f.ni[n] = parts ? parts.int : 0;
  f.nf[n] = parts ? parts.frac : 0;
  f.nx[n] = parts ? 1 : 0;
}

/** The canonical form of a meter path as flattenData writes it (`$.a[00]` -> `$.a[0]`). */
export function canonicalPath(path: string): string {
  let out = '$';
  for (const s of pathSteps(path)) out += typeof s === 'number' ? `[${s}]` : `.${s}`;
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// RowBinary: how event rows travel to the server. Binary and length-prefixed: no text of an event is ever parsed
// as SQL or as a text format, so event content needs no escaping on this path.

const TWO32 = 4294967296;

/** A growing buffer of RowBinary values. */
export class RowBinaryWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(size = 1 << 16) {
    this.buf = Buffer.allocUnsafe(size);
  }

  get length(): number {
    return this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  varint(n: number): void {
    this.ensure(10);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.pos++] = n;
  }

  /** A 64-bit integer (Int64 or UInt64 column) from a safe integer, a bigint or decimal text. */
  int64(v: number | string | bigint): void {
    this.ensure(8);
    const b = this.buf;
    let p = this.pos;
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) throw new RangeError(`not a safe integer: ${v}`);
      const hi = Math.floor(v / TWO32);
      const lo = v - hi * TWO32;
      b[p++] = lo & 0xff;
      b[p++] = (lo >>> 8) & 0xff;
      b[p++] = (lo >>> 16) & 0xff;
      b[p++] = lo >>> 24;
      b[p++] = hi & 0xff;
      b[p++] = (hi >>> 8) & 0xff;
      b[p++] = (hi >>> 16) & 0xff;
      b[p++] = (hi >>> 24) & 0xff;
    } else {
      const big = BigInt(v);
      if (big < 0n) b.writeBigInt64LE(big, p);
      else b.writeBigUInt64LE(big, p);
    }
    this.pos += 8;
  }

  /**
   * A string: UTF-8 with a varint length. ASCII is copied by this loop (faster than Buffer#write for the short
   * strings of events); other text goes through Buffer#write.
   */
  str(s: string): void {
    const n = s.length;
    if (n < 16384) {
      const head = n < 128 ? 1 : 2;
      this.ensure(head + n);
      const b = this.buf;
      const start = this.pos + head;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[start + i] = c;
      }
      if (i === n) {
        if (head === 1) b[this.pos] = n;
        else {
          b[this.pos] = (n & 0x7f) | 0x80;
          b[this.pos + 1] = n >>> 7;
        }
        this.pos = start + n;
        return;
      }
    }
    const len = Buffer.byteLength(s, 'utf8');
    this.varint(len);
    this.ensure(len);
    this.buf.write(s, this.pos, len, 'utf8');
    this.pos += len;
  }

  strs(a: string[], count = a.length): void {
    this.varint(count);
    for (let i = 0; i < count; i++) this.str(a[i]!);
  }

  u8s(a: number[], count = a.length): void {
    this.varint(count);
    this.ensure(count);
    for (let i = 0; i < count; i++) this.buf[this.pos++] = a[i]!;
  }

  int64s(a: Array<number | string>, count = a.length): void {
    this.varint(count);
    for (let i = 0; i < count; i++) this.int64(a[i]!);
  }

  /** A view of written bytes (valid until this writer is written again). */
  view(start: number, end: number): Buffer {
    return this.buf.subarray(start, end);
  }

  /** The bytes written (a copy). */
  take(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Errors.

/** The ClickHouse error code in a message (18.16's errors lack the suffix the client parses). */
export function clickHouseCode(e: unknown): number | null {
  const msg = (e as Error)?.message ?? '';
  const m = /Code: (\d+)/.exec(msg);
  return m ? Number(m[1]) : null;
}

function describeError(t: ClickHouseTarget, e: unknown, what: string): StoreError {
  if (e instanceof StoreError) return e;
  const err = e as NodeJS.ErrnoException;
  let msg = String(err?.message ?? e).split('\n')[0]!;
  if (t.password) msg = msg.split(t.password).join('***');
  msg = msg.replace(/, e\.what\(\) = DB::Exception$/, '').replace(/e\.displayText\(\) = DB::Exception: /, '');
  const code = err?.code ?? '';
  const where = `${t.location}`;
  if (code === 'ECONNREFUSED' || /ECONNREFUSED/.test(msg)) {
    return new StoreError(`${where}: cannot connect to ClickHouse at ${t.host}:${t.port} (is it running? scripts/clickhouse.sh start starts a local one)`, e);
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new StoreError(`${where}: unknown host ${t.host}`, e);
  if (code === 'ECONNRESET' || code === 'EPIPE' || /socket hang up/.test(msg)) {
    return new StoreError(`${where}: the connection to ClickHouse broke during ${what} (${msg}); nothing of an unacknowledged batch is counted, run again`, e);
  }
  if (/Timeout/i.test(msg) && clickHouseCode(e) === null) return new StoreError(`${where}: ClickHouse did not answer in time during ${what}`, e);
  const ch = clickHouseCode(e);
  if (ch === 516 || ch === 192 || ch === 193 || ch === 194) {
    return new StoreError(`${where}: ClickHouse refused user ${t.username} (${msg}); check the URL's user and password or METER_CLICKHOUSE_PASSWORD`, e);
  }
  if (ch === 164 || ch === 497) return new StoreError(`${where}: user ${t.username} may not do ${what} (${msg})`, e);
  if (ch === 241) return new StoreError(`${where}: ClickHouse ran out of memory during ${what} (${msg})`, e);
  return new StoreError(`${where}: ${what} failed: ${msg}`, e);
}

// ---------------------------------------------------------------------------------------------------------------
// Query SQL.

/**
 * An Int64 literal. 18.16 types a literal by its value (60000 is a UInt16) and an operation by its operands'
 * types (`Int64 % UInt16` is an Int16, so 32768 and more wrap to negatives), so every literal of the window
 * arithmetic is made an Int64: no result can be narrower than its operands.
 */
const i64 = (digits: string): string => `toInt64(${digits})`;

export const clickhouseDialect: WindowDialect = {
  cases: (branches, otherwise) => `multiIf(${branches.map(([c, v]) => `${c}, ${v}`).join(', ')}, ${otherwise})`,
  greatest: (a, b) => `greatest(toInt64(${a}), toInt64(${b}))`,
  intDiv: (a, b) => `intDiv(toInt64(${a}), toInt64(${b}))`,
  mod: (a, b) => `modulo(toInt64(${a}), toInt64(${b}))`,
  int: i64,
  // yyyymm of a day number by integer arithmetic (civil_from_days), valid for every year from 0001 to 9999;
  // every operand an Int64 (see i64).
  monthOfDay: (day) => {
    const n = (x: number) => i64(String(x));
    const div = (a: string, b: number) => `intDiv(${a}, ${n(b)})`;
    const z = `(toInt64(${day}) + ${n(719468)})`;
    const doe = `(${z} - ${div(z, 146097)} * ${n(146097)})`;
    const yoe = div(`(${doe} - ${div(doe, 1460)} + ${div(doe, 36524)} - ${div(doe, 146096)})`, 365);
    const doy = `(${doe} - (${n(365)} * ${yoe} + ${div(yoe, 4)} - ${div(yoe, 100)}))`;
    const mp = div(`(${n(5)} * ${doy} + ${n(2)})`, 153);
    const m = `(${mp} + multiIf(${mp} < ${n(10)}, ${n(3)}, ${n(-9)}))`;
    const y = `(${yoe} + ${div(z, 146097)} * ${n(400)} + multiIf(${m} <= ${n(2)}, ${n(1)}, ${n(0)}))`;
    return `(${y} * ${n(100)} + ${m})`;
  },
};

/** Text of a dimension (empty when missing or null): a path into data, or the type column. */
function dimensionSql(dim: Dimension): string {
  if ('column' in dim) return dim.column;
  return `js[indexOf(jp, ${sqlString(canonicalPath(dim.path))})]`;
}

/** How reads exclude copies that are not the first of their (source, id). */
export type DedupeMode = 'none' | 'dropped' | 'full';

/** The WHERE condition keeping only first copies, over the store's tables (db: quoted database). */
export function dedupeCondition(db: string, mode: DedupeMode): string | null {
  if (mode === 'none') return null;
  const dropped = `SELECT run, seq FROM ${db}.dropped`;
  if (mode === 'dropped') return `(run, seq) NOT IN (${dropped})`;
  return `(run, seq) NOT IN (${dropped} UNION ALL ${losersSql(db)})`;
}

/** (run, seq) of every stored copy that is not the first of its (source, id): a scan of all keys. */
export function losersSql(db: string): string {
  return (
    `SELECT tupleElement(x, 2) AS run, tupleElement(x, 3) AS seq FROM (SELECT arrayJoin(arrayPopFront(arraySort(groupArray(` +
    `(ingested_ms, run, seq))))) AS x FROM ${db}.event_keys WHERE k IN (SELECT k FROM ${db}.event_keys GROUP BY k HAVING count() > 1) ` +
    `GROUP BY k, source, id HAVING count() > 1)`
  );
}

/** Builds the SQL of a meter query (exported for tests that look at it). Row columns: see readRow. */
export function buildAggregateSql(q: MeterQuery, db: string, dedupe: DedupeMode): string {
  const where: string[] = [];
  const m = q.meter;
  if (m.eventType !== null) where.push(`type = ${sqlString(m.eventType)}`);
  if (q.fromMs !== undefined) where.push(`time_ms >= ${i64(sqlInt(q.fromMs))}`);
  if (q.toMs !== undefined) where.push(`time_ms < ${i64(sqlInt(q.toMs))}`);
  if (q.subjects.length > 0) where.push(`subject IN (${q.subjects.map(sqlString).join(', ')})`);
  for (const f of q.filters) where.push(`${dimensionSql(f.dimension)} = ${sqlString(f.value)}`);
  const dd = dedupeCondition(db, dedupe);
  if (dd) where.push(dd);
  const cols: string[] = [];
  const keys: string[] = [];
  if (q.window) {
    cols.push(`${windowKeySql(q.window, 'time_ms', clickhouseDialect)} AS _w`);
    keys.push('_w');
  }
  if (q.perSubject) {
    cols.push('subject AS _s');
    keys.push('_s');
  }
  q.groupBy.forEach((g, i) => {
    cols.push(`${dimensionSql(g)} AS _g${i}`);
    keys.push(`_g${i}`);
  });
  let values: string[];
  if (m.aggregation === 'COUNT' || m.valueProperty === undefined) {
    values = ['toString(count())'];
  } else if (m.aggregation === 'UNIQUE_COUNT') {
    const i = `indexOf(jp, ${sqlString(canonicalPath(m.valueProperty))})`;
    values = [`toString(uniqExactIf(js[${i}], jk[${i}] = 1))`];
  } else {
    // The value's index in the numeric arrays, written out in each use (ClickHouse computes it once).
    const i = `indexOf(np, ${sqlString(canonicalPath(m.valueProperty))})`;
    // What MIN, MAX and LATEST show: the canonical decimal text, chosen by its exact order key.
    const shown = `nt[${i}]`;
    switch (m.aggregation) {
      case 'SUM':
      case 'AVG':
        values = [
          `toString(sumIf(toDecimal128(ni[${i}], 0), ${i} > 0 AND nx[${i}] = 1))`,
          `toString(sumIf(toDecimal128(nf[${i}], 0), ${i} > 0 AND nx[${i}] = 1))`,
          `groupArrayIf(nt[${i}], ${i} > 0 AND nx[${i}] = 0)`,
          `toString(countIf(${i} > 0))`,
        ];
        break;
      case 'MIN':
        values = [`argMinIf(${shown}, nk[${i}], ${i} > 0)`, `toString(countIf(${i} > 0))`];
        break;
      case 'MAX':
        values = [`argMaxIf(${shown}, nk[${i}], ${i} > 0)`, `toString(countIf(${i} > 0))`];
        break;
      case 'LATEST':
        // The value of the latest event that has one; equal times: the later stored copy (as SQLite's seq).
        values = [`argMax(${shown}, (${i} > 0, time_ms, ingested_ms, seq))`, `toString(countIf(${i} > 0))`];
        break;
      default:
        throw new Error(`unknown aggregation ${m.aggregation as string}`);
    }
  }
  const select = [...cols, ...values.map((v, i) => `${v} AS _v${i}`), 'min(time_ms) AS _t0', 'max(time_ms) AS _t1'];
  return (
    `SELECT ${select.join(', ')} FROM ${db}.events${where.length ? ' WHERE ' + where.join(' AND ') : ''}` +
    (keys.length ? ` GROUP BY ${keys.join(', ')}` : '') +
    // A group exists only if it has events: without GROUP BY an aggregate over no rows is still one row.
    ' HAVING count() > 0' +
    (keys.length ? ` ORDER BY ${keys.join(', ')}` : '')
  );
}

/** Exact SUM or AVG from the parts a query returns: integer-part sum, fraction sum (x 1e-18), texts, count. */
export function exactValue(agg: 'SUM' | 'AVG', intSum: string, fracSum: string, rest: string[], count: number): string | null {
  if (agg === 'AVG' && count === 0) return null;
  if (fracSum === '0' && rest.length === 0) {
    // The common case, integers only.
    if (agg === 'SUM') return /^(?:0|-?[1-9]\d*)$/.test(intSum) ? intSum : Decimal.parse(intSum)!.toString();
    return Decimal.parse(intSum)!.divide(count).toString();
  }
  let total = Decimal.parse(intSum)!.add(Decimal.parse(`${fracSum}e-18`)!);
  for (const t of rest) total = total.add(Decimal.parse(t)!);
  if (agg === 'SUM') return total.toString();
  return total.divide(count).toString();
}

// ---------------------------------------------------------------------------------------------------------------
// The store.

export const EVENT_COLUMNS = 'k, source, id, type, subject, time_ms, data, fp, ingested_ms, run, seq, jp, js, jk, np, nt, nk, ni, nf, nx';

/** One row of `events` in RowBinary, columns in EVENT_COLUMNS order. */
export function encodeEventRow(
  w: RowBinaryWriter,
  k: number | string,
  source: string,
  id: string,
  type: string,
  subject: string,
  timeMs: number | string,
  data: string | null,
  fp: number | string,
  ingestedMs: number | string,
  run: string,
  seq: number | string,
  f: FlatData,
): void {
  w.int64(k);
  w.str(source);
  w.str(id);
  w.str(type);
  w.str(subject);
  w.int64(timeMs);
  if (data === null) w.u8(1);
  else {
    w.u8(0);
    w.str(data);
  }
  w.int64(fp);
  w.int64(ingestedMs);
  w.int64(run);
  w.int64(seq);
  const j = f.jn, n = f.nn;
  w.strs(f.jp, j);
  w.strs(f.js, j);
  w.u8s(f.jk, j);
  w.strs(f.np, n);
  w.strs(f.nt, n);
  w.strs(f.nk, n);
  w.int64s(f.ni, n);
  w.int64s(f.nf, n);
  w.u8s(f.nx, n);
}

/** The events table (see the module comment); `ifNotExists` false makes creating it fail when it exists. */
function eventsTableSql(db: string, name: string, ifNotExists: boolean): string {
  return `CREATE TABLE ${ifNotExists ? 'IF NOT EXISTS ' : ''}${db}.${name} (
      k UInt64, source String, id String, type String, subject String, time_ms Int64, data Nullable(String),
      fp UInt64, ingested_ms Int64, run UInt64, seq UInt64,
      jp Array(String), js Array(String), jk Array(UInt8),
      np Array(String), nt Array(String), nk Array(String), ni Array(Int64), nf Array(Int64), nx Array(UInt8)
    ) ENGINE = MergeTree PARTITION BY toYYYYMM(toDateTime(intDiv(time_ms, 1000))) ORDER BY (type, subject, time_ms)`;
}

function eventKeysViewSql(db: string): string {
  return `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.event_keys_mv TO ${db}.event_keys AS
      SELECT k, source, id, fp, ingested_ms, run, seq FROM ${db}.events`;
}

/** The table a schema upgrade fills before it takes the place of `events` (its existence marks an upgrade under way). */
const UPGRADE_TABLE = 'events_upgrade';

function schemaSql(db: string): string[] {
  return [
    `CREATE DATABASE IF NOT EXISTS ${db}`,
    eventsTableSql(db, 'events', true),
    `CREATE TABLE IF NOT EXISTS ${db}.event_keys (
      k UInt64, source String, id String, fp UInt64, ingested_ms Int64, run UInt64, seq UInt64
    ) ENGINE = MergeTree ORDER BY k`,
    eventKeysViewSql(db),
    `CREATE TABLE IF NOT EXISTS ${db}.dropped (run UInt64, seq UInt64, at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY (run, seq)`,
    `CREATE TABLE IF NOT EXISTS ${db}.batches (run UInt64, batch UInt64, state UInt8, at DateTime DEFAULT now())
      ENGINE = MergeTree ORDER BY (run, batch)`,
    `CREATE TABLE IF NOT EXISTS ${db}.meter_meta (key String, value String, at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY key`,
  ];
}

interface KeyRow {
  key: string;
  src: string;
  eid: string;
  first_fp: string;
}

/** A key stored more than once: its copies as (ingested_ms, run, seq, fp), first first. */
interface RaceRow {
  key: string;
  src: string;
  eid: string;
  copies: Array<[string, string, string, string]>;
}

/** One write group: rows kept until the next commit, and its (source, id)s in parallel arrays. */
interface Group {
  /** The INSERT of the group's rows, streamed while the group fills; the rows become visible when it ends. */
  insert: { body: PassThrough; done: Promise<void>; error: unknown } | null;
  rows: number;
  /** Date.now() when the group began: groups are committed after GROUP_MAX_MS even without being asked. */
  openedMs: number;
  /** Key -> its latest entry; `next` chains entries of equal keys (hash collisions). */
  first: KeyIndex;
  next: number[];
  src: string[];
  eid: string[];
  fp: number[];
  seq: number[];
  /** The writeBatch call of the group and the index in it. */
  call: number[];
  index: number[];
  calls: number;
  batch: number;
  /** Server time (epoch s) before the group's first lookup. */
  startedAt: number;
}

function newGroup(batch: number, startedAt: number): Group {
  return { insert: null, rows: 0, openedMs: Date.now(), first: new KeyIndex(), next: [], src: [], eid: [], fp: [], seq: [], call: [], index: [], calls: 0, batch, startedAt };
}

/**
 * A map from 53-bit keys to entry numbers (open addressing on typed arrays): a Map keyed by such numbers boxes
 * every key, and groups hold hundreds of thousands.
 */
export class KeyIndex {
  private keys = new Float64Array(1024);
  private vals = new Int32Array(1024).fill(-1);
  private count = 0;

  get size(): number {
    return this.count;
  }

  private slot(k: number): number {
    const mask = this.keys.length - 1;
    let i = (Math.imul((k % 4294967296) | 0, 0x9e3779b1) ^ Math.floor(k / 4294967296)) & mask;
    while (this.vals[i] !== -1 && this.keys[i] !== k) i = (i + 1) & mask;
    return i;
  }

  get(k: number): number | undefined {
    const i = this.slot(k);
    return this.vals[i] === -1 ? undefined : this.vals[i];
  }

  has(k: number): boolean {
    return this.vals[this.slot(k)] !== -1;
  }

  set(k: number, v: number): void {
    let i = this.slot(k);
    if (this.vals[i] === -1) {
      if ((this.count + 1) * 2 > this.keys.length) {
        this.grow();
        i = this.slot(k);
      }
      this.count++;
      this.keys[i] = k;
    }
    this.vals[i] = v;
  }

  /** Every key. */
  allKeys(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.vals.length; i++) if (this.vals[i] !== -1) out.push(this.keys[i]!);
    return out;
  }

  private grow(): void {
    const { keys, vals } = this;
    this.keys = new Float64Array(keys.length * 2);
    this.vals = new Int32Array(keys.length * 2).fill(-1);
    this.count = 0;
    for (let i = 0; i < vals.length; i++) if (vals[i] !== -1) this.set(keys[i]!, vals[i]!);
  }
}

function findInGroup(g: Group, k: number, source: string, id: string): number {
  for (let j = g.first.get(k) ?? -1; j >= 0; j = g.next[j]!) if (g.src[j] === source && g.eid[j] === id) return j;
  return -1;
}

function addToGroup(g: Group, k: number, source: string, id: string, fp: number, seq: number, call: number, index: number): void {
  const j = g.src.length;
  g.next.push(g.first.get(k) ?? -1);
  g.first.set(k, j);
  g.src.push(source);
  g.eid.push(id);
  g.fp.push(fp);
  g.seq.push(seq);
  g.call.push(call);
  g.index.push(index);
}

export class ClickHouseStore implements Store {
  readonly location: string;
  /** Conflicts are told apart in SQL, by fingerprint. */
  readonly needsFingerprints = true;
  private readonly db: string;
  /** This process's writer id, so rows of concurrent writers differ. */
  private readonly run: string;
  private seq = 0;
  private batchNo = 0;
  private group: Group | null = null;
  /** Bytes per encoded row in the last batch, to size the next buffer. */
  private rowBytes = 256;
  private readonly scratch = emptyFlat();
  private dedupeMode: DedupeMode | null = null;
  /** Kept-alive connections for the key lookups (sent outside the client: it has no external data). */
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 2 });

  private constructor(
    private readonly target: ClickHouseTarget,
    private readonly client: ClickHouseClient,
  ) {
    this.location = target.location;
    this.db = sqlIdent(target.database);
    this.run = BigInt('0x' + randomBytes(8).toString('hex')).toString();
  }

  static async open(spec: string, opts: { readonly?: boolean }): Promise<Store> {
    const target = parseClickHouseUrl(spec);
    const client = createClient({
      url: target.httpUrl,
      username: target.username,
      password: target.password,
      request_timeout: 600_000,
      max_open_connections: 4,
      compression: { request: false, response: false },
      log: { level: ClickHouseLogLevel.OFF },
    });
    const store = new ClickHouseStore(target, client);
    try {
      await store.init(opts.readonly ?? false);
    } catch (e) {
      store.agent.destroy();
      await client.close().catch(() => {});
      throw describeError(target, e, 'opening the store');
    }
    return store;
  }

  // -- plumbing

  private async command(sql: string, what: string, settings: ClickHouseSettings = {}): Promise<void> {
    try {
      await this.client.command({ query: sql, clickhouse_settings: settings });
    } catch (e) {
      throw describeError(this.target, e, what);
    }
  }

  private async rows<T>(sql: string, what: string, settings: ClickHouseSettings = {}): Promise<T[]> {
    try {
      const rs = await this.client.query({ query: sql, format: 'JSONEachRow', clickhouse_settings: settings });
      return await rs.json<T>();
    } catch (e) {
      throw describeError(this.target, e, what);
    }
  }

  /**
   * Streams a query's rows as TabSeparated fields (unescaped), in batches: much cheaper than JSON for the large
   * results of meter queries. Every line must have `columns` fields and the answer must end with a newline, so an
   * error the server writes into an answer already under way is an error here too, never a cut result.
   */
  private async *tsv(sql: string, columns: number, what: string): AsyncGenerator<string[][]> {
    let stream: NodeJS.ReadableStream;
    try {
      const r = await this.client.exec({ query: `${sql} FORMAT TabSeparated` });
      stream = r.stream;
    } catch (e) {
      throw describeError(this.target, e, what);
    }
    const decoder = new StringDecoder('utf8');
    let rest = '';
    try {
      for await (const chunk of stream) {
        const text = rest + decoder.write(chunk as Buffer);
        const last = text.lastIndexOf('\n');
        if (last < 0) {
          rest = text;
          continue;
        }
        rest = text.slice(last + 1);
        yield parseTsv(text.slice(0, last), columns);
      }
      rest += decoder.end();
      if (rest !== '') throw new Error(`unexpected end of the answer: ${rest.slice(0, 200)}`);
    } catch (e) {
      throw describeError(this.target, e, what);
    } finally {
      (stream as Readable).destroy?.();
    }
  }

  private async insertValues(table: string, columns: string, rows: string[], what: string): Promise<void> {
    if (rows.length === 0) return;
    try {
      // VALUES text built with sqlString/sqlInt only; sent as the request body, in pieces.
      const pieces: string[] = [];
      for (let i = 0; i < rows.length; i += 2000) pieces.push(rows.slice(i, i + 2000).join(',') + (i + 2000 < rows.length ? ',' : ''));
      const r = await this.client.exec({
        query: `INSERT INTO ${this.db}.${table} (${columns}) FORMAT Values`,
        values: Readable.from(pieces),
      });
      await drain(r.stream);
    } catch (e) {
      throw describeError(this.target, e, what);
    }
  }

  private async init(readonly: boolean): Promise<void> {
    const exists = await this.rows<{ n: string }>(
      `SELECT toString(count()) AS n FROM system.tables WHERE database = ${sqlString(this.target.database)} AND name = 'meter_meta'`,
      'opening the store',
    );
    let version = Number(exists[0]?.n ?? 0) > 0 ? await this.schemaVersion() : 0;
    if (version > CLICKHOUSE_SCHEMA_VERSION) {
      throw new StoreError(`${this.location}: store schema version ${version} is newer than this meter (${CLICKHOUSE_SCHEMA_VERSION}); upgrade meter`);
    }
    if (version > 0 && version < CLICKHOUSE_SCHEMA_VERSION) {
      if (readonly) {
        throw new StoreError(
          `${this.location}: the store has schema version ${version}, older than this meter's (${CLICKHOUSE_SCHEMA_VERSION}); ` +
            `run \`meter ingest --db ${this.location}\` (no input needed: < /dev/null) once to upgrade it in place`,
        );
      }
      await this.upgrade(version);
      version = CLICKHOUSE_SCHEMA_VERSION;
    }
    if (version < CLICKHOUSE_SCHEMA_VERSION) {
      if (readonly) throw new StoreError(`${this.location}: no meter store in this database yet (run \`meter ingest\` first, or pass --db)`);
      for (const sql of schemaSql(this.db)) await this.command(sql, 'creating the tables');
      // Last, so a version row means every table exists (concurrent creators write the same row: harmless).
      await this.command(
        `INSERT INTO ${this.db}.meter_meta (key, value) VALUES ('schema_version', ${sqlString(String(CLICKHOUSE_SCHEMA_VERSION))})`,
        'writing the schema version',
      );
    }
    if (!readonly) await this.closeStaleBatches();
  }

  /** The version in `meter_meta` (which exists). */
  private async schemaVersion(): Promise<number> {
    const v = await this.rows<{ v: string }>(
      `SELECT toString(max(toUInt32OrZero(value))) AS v FROM ${this.db}.meter_meta WHERE key = 'schema_version'`,
      'reading the schema version',
    );
    return Number(v[0]?.v ?? 0);
  }

  /**
   * Upgrades a version 1 store in place, before any write of this run. Version 1 kept each number's double (its
   * text for MIN/MAX/LATEST and its IEEE bits as order key, SQLite's REAL rendering as group-by text); version 2
   * keeps exact canonical decimals and exact order keys (see the module comment). Every stored row is read,
   * flattened again in JS from its `data`, and written to UPGRADE_TABLE, which then takes the place of `events`
   * (RENAME TABLE); keys, runs and seqs are kept, so `event_keys`, `dropped` and `batches` stay valid as they are.
   * Creating UPGRADE_TABLE fails while another meter upgrades the same store, so one of them does it.
   */
  private async upgrade(from: number): Promise<void> {
    if (from !== 1) throw new StoreError(`${this.location}: cannot upgrade a store of schema version ${from}`);
    const db = this.db;
    try {
      await this.client.command({ query: eventsTableSql(db, UPGRADE_TABLE, false) });
    } catch (e) {
      if (clickHouseCode(e) === 57) {
        throw new StoreError(
          `${this.location}: another meter is upgrading this store to schema version ${CLICKHOUSE_SCHEMA_VERSION}; run again when it is done ` +
            `(if no meter is running, an upgrade was interrupted: DROP TABLE ${db}.${UPGRADE_TABLE} and run again)`,
        );
      }
      throw describeError(this.target, e, 'upgrading the store');
    }
    const what = `upgrading the store to schema version ${CLICKHOUSE_SCHEMA_VERSION}`;
    // Another meter may have finished an upgrade between our reading the version and creating the table.
    if ((await this.schemaVersion()) >= CLICKHOUSE_SCHEMA_VERSION) {
      await this.command(`DROP TABLE IF EXISTS ${db}.${UPGRADE_TABLE}`, what);
      return;
    }
    const body = new PassThrough();
    body.on('error', () => {});
    const done = this.client
      .exec({ query: `INSERT INTO ${db}.${UPGRADE_TABLE} (${EVENT_COLUMNS}) FORMAT RowBinary`, values: body })
      .then((r) => drain(r.stream));
    let failed: unknown;
    done.catch((e: unknown) => {
      failed = e ?? new Error('insert failed');
      body.destroy();
    });
    let copied = 0, refingerprinted = 0;
    const flat = emptyFlat();
    try {
      const sql =
        `SELECT toString(k), source, id, type, subject, toString(time_ms), isNull(data), ifNull(data, ''), toString(fp), ` +
        `toString(ingested_ms), toString(run), toString(seq) FROM ${db}.events`;
      for await (const batch of this.tsv(sql, 12, what)) {
        const w = new RowBinaryWriter(1 << 16);
        for (const r of batch) {
          // Data written before canonical form becomes canonical, and its content fingerprint follows it, so that
          // a re-sent copy is still a duplicate.
          const old = r[6] === '1' ? null : r[7]!;
          const data = old === null ? null : canonicalOrSame(old);
          let fp = r[8]!;
          if (data !== old) {
            const time = Number(r[5]);
            if (fp === String(contentFingerprint(r[3]!, r[4]!, time, old))) fp = String(contentFingerprint(r[3]!, r[4]!, time, data));
            else if (fp === String(contentFingerprint(r[3]!, r[4]!, null, old))) fp = String(contentFingerprint(r[3]!, r[4]!, null, data));
            if (fp !== r[8]) refingerprinted++;
          }
          encodeEventRow(w, r[0]!, r[1]!, r[2]!, r[3]!, r[4]!, r[5]!, data, fp, r[9]!, r[10]!, r[11]!, flattenData(data, flat));
        }
        copied += batch.length;
        if (failed !== undefined) throw failed;
        if (!body.write(w.take())) await Promise.race([once(body, 'drain'), done]).catch(() => {});
      }
      body.end();
      await done;
      const n = await this.rows<{ a: string; b: string }>(
        `SELECT toString((SELECT count() FROM ${db}.events)) AS a, toString((SELECT count() FROM ${db}.${UPGRADE_TABLE})) AS b`,
        what,
      );
      if (n[0]!.a !== String(copied) || n[0]!.b !== String(copied)) {
        throw new Error(`rows changed during the upgrade (${n[0]!.a} stored, ${copied} read, ${n[0]!.b} written); is an older meter writing?`);
      }
    } catch (e) {
      body.destroy();
      await done.catch(() => {});
      await this.command(`DROP TABLE IF EXISTS ${db}.${UPGRADE_TABLE}`, what).catch(() => {});
      throw describeError(this.target, e, what);
    }
    // The swap. The view that fills event_keys is made again over the new `events` (a server may tie a view to
    // the table it was created on, not to its name); the copied rows' keys are in event_keys already.
    const old = `events_v1_${this.run}`;
    await this.command(`RENAME TABLE ${db}.events TO ${db}.${old}, ${db}.${UPGRADE_TABLE} TO ${db}.events`, what);
    if (refingerprinted > 0) {
      // Fingerprints that followed their data into canonical form: the dedupe look-ups are made again from events.
      const keys = `event_keys_v1_${this.run}`;
      await this.command(`CREATE TABLE ${db}.event_keys_upgrade AS ${db}.event_keys`, what);
      await this.command(`INSERT INTO ${db}.event_keys_upgrade SELECT k, source, id, fp, ingested_ms, run, seq FROM ${db}.events`, what);
      await this.command(`RENAME TABLE ${db}.event_keys TO ${db}.${keys}, ${db}.event_keys_upgrade TO ${db}.event_keys`, what);
      await this.command(`DROP TABLE IF EXISTS ${db}.${keys}`, what);
    }
    await this.command(`DROP TABLE IF EXISTS ${db}.event_keys_mv`, what);
    await this.command(eventKeysViewSql(db), what);
    await this.command(
      `INSERT INTO ${db}.meter_meta (key, value) VALUES ('schema_version', ${sqlString(String(CLICKHOUSE_SCHEMA_VERSION))})`,
      what,
    );
    await this.command(`DROP TABLE IF EXISTS ${db}.${old}`, what);
  }

  // -- writing

  async writeBatch(events: UsageEvent[], ingestedMs: number, opts: { commit?: boolean } = {}): Promise<WriteOutcome> {
    const status = new Uint8Array(events.length);
    let inserted = 0, duplicates = 0, conflicts = 0;
    if (this.group === null) {
      // The server's clock at the start of the group: batches of other writers closed before it cannot race us.
      const now = await this.rows<{ t: string }>('SELECT toString(toUInt32(now())) AS t', 'reading the server time');
      const g = newGroup(++this.batchNo, Number(now[0]!.t));
      // Marked open before any of its rows can be visible (a writer killed mid-INSERT leaves the rows it sent).
      await this.insertValues('batches', 'run, batch, state', [this.marker(g, 0)], 'marking a batch');
      this.group = g;
    }
    const g: Group = this.group;
    const call = g.calls++;
    const keys = events.map((e) => e.key);
    // Look the keys up while this thread encodes the rows (all of them: duplicates are left out afterwards).
    const lookup = this.lookup([...new Set(keys.filter((k) => !g.first.has(k)))]);
    lookup.catch(() => {});
    // A writer per call: its rows are kept as views until the group is committed.
    const w = new RowBinaryWriter(Math.max(1 << 16, events.length * (this.rowBytes + 64)));
    const seq0 = this.seq;
    this.seq += events.length;
    const start = new Array<number>(events.length);
    const end = new Array<number>(events.length);
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      start[i] = w.length;
      encodeEventRow(w, keys[i]!, e.source, e.id, e.type, e.subject, e.timeMs, e.data, fingerprintOf(e), ingestedMs, this.run, seq0 + i, flattenData(e.data, this.scratch));
      end[i] = w.length;
    }
    const stored = await lookup;
    const fresh: Buffer[] = [];
    let run = -1;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      const k = keys[i]!;
      const j = findInGroup(g, k, e.source, e.id);
      let firstFp: number | null = j >= 0 ? g.fp[j]! : null;
      if (firstFp === null) {
        const r = stored.get(k)?.find((x) => x.src === e.source && x.eid === e.id);
        if (r !== undefined) firstFp = Number(r.first_fp);
      }
      if (firstFp !== null) {
        const same = firstFp === fingerprintOf(e);
        status[i] = same ? RowStatus.duplicate : RowStatus.conflict;
        if (same) duplicates++;
        else conflicts++;
        continue;
      }
      addToGroup(g, k, e.source, e.id, fingerprintOf(e), seq0 + i, call, i);
      inserted++;
      // Contiguous rows are copied as one piece.
      if (run >= 0 && end[run] === start[i]) end[run] = end[i]!;
      else {
        if (run >= 0) fresh.push(w.view(start[run]!, end[run]!));
        run = i;
      }
    }
    if (run >= 0) fresh.push(w.view(start[run]!, end[run]!));
    if (events.length > 0) this.rowBytes = Math.ceil(w.length / events.length);
    g.rows += inserted;
    await this.send(g, fresh);
    const out: WriteOutcome = { inserted, duplicates, conflicts, status };
    // A slow input (stdin) must not keep an INSERT open for long: such groups are committed early.
    if (opts.commit !== false || Date.now() - g.openedMs > GROUP_MAX_MS) {
      const lost = await this.commit();
      // Copies of this group that lost a race with another writer: counted as duplicates, not inserted.
      for (const l of lost) {
        out.inserted--;
        if (l.conflict) out.conflicts++;
        else out.duplicates++;
        if (l.call === call) status[l.index] = l.conflict ? RowStatus.conflict : RowStatus.duplicate;
      }
    }
    return out;
  }

  /** The first stored copy of each key (several rows per key only after races; collisions: several sources/ids). */
  private async lookup(keys: number[]): Promise<Map<number, KeyRow[]>> {
    const found = new Map<number, KeyRow[]>();
    if (keys.length === 0) return found;
    const rows = await this.withKeys(
      keys,
      `SELECT toString(k), source, id, toString(argMin(fp, (ingested_ms, run, seq))) FROM ${this.db}.event_keys ` +
        `PREWHERE k IN _keys GROUP BY k, source, id`,
      4,
      'looking up stored events',
    );
    for (const [key, src, eid, fp] of rows) {
      const k = Number(key);
      const r: KeyRow = { key: key!, src: src!, eid: eid!, first_fp: fp! };
      const list = found.get(k);
      if (list) list.push(r);
      else found.set(k, [r]);
    }
    return found;
  }

  /**
   * Runs a query that reads a set of keys as the temporary table `_keys` (k UInt64), sent beside the query as
   * binary external data (RowBinary): no key list is parsed as SQL. Answers TabSeparated rows of `columns`.
   */
  private async withKeys(keys: number[], sql: string, columns: number, what: string): Promise<string[][]> {
    const w = new RowBinaryWriter(keys.length * 8 + 16);
    for (const k of keys) w.int64(k);
    const boundary = `meter${randomBytes(12).toString('hex')}`;
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="_keys"; filename="_keys"\r\nContent-Type: application/octet-stream\r\n\r\n`),
      w.take(),
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const params = new URLSearchParams({ query: `${sql} FORMAT TabSeparated`, _keys_structure: 'k UInt64', _keys_format: 'RowBinary' });
    const t = this.target;
    const text = await new Promise<string>((resolve, reject) => {
      const req = http.request(
        {
          host: t.host.replace(/^\[(.*)\]$/, '$1'),
          port: t.port,
          method: 'POST',
          path: `/?${params.toString()}`,
          agent: this.agent,
          headers: {
            'Content-Type': `multipart/form-data; boundary=${boundary}`,
            'Content-Length': String(body.length),
            Authorization: `Basic ${Buffer.from(`${t.username}:${t.password}`).toString('base64')}`,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const out = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode === 200) resolve(out);
            else reject(new Error(out.trim() || `HTTP ${res.statusCode}`));
          });
        },
      );
      req.on('error', reject);
      req.setTimeout(600_000, () => req.destroy(new Error('Timeout')));
      req.end(body);
    }).catch((e: unknown) => {
      throw describeError(t, e, what);
    });
    if (text === '') return [];
    if (!text.endsWith('\n')) throw describeError(t, new Error(`unexpected end of the answer: ${text.slice(-200)}`), what);
    try {
      return parseTsv(text.slice(0, -1), columns);
    } catch (e) {
      throw describeError(t, e, what);
    }
  }

  /**
   * Streams rows into the group's INSERT (opened on the first rows). ClickHouse parses them as they come and
   * writes them when the body ends (one block: max_insert_block_size is set above any batch), so an aborted
   * insert writes nothing.
   */
  private async send(g: Group, rows: Buffer[]): Promise<void> {
    if (rows.length === 0) return;
    if (g.insert === null) {
      const body = new PassThrough();
      body.on('error', () => {}); // a failure is reported through `done`
      const done = this.client
        .exec({
          query: `INSERT INTO ${this.db}.events (${EVENT_COLUMNS}) FORMAT RowBinary`,
          values: body,
          clickhouse_settings: { max_insert_block_size: '1000000000' },
        })
        .then((r) => drain(r.stream));
      const insert = { body, done, error: undefined as unknown };
      done.catch((e: unknown) => {
        insert.error = e ?? new Error('insert failed');
        body.destroy();
      });
      g.insert = insert;
    }
    const ins = g.insert;
    for (const b of rows) {
      if (ins.error !== undefined) throw describeError(this.target, ins.error, 'inserting events');
      if (!ins.body.write(b)) await Promise.race([once(ins.body, 'drain'), ins.done]).catch(() => {});
    }
    if (ins.error !== undefined) throw describeError(this.target, ins.error, 'inserting events');
  }

  /** Ends the open group's INSERT; returns its copies that lost a race with another writer. */
  private async commit(): Promise<Array<{ call: number; index: number; conflict: boolean }>> {
    const g = this.group;
    this.group = null;
    if (g === null) return [];
    let lost: Array<{ call: number; index: number; conflict: boolean }> = [];
    if (g.insert !== null) {
      try {
        g.insert.body.end();
        await g.insert.done;
      } catch (e) {
        throw describeError(this.target, e, 'inserting events');
      }
      if (await this.othersOverlapped(g.startedAt)) lost = await this.checkRaces(g.first.allKeys(), g);
    }
    await this.insertValues('batches', 'run, batch, state', [this.marker(g, 1)], 'marking a batch');
    return lost;
  }

  /** A `batches` row: this writer's batch open (0) or closed (1). */
  private marker(g: Group, state: 0 | 1): string {
    return `(${sqlInt(this.run)},${sqlInt(g.batch)},${sqlInt(state)})`;
  }

  /**
   * Drops the open group: its INSERT is ended in the middle of a row ("Cannot read all data"), so the server
   * rejects the whole insert (one block) and writes none of it. (Merely closing the connection would make the
   * server insert the complete rows it has; a poison such as a huge length can crash an 18.16 server.)
   */
  private async abandon(): Promise<void> {
    const g = this.group;
    this.group = null;
    if (g === null) return;
    if (g.insert !== null) {
      // Three bytes of an eight-byte key.
      g.insert.body.end(Buffer.from([0, 0, 0]));
      await g.insert.done.catch(() => {});
    }
    await this.insertValues('batches', 'run, batch, state', [this.marker(g, 1)], 'marking a batch').catch(() => {});
  }

  /** True when another writer's batch was open at some time since `startedAt` (server seconds). */
  private async othersOverlapped(startedAt: number): Promise<boolean> {
    const r = await this.rows<{ n: string }>(
      `SELECT toString(count()) AS n FROM (SELECT run, batch, max(state) AS st, max(toUInt32(at)) AS last FROM ${this.db}.batches ` +
        `WHERE run != ${sqlInt(this.run)} GROUP BY run, batch HAVING st = 0 OR last >= ${sqlInt(startedAt)})`,
      'checking for concurrent writers',
    );
    return Number(r[0]!.n) > 0;
  }

  /**
   * After an insert: finds keys stored more than once (another writer inserted the same (source, id) between
   * our lookup and our insert), records every copy but the first in `dropped`, and returns our losing copies.
   */
  private async checkRaces(keys: number[], g: Group | null): Promise<Array<{ call: number; index: number; conflict: boolean }>> {
    const losers: string[] = [];
    const ours: Array<{ call: number; index: number; conflict: boolean }> = [];
    const rows = await this.withKeys(
      keys,
      `SELECT toString(k), source, id, arraySort(groupArray((ingested_ms, run, seq, fp))) FROM ${this.db}.event_keys ` +
        `PREWHERE k IN _keys GROUP BY k, source, id HAVING count() > 1`,
      4,
      'checking for concurrent writers',
    );
    for (const [key, src, eid, copies] of rows) {
      this.collectLosers({ key: key!, src: src!, eid: eid!, copies: tsvTuples(copies!) }, losers, ours, g);
    }
    if (losers.length > 0) await this.insertValues('dropped', 'run, seq', losers, 'recording concurrent duplicates');
    return ours;
  }

  private collectLosers(
    r: RaceRow,
    losers: string[],
    ours: Array<{ call: number; index: number; conflict: boolean }>,
    g: Group | null,
  ): void {
    // arraySort ordered the copies by (ingested_ms, run, seq) as numbers; the first wins.
    const [winner, ...rest] = r.copies;
    for (const [, run, seq, fp] of rest) {
      losers.push(`(${sqlInt(run)},${sqlInt(seq)})`);
      if (g !== null && run === this.run) {
        const j = findInGroup(g, Number(r.key), r.src, r.eid);
        if (j >= 0 && String(g.seq[j]) === seq) ours.push({ call: g.call[j]!, index: g.index[j]!, conflict: fp !== winner![3] });
      }
    }
  }

  /** Closes batches left open by writers that died between insert and check: records their losers. */
  private async closeStaleBatches(): Promise<void> {
    const stale = await this.rows<{ r: string; b: string }>(
      `SELECT toString(run) AS r, toString(batch) AS b FROM ${this.db}.batches GROUP BY run, batch ` +
        `HAVING max(state) = 0 AND max(at) < now() - ${STALE_BATCH_SECONDS}`,
      'looking for unfinished batches',
    );
    if (stale.length === 0) return;
    const losers = await this.rows<{ r: string; s: string }>(
      `SELECT toString(run) AS r, toString(seq) AS s FROM (${losersSql(this.db)})`,
      'deduplicating after an unfinished batch',
    );
    await this.insertValues('dropped', 'run, seq', losers.map((l) => `(${sqlInt(l.r)},${sqlInt(l.s)})`), 'recording duplicates');
    await this.insertValues('batches', 'run, batch, state', stale.map((s) => `(${sqlInt(s.r)},${sqlInt(s.b)},1)`), 'closing batches');
  }

  /** Commits the open group. (ClickHouse acknowledges an insert once written, not fsynced: see the module comment.) */
  async sync(): Promise<void> {
    if (this.group !== null) await this.commit();
  }

  // -- reading

  /** How reads must deduplicate now: not at all, by `dropped`, or fully while a batch is open. */
  private async dedupe(): Promise<DedupeMode> {
    if (this.dedupeMode !== null) return this.dedupeMode;
    const r = await this.rows<{ d: string; o: string }>(
      `SELECT toString((SELECT count() FROM ${this.db}.dropped)) AS d, toString((SELECT count() FROM ` +
        `(SELECT run, batch FROM ${this.db}.batches GROUP BY run, batch HAVING max(state) = 0))) AS o`,
      'checking for concurrent writes',
    );
    const mode: DedupeMode = Number(r[0]!.o) > 0 ? 'full' : Number(r[0]!.d) > 0 ? 'dropped' : 'none';
    // One answer per command: reads of one command see one consistent rule.
    this.dedupeMode = mode;
    return mode;
  }

  private async where(conds: string[]): Promise<string> {
    const dd = dedupeCondition(this.db, await this.dedupe());
    const all = dd ? [...conds, dd] : conds;
    return all.length ? ' WHERE ' + all.join(' AND ') : '';
  }

  async *events(f: EventFilter): AsyncIterable<StoredEvent> {
    const conds: string[] = [];
    if (f.type !== undefined) conds.push(`type = ${sqlString(f.type)}`);
    if (f.subjects.length > 0) conds.push(`subject IN (${f.subjects.map(sqlString).join(', ')})`);
    if (f.fromMs !== undefined) conds.push(`time_ms >= ${i64(sqlInt(f.fromMs))}`);
    if (f.toMs !== undefined) conds.push(`time_ms < ${i64(sqlInt(f.toMs))}`);
    const sql =
      `SELECT id, source, type, subject, time_ms, isNull(data), ifNull(data, ''), ingested_ms FROM ${this.db}.events` +
      `${await this.where(conds)} ORDER BY time_ms DESC, ingested_ms DESC, seq DESC LIMIT ${sqlInt(f.limit)}`;
    for await (const batch of this.tsv(sql, 8, 'listing events')) {
      for (const r of batch) {
        yield { id: r[0]!, source: r[1]!, type: r[2]!, subject: r[3]!, timeMs: Number(r[4]), data: r[5] === '1' ? null : r[6]!, ingestedMs: Number(r[7]) };
      }
    }
  }

  async stats(): Promise<StoreStats> {
    const w = await this.where([]);
    const totals = await this.rows<{ n: string; first: string; last: string; subjects: string }>(
      `SELECT toString(count()) AS n, toString(min(time_ms)) AS first, toString(max(time_ms)) AS last, ` +
        `toString(uniqExact(subject)) AS subjects FROM ${this.db}.events${w}`,
      'counting events',
    );
    const t = totals[0]!;
    const n = Number(t.n);
    const byType = await this.rows<{ key: string; events: string }>(
      `SELECT type AS key, toString(count()) AS events FROM ${this.db}.events${w} GROUP BY type ORDER BY count() DESC, key`,
      'counting events by type',
    );
    const bySubject = await this.rows<{ key: string; events: string }>(
      `SELECT subject AS key, toString(count()) AS events FROM ${this.db}.events${w} GROUP BY subject ORDER BY count() DESC, key LIMIT 10`,
      'counting events by subject',
    );
    const size = await this.rows<{ b: string }>(
      `SELECT toString(sum(bytes_on_disk)) AS b FROM system.parts WHERE database = ${sqlString(this.target.database)} AND active`,
      'measuring the store',
    );
    return {
      location: this.location,
      events: n,
      byType: byType.map((r) => ({ key: r.key, events: Number(r.events) })),
      bySubject: bySubject.map((r) => ({ key: r.key, events: Number(r.events) })),
      subjects: Number(t.subjects),
      firstMs: n === 0 ? null : Number(t.first),
      lastMs: n === 0 ? null : Number(t.last),
      sizeBytes: Number(size[0]?.b ?? 0),
    };
  }

  async subjects(): Promise<SubjectSummary[]> {
    const rows = await this.rows<{ subject: string; n: string; lo: string; hi: string }>(
      `SELECT subject, toString(count()) AS n, toString(min(time_ms)) AS lo, toString(max(time_ms)) AS hi ` +
        `FROM ${this.db}.events${await this.where([])} GROUP BY subject ORDER BY subject`,
      'listing subjects',
    );
    return rows.map((r) => ({ subject: r.subject, events: Number(r.n), firstMs: Number(r.lo), lastMs: Number(r.hi) }));
  }

  async timeExtent(eventType: string | null): Promise<{ minMs: number; maxMs: number } | null> {
    const conds = eventType === null ? [] : [`type = ${sqlString(eventType)}`];
    const r = await this.rows<{ n: string; lo: string; hi: string }>(
      `SELECT toString(count()) AS n, toString(min(time_ms)) AS lo, toString(max(time_ms)) AS hi FROM ${this.db}.events${await this.where(conds)}`,
      'reading the time range',
    );
    const x = r[0]!;
    return Number(x.n) === 0 ? null : { minMs: Number(x.lo), maxMs: Number(x.hi) };
  }

  async *aggregate(q: MeterQuery): AsyncIterable<AggregateRow> {
    const sql = buildAggregateSql(q, this.db, await this.dedupe());
    const agg = q.meter.aggregation;
    const counting = agg === 'COUNT' || q.meter.valueProperty === undefined;
    const nValues = counting || agg === 'UNIQUE_COUNT' ? 1 : agg === 'SUM' || agg === 'AVG' ? 4 : 2;
    const nGroups = q.groupBy.length;
    const columns = (q.window ? 1 : 0) + (q.perSubject ? 1 : 0) + nGroups + nValues + 2;
    for await (const batch of this.tsv(sql, columns, 'running the query')) {
      for (const r of batch) {
        let i = 0;
        const windowStart = q.window ? q.window.startOfKey(Number(r[i++])) : null;
        const subject = q.perSubject ? r[i++]! : null;
        const groups = r.slice(i, i + nGroups);
        i += nGroups;
        let value: string | null;
        if (nValues === 1) value = r[i]!;
        else if (nValues === 4) value = exactValue(agg as 'SUM' | 'AVG', r[i]!, r[i + 1]!, tsvTextArray(r[i + 2]!), Number(r[i + 3]));
        else value = r[i + 1] === '0' ? null : r[i]!;
        i += nValues;
        yield { windowStart, subject, groups, value, firstMs: Number(r[i]), lastMs: Number(r[i + 1]) };
      }
    }
  }

  async close(): Promise<void> {
    // An uncommitted group is dropped, as a rolled-back transaction.
    await this.abandon();
    this.agent.destroy();
    await this.client.close();
  }
}

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
  if (!/^\[\(-?\d+,\d+,\d+,\d+\)(?:,\(-?\d+,\d+,\d+,\d+\))*\]$/.test(s)) throw new Error(`unexpected tuples in the answer: ${s.slice(0, 200)}`);
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

/** Reads a response to its end (an insert answers with an empty body). */
async function drain(stream: NodeJS.ReadableStream): Promise<void> {
  for await (const _ of stream) {
    // nothing to read
  }
}

