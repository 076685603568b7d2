/**
 * meter ingest [FILE...]: CloudEvents from files, gzip files and stdin into the store, each (source, id) once.
 */
import { Command, Option } from 'commander';
import { ExitCode } from '../errors.js';
import { IngestStoppedAtOnce, ingest, type IngestSummary } from '../ingest/pipeline.js';
import { withStopSignals } from '../ingest/signals.js';
import { inputsOf } from '../input/open.js';
import { RejectReport } from '../output/rejects.js';
import { ProgressLine, reportIngest, stoppingText } from '../output/summary.js';
import {
  addConfigOption,
  addDbOption,
  addMapOptions,
  keptFiles,
  keptInputs,
  loadMap,
  loadMeters,
  maxEventSize,
  positiveInt,
  setOutcome,
  withStore,
  type MapFlags,
} from './common.js';

interface IngestFlags extends MapFlags {
  db?: string;
  config?: string;
  rejects?: string;
  batchSize: number;
  maxEventSize: number;
  requireTime?: boolean;
  json?: boolean;
  quiet?: boolean;
}

export function ingestCommand(): Command {
  const cmd = new Command('ingest')
    .description('read CloudEvents (NDJSON, JSON arrays or objects; files, .gz or stdin) into the store, deduplicated by (source, id)')
    .argument('[files...]', 'input files; - or none reads stdin');
  addDbOption(cmd);
  addConfigOption(cmd);
  addMapOptions(cmd);
  cmd
    .option('--rejects <file>', 'write every rejected input as an NDJSON line {file,line,error,raw}')
    .addOption(new Option('--batch-size <n>', 'events per transaction').argParser(positiveInt('--batch-size')).default(200_000))
    .addOption(new Option('--max-event-size <bytes>', 'largest accepted event').argParser(maxEventSize).default(1 << 20))
    .option('--require-time', 'reject events without time instead of stamping them with the ingestion time')
    .option('--json', 'print the summary as one JSON object on stdout')
    .option('-q, --quiet', 'print nothing but errors')
    .addHelpText(
      'after',
      `
Examples:
  meter ingest events.ndjson                       # NDJSON, a JSON array or one object
  meter ingest logs/*.ndjson.gz --rejects bad.ndjson
  kubectl logs usage-agent | meter ingest -        # stdin
  meter ingest --map openai responses.ndjson       # raw OpenAI responses, batch output or logs (see meter map)
  meter ingest --db /var/lib/meter.db --json day.ndjson | jq .inserted

Re-ingesting the same events changes nothing: an event is identified by (source, id), the first stored wins.

Exit codes:
  0  all input accepted (duplicates are fine)
  3  finished, but some input was rejected (see --rejects)
  2  usage error (bad flag, missing file, invalid meter config)
  1  failure (the store cannot be opened or written)
  130 interrupted (Ctrl-C/SIGTERM): what was reported is committed; re-run to finish`,
    )
    .action(async (files: string[], flags: IngestFlags, command: Command) => {
      setOutcome(command, await runIngest(files, flags));
    });
  return cmd;
}

async function runIngest(files: string[], flags: IngestFlags): Promise<number> {
  const inputs = inputsOf(files);
  const { meters, file: config } = loadMeters(flags.config);
  const map = loadMap(flags);
  const quiet = flags.quiet ?? false;
  const rejects = RejectReport.open(
    flags.rejects,
    quiet,
    keptFiles(flags.db, [
      [config, 'the meter config (--config)'],
      [map?.spec === undefined ? null : map.name, 'the mapping file (--map)'],
      ...keptInputs(inputs),
    ]),
  );
  const progress = new ProgressLine(!quiet && process.stderr.isTTY);
  let summary: IngestSummary;
  try {
    summary = await withStopSignals(
      (sig) => {
        if (!quiet) process.stderr.write(stoppingText(sig));
      },
      (stop) =>
        withStore(flags.db, false, (store) =>
          ingest(store, {
            inputs,
            batchSize: flags.batchSize,
            maxEventBytes: flags.maxEventSize,
            requireTime: flags.requireTime ?? false,
            meters,
            onReject: (r) => rejects.add(r),
            onProgress: (s) => progress.update(s),
            signal: stop.afterBatch,
            stopNow: stop.now,
            map,
          }),
        ),
    );
  } catch (e) {
    // Stopped at once: the summary of what was kept still goes to stdout for --json; the message, to stderr.
    if (e instanceof IngestStoppedAtOnce && flags.json) process.stdout.write(JSON.stringify(e.summary) + '\n');
    throw e;
  } finally {
    rejects.close();
  }
  progress.clear();
  reportIngest(summary, rejects, { json: flags.json ?? false, quiet });
  if (summary.interrupted) return ExitCode.interrupted;
  return summary.rejected > 0 ? ExitCode.rejected : ExitCode.ok;
}
