/**
 * meter ingest [FILE...]: CloudEvents from files, gzip files and stdin into the store, each (source, id) once.
 */
import fs from 'node:fs';
import { Command, Option } from 'commander';
import { ExitCode, UsageError } from '../errors.js';
import { ingest, type IngestSummary, type RejectRecord } from '../ingest/pipeline.js';
import { checkInputs, STDIN_NAME } from '../input/open.js';
import { addConfigOption, addDbOption, addMapOptions, loadMap, loadMeters, positiveInt, withStore, type MapFlags } from './common.js';
import { skipSummaryLines } from './map.js';

const SHOWN_REJECTS = 10;

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

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

/** The summary line(s) printed on stderr. */
export function summaryText(s: IngestSummary): string {
  const lines = [
    `read ${fmt(s.read)} · inserted ${fmt(s.inserted)} · duplicates ${fmt(s.duplicates)}` +
      (s.conflicts ? ` · conflicting duplicates ${fmt(s.conflicts)}` : '') +
      ` · rejected ${fmt(s.rejected)} · ${(s.elapsedMs / 1000).toFixed(2)} s · ${fmt(s.eventsPerSec)} events/s`,
  ];
  if (s.conflicts) lines.push(`warning: ${fmt(s.conflicts)} duplicate(s) had the (source, id) of a stored event but other content; the stored one was kept`);
  if (s.missingTime) lines.push(`warning: ${fmt(s.missingTime)} event(s) had no time and were stamped with the ingestion time (--require-time rejects them)`);
  if (s.futureTime) lines.push(`warning: ${fmt(s.futureTime)} event(s) are more than a day in the future: check the producer's clock`);
  for (const [slug, n] of Object.entries(s.unusable)) {
    if (n) lines.push(`warning: meter ${slug}: ${fmt(n)} new event(s) of its type have no usable value`);
  }
  lines.push(...skipSummaryLines(s.skipped, s.unbilledStreams));
  if (s.interrupted) lines.push('interrupted: everything reported above is committed; run the same command again to finish');
  return lines.join('\n');
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
    .addOption(
      new Option('--max-event-size <bytes>', 'largest accepted event').argParser(positiveInt('--max-event-size')).default(1 << 20),
    )
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
      command.setOptionValue('exitCode', await runIngest(files, flags));
    });
  return cmd;
}

async function runIngest(files: string[], flags: IngestFlags): Promise<number> {
  const inputs = files.length === 0 ? [STDIN_NAME] : files;
  if (inputs.filter((f) => f === STDIN_NAME).length > 1) throw new UsageError('stdin (-) can be read only once');
  checkInputs(inputs);
  const { meters } = loadMeters(flags.config);
  const map = loadMap(flags);
  const quiet = flags.quiet ?? false;
  let rejectsOut: fs.WriteStream | null = null;
  if (flags.rejects !== undefined) {
    try {
      fs.writeFileSync(flags.rejects, '', { mode: 0o600 });
    } catch (e) {
      throw new UsageError(`--rejects ${flags.rejects}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    rejectsOut = fs.createWriteStream(flags.rejects, { flags: 'a' });
  }
  let shown = 0;
  const onReject = (r: RejectRecord) => {
    if (rejectsOut) rejectsOut.write(JSON.stringify(r) + '\n');
    else if (!quiet && shown < SHOWN_REJECTS) {
      shown++;
      process.stderr.write(`${r.file}:${r.line}${r.index !== undefined ? `[${r.index}]` : ''}: ${r.error}\n`);
    }
  };
  const progress = !quiet && process.stderr.isTTY;
  let lastProgress = 0;
  const onProgress = (s: IngestSummary) => {
    const now = Date.now();
    if (!progress || now - lastProgress < 250) return;
    lastProgress = now;
    process.stderr.write(`\r\x1b[Kread ${fmt(s.read)} · inserted ${fmt(s.inserted)} · duplicates ${fmt(s.duplicates)} · rejected ${fmt(s.rejected)}`);
  };

  // The first signal stops after the current batch, the second at once (rolling back the open batch). Neither
  // exits here: both end the ingest, and the exit code (130) comes from its result like every other code.
  const abort = new AbortController();
  const abortNow = new AbortController();
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      abortNow.abort();
      return;
    }
    if (!quiet) process.stderr.write(`\n${sig}: stopping after the current batch (again to stop at once, rolling it back)\n`);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let summary: IngestSummary;
  try {
    summary = await withStore(flags.db, false, (store) =>
      ingest(store, {
        inputs,
        batchSize: flags.batchSize,
        maxEventBytes: flags.maxEventSize,
        requireTime: flags.requireTime ?? false,
        meters,
        onReject,
        onProgress,
        signal: abort.signal,
        stopNow: abortNow.signal,
        map,
      }),
    );
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (rejectsOut) await new Promise<void>((resolve) => rejectsOut!.end(resolve));
  }
  if (progress) process.stderr.write('\r\x1b[K');
  if (flags.json) process.stdout.write(JSON.stringify(summary) + '\n');
  if (!quiet) {
    if (summary.rejected > shown && !rejectsOut) {
      process.stderr.write(`... ${fmt(summary.rejected - shown)} more rejected; --rejects FILE writes them all\n`);
    }
    process.stderr.write(summaryText(summary) + '\n');
  }
  if (summary.interrupted) return ExitCode.interrupted;
  return summary.rejected > 0 ? ExitCode.rejected : ExitCode.ok;
}
