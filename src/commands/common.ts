/** Options and helpers shared by the commands, so the same flag means the same thing everywhere. */
import fs from 'node:fs';
import { Option, type Command } from 'commander';
import { checkPattern } from '../core/mapping-spec.js';
import { BUILT_IN_MAPS, createMapper, type MapChoice } from '../core/maps/index.js';
import { checkJsonPath, parseMeterConfig, type Meter } from '../core/meter.js';
import { parsePriceFile, type PriceFile } from '../core/price.js';
import { parseYaml } from '../core/yaml.js';
import { ConfigError, type MeterError, UsageError, yamlProblem } from '../errors.js';
import { openStore, resolveDb } from '../store/open.js';
import type { Store } from '../store/store.js';
import { type KeptFile, STDIN_KEPT, storeFiles } from '../output/overwrite.js';
import { STDIN_NAME } from '../input/open.js';
import { catchUpLine } from '../output/summary.js';

export const DEFAULT_CONFIG = 'meter.yaml';

/** What --from and --to take, in every command's help (parseQueryTime reads them). */
export const BOUND_FORMS = 'RFC 3339, a date (midnight in --tz), or a date-time without offset (wall-clock time in --tz)';

/** Collects a repeatable option's values. */
export function collect(value: string, previous: string[] = []): string[] {
  // In place into an array of its own making: a copy per value made 40,000 `-s` a minute of work. The option's
  // default array is shared by every parse (tests run several in one process), so it is copied once instead.
  if (!collected.has(previous)) {
    previous = [...previous];
    collected.add(previous);
  }
  previous.push(value);
  return previous;
}

/** The arrays collect made: those it may append to. */
const collected = new WeakSet<string[]>();

export function positiveInt(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n <= 0) throw new UsageError(`${flag} "${value}": must be a positive whole number`);
    if (!Number.isSafeInteger(n)) throw new UsageError(`${flag} "${value}": too large (at most ${Number.MAX_SAFE_INTEGER})`);
    return n;
  };
}

/**
 * The largest --max-event-size: a record is held as one JavaScript string, and V8's longest string (2^29 - 24
 * characters) would fail the whole run where a longer record should be one reject.
 */
export const MAX_EVENT_SIZE_LIMIT = 500 * 1024 * 1024;

/** --max-event-size: a positive whole number of bytes, at most MAX_EVENT_SIZE_LIMIT. */
export function maxEventSize(value: string): number {
  const n = positiveInt('--max-event-size')(value);
  if (n > MAX_EVENT_SIZE_LIMIT)
    throw new UsageError(`--max-event-size "${value}": at most ${MAX_EVENT_SIZE_LIMIT} (500 MiB, the longest record meter can hold)`);
  return n;
}

export function addDbOption(cmd: Command): Command {
  return cmd.addOption(
    new Option('--db <path|url>', 'store: a SQLite file, or clickhouse://host:8123/db (default: $METER_DB or ./meter.db)'),
  );
}

export function addConfigOption(cmd: Command): Command {
  return cmd.addOption(
    new Option('--config <file>', 'meter definitions, OpenMeter YAML (default: $METER_CONFIG or ./meter.yaml if present)'),
  );
}

/** The largest config, price or mapping file read: such a file is a few kilobytes; this bounds a hostile one. */
const MAX_CONFIG_BYTES = 16 << 20;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The text of a config, price or mapping file: at most MAX_CONFIG_BYTES read (`/dev/zero` ends too), UTF-8 only.
 * Throws UsageError naming the file and `what` it is.
 */
export function readConfigText(file: string, what: string): string {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new UsageError(`${file}: cannot read ${what} (${code === 'ENOENT' ? 'no such file' : code})`);
  }
  try {
    // In chunks: a config is a few kilobytes, and every command reads one as it starts.
    const chunks: Buffer[] = [];
    let n = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(64 << 10);
      const got = fs.readSync(fd, chunk, 0, chunk.length, null);
      if (got === 0) break;
      chunks.push(chunk.subarray(0, got));
      n += got;
      if (n > MAX_CONFIG_BYTES) throw new UsageError(`${file}: a ${what} of more than ${MAX_CONFIG_BYTES >> 20} MiB is not read`);
    }
    try {
      return UTF8.decode(Buffer.concat(chunks, n));
    } catch {
      throw new UsageError(`${file}: ${what} is not UTF-8 text`);
    }
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${file}: cannot read ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  } finally {
    fs.closeSync(fd);
  }
}

/** The inputs of a run as files `--rejects` must not write over: standard input (`-`) too. */
export function keptInputs(inputs: string[]): KeptFile[] {
  return inputs.map((f): KeptFile => (f === STDIN_NAME ? STDIN_KEPT : [f, 'an input']));
}

/** The meters of `--config`, else METER_CONFIG, else ./meter.yaml when present; none otherwise. */
export function loadMeters(flag: string | undefined): { meters: Meter[]; file: string | null } {
  const file = flag ?? process.env.METER_CONFIG ?? (fs.existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : null);
  if (file === null) return { meters: [], file: null };
  return { meters: parseMeterConfig(readConfigText(file, 'meter config'), file), file };
}

/** The price file `file`, checked against the meters (every problem is listed; exit 2). */
export function loadPrices(file: string, meters: Meter[]): PriceFile {
  return parsePriceFile(readConfigText(file, 'price file'), file, meters);
}

/** The exit code each command's run ended with, when it is not 0 (errors are thrown instead). */
const outcomes = new WeakMap<Command, number>();

/** Records the exit code a command's run ends with; src/cli.ts turns it into the process's. */
export function setOutcome(cmd: Command, code: number): void {
  outcomes.set(cmd, code);
}

/** The exit code a command's run ended with: 0 unless it set another. */
export function outcomeOf(cmd: Command): number {
  return outcomes.get(cmd) ?? 0;
}

/** What --output or --rejects must never write over: the store of `--db` and the given files (see overwrite.ts). */
export function keptFiles(db: string | undefined, files: Array<[path: string | null | undefined, what: string]>): KeptFile[] {
  const given = files.filter((f): f is [string, string] => typeof f[0] === 'string');
  return [...storeFiles(resolveDb(db)), ...given];
}

/** Runs `fn` with the store `--db` names, open for reading only or for writing, and closes it whatever happens. */
export async function withStore<T>(db: string | undefined, readonly: boolean, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(resolveDb(db), { readonly, onCatchUp: process.stderr.isTTY ? catchUpLine : undefined });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** Output formats of the commands that print rows. */
export function formatOption(choices: string[], dflt: string): Option {
  return new Option('--format <format>', 'output format').choices(choices).default(dflt);
}

/** `--map` and the options that adjust a map (ingest and map). */
export function addMapOptions(cmd: Command): Command {
  return cmd
    .option('--map <name|file>', `map raw records to events: ${BUILT_IN_MAPS.join(', ')}, or a mapping file (YAML)`)
    .option('--source <name>', "with --map: the events' source (default: the map's, e.g. openai); keep it stable across files")
    .option('--subject-path <path>', "with --map: JSON path of the subject in the input record (default: the map's order)")
    .option('--subject-pattern <regex>', 'with --map: the subject is the first capture group of this regex on the subject found');
}

export interface MapFlags {
  map?: string;
  source?: string;
  subjectPath?: string;
  subjectPattern?: string;
}

/** The map the flags ask for, checked (every problem of a mapping file is listed; exit 2); null without --map. */
export function loadMap(flags: MapFlags): MapChoice | null {
  if (flags.map === undefined) {
    const stray = (['source', 'subjectPath', 'subjectPattern'] as const).find((k) => flags[k] !== undefined);
    if (stray) throw new UsageError(`--${stray.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} needs --map`);
    return null;
  }
  // Every problem of the options and of the mapping file is listed at once.
  const problems: string[] = [];
  if (flags.source !== undefined && (flags.source === '' || flags.source.includes('\u0000')))
    problems.push('--source: must be a non-empty name');
  const pathProblem = flags.subjectPath === undefined ? null : checkJsonPath(flags.subjectPath);
  if (pathProblem) problems.push(`--subject-path: ${pathProblem}`);
  const patternProblem = flags.subjectPattern === undefined ? null : checkPattern(flags.subjectPattern);
  if (patternProblem) problems.push(`--subject-pattern: ${patternProblem}`);
  const choice: MapChoice = { name: flags.map, source: flags.source, subjectPath: flags.subjectPath, subjectPattern: flags.subjectPattern };
  let fileProblem: MeterError | null = null;
  if (!(BUILT_IN_MAPS as readonly string[]).includes(flags.map)) {
    let text: string | null = null;
    try {
      text = readConfigText(flags.map, 'mapping file');
    } catch (e) {
      fileProblem = fs.existsSync(flags.map)
        ? (e as UsageError)
        : new UsageError(`--map ${flags.map}: not a built-in map (${BUILT_IN_MAPS.join(', ')}), and no mapping file of that name exists`);
    }
    if (text !== null) {
      try {
        choice.spec = parseYaml(text);
      } catch (e) {
        fileProblem = new ConfigError(flags.map, [yamlProblem(e)], 'mapping');
      }
    }
  }
  if (fileProblem === null) {
    try {
      // Throws ConfigError listing every problem of the file; the options are checked above.
      createMapper(problems.length > 0 ? { name: choice.name, spec: choice.spec } : choice);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      fileProblem = e;
    }
  }
  if (problems.length === 0 && fileProblem !== null) throw fileProblem;
  if (problems.length > 0) throw new UsageError([...problems, ...(fileProblem === null ? [] : [fileProblem.message])].join('\n'));
  return choice;
}
