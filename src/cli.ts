/**
 * The `meter` program. This is the one place that turns errors into messages and exit codes.
 */
import { Command, CommanderError } from 'commander';
import { ExitCode, MeterError } from './errors.js';
import { messageSafe } from './output/table.js';
import { outcomeOf } from './commands/common.js';
import { eventsCommand } from './commands/events.js';
import { ingestCommand } from './commands/ingest.js';
import { invoiceCommand } from './commands/invoice.js';
import { mapCommand } from './commands/map.js';
import { metersCommand } from './commands/meters.js';
import { queryCommand } from './commands/query.js';
import { reportCommand } from './commands/report.js';
import { serveCommand } from './commands/serve.js';
import { statsCommand } from './commands/stats.js';
import { subjectsCommand } from './commands/subjects.js';

export const VERSION = '0.1.0';

export function buildProgram(): Command {
  const program = new Command('meter')
    .description('Usage metering: CloudEvents in, exact per-subject totals per window out (SQLite or ClickHouse).')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Examples:
  meter ingest examples/openai-usage.ndjson          # store events, each (source, id) once
  meter query --config examples/meter.yaml -m tokens_total --window hourly
  meter query --config examples/meter.yaml -m tokens_total -w day --tz Europe/Budapest --format csv -o daily.csv

Store: --db PATH (SQLite file), or clickhouse://host:8123/db; default $METER_DB, else ./meter.db.
Meters: --config FILE (OpenMeter's meters: YAML); default $METER_CONFIG, else ./meter.yaml if present.

Exit codes: 0 ok · 1 failure (store) · 2 usage error · 3 some input rejected · 130 interrupted`,
    );
  for (const cmd of [ingestCommand(), queryCommand(), eventsCommand(), subjectsCommand(), statsCommand(), metersCommand(), mapCommand()]) {
    program.addCommand(cmd);
  }
  program.addCommand(invoiceCommand());
  program.addCommand(reportCommand());
  program.addCommand(serveCommand());
  const configure = (c: Command) => {
    c.exitOverride();
    c.configureOutput({ writeErr: (s) => process.stderr.write(s), writeOut: (s) => process.stdout.write(s) });
    c.commands.forEach(configure);
  };
  configure(program);
  return program;
}

/**
 * Runs the CLI and returns its exit code; bin/meter exits with it. A closed stdout (meter query | head) ends the
 * run too, as a success: the reader has what it wanted.
 */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    let stdoutFailure: MeterError | null = null;
    const stdoutClosed = new Promise<number>((resolve, reject) => {
      process.stdout.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'EPIPE') return resolve(ExitCode.ok);
        stdoutFailure = new MeterError(`standard output: cannot write (${e.code ?? e.message})`);
        reject(stdoutFailure);
      });
    });
    stdoutClosed.catch(() => undefined);
    const run = async () => {
      await program.parseAsync(argv);
      const leaf = program.commands.find((c) => c.name() === program.args[0]);
      return leaf === undefined ? ExitCode.ok : outcomeOf(leaf);
    };
    const code = await Promise.race([run(), stdoutClosed]);
    // A failed write of the last output (a summary to a full disk) is reported a tick later: wait for it.
    await new Promise((resolve) => setImmediate(resolve));
    if (stdoutFailure !== null) throw stdoutFailure;
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return ExitCode.ok;
      // Help asked for (`meter help`, `meter help query`) is a success; help shown for no command at all, or for
      // one that does not exist (`meter help bogus`), is a usage error.
      if (e.code === 'commander.help') {
        const [first, second] = argv.slice(2);
        const asked = first === 'help' && (second === undefined || second === 'help' || program.commands.some((c) => c.name() === second));
        return asked ? ExitCode.ok : ExitCode.usage;
      }
      if (e.code === 'commander.executeSubCommandAsync') return ExitCode.failure;
      return ExitCode.usage; // commander already printed the message
    }
    if (e instanceof MeterError) {
      // Messages can quote event data (a subject, a group value): control and format characters are shown as escapes.
      process.stderr.write(`meter: ${e.message.split('\n').map(messageSafe).join('\n')}\n`);
      return e.exitCode;
    }
    const err = e as Error;
    process.stderr.write(`meter: internal error: ${err?.message ?? String(e)}\n`);
    if (process.env.METER_DEBUG) process.stderr.write(`${err?.stack ?? ''}\n`);
    return ExitCode.failure;
  }
}
