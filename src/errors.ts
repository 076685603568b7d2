/**
 * Typed errors of the core. The CLI (src/cli.ts) is the one place that turns them into messages and exit codes.
 */

/** Exit codes, documented in `meter --help` and the README. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  rejected: 3,
  interrupted: 130,
} as const;

/** Base class: every error the core raises on purpose. */
export class MeterError extends Error {
  readonly exitCode: number = ExitCode.failure;
}

/** The user asked for something impossible: a bad flag value, a missing file, an unknown meter. Exit 2. */
export class UsageError extends MeterError {
  override readonly exitCode: number = ExitCode.usage;
}

/**
 * A usage error about the value of one option. The option, its value and the problem are kept apart, so that an
 * adapter whose options have other names (HTTP parameters) can say it in its own terms.
 */
export class OptionError extends UsageError {
  constructor(
    /** As the command line spells it: `--group-by`. */
    readonly option: string,
    readonly value: string,
    readonly problem: string,
  ) {
    super(`${option} "${value}": ${problem}`);
  }
}

/**
 * The meter configuration (or another config file, such as a price file) is invalid; `problems` lists every
 * problem found, not just the first. Exit 2.
 */
export class ConfigError extends MeterError {
  override readonly exitCode: number = ExitCode.usage;
  constructor(
    readonly file: string,
    readonly problems: string[],
    what = 'meter config',
  ) {
    // One line per problem: a line break inside one (a group value of an event) must not start a line of its own.
    super(
      `invalid ${what} ${file}:\n  ${problems.map((p) => p.replace(/[\n\r]/g, (c) => (c === '\n' ? '\\u000a' : '\\u000d'))).join('\n  ')}`,
    );
  }
}

/** The store cannot be opened, read or written (permissions, corruption, full disk, server down). Exit 1. */
export class StoreError extends MeterError {
  constructor(message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
  }
}

/** Another process held the store's write lock past the busy timeout: nothing was written, and a retry may pass. */
export class StoreBusyError extends StoreError {}

/** An input file cannot be read at all (not a single bad line: those are rejects). Exit 2. */
export class InputError extends UsageError {}

/**
 * Stopped at once by a second Ctrl-C or SIGTERM: the open batch was rolled back, what was committed before it is
 * kept. Exit 130, as for a first signal (which stops after the current batch and exits 130 from its summary).
 */
export class InterruptedError extends MeterError {
  override readonly exitCode: number = ExitCode.interrupted;
}

/** The problem of a YAML file the parser refused: its first line, which names the line and column. */
export function yamlProblem(e: unknown): string {
  // The parser's message goes on with an excerpt after "column N:"; the excerpt is not kept, nor its colon.
  return `not valid YAML: ${String((e as Error)?.message ?? e)
    .split('\n')[0]!
    .replace(/:\s*$/, '')}`;
}
