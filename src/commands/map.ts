/**
 * meter map --map NAME|FILE [FILE...]: raw records to CloudEvents, printed as NDJSON on stdout instead of stored
 * (to inspect a mapping, or to send the events elsewhere). The events are exactly those `ingest --map` stores:
 * validated, with `data` in canonical form. Skips and rejects are reported on stderr as ingest reports them.
 */
import fs from 'node:fs';
import { Command, Option } from 'commander';
import type { UsageEvent } from '../core/event.js';
import { createMapper } from '../core/maps/index.js';
import { formatRfc3339 } from '../core/time.js';
import { ExitCode, InputError, UsageError } from '../errors.js';
import { EventParser, type ParseSink, type RejectRecord } from '../ingest/parse.js';
import type { InputItem } from '../input/items.js';
import { checkInputs, openInput, STDIN_NAME } from '../input/open.js';
import { readItems } from '../input/read.js';
import { addMapOptions, loadMap, positiveInt, type MapFlags } from './common.js';

const SHOWN_REJECTS = 10;

interface MapCommandFlags extends MapFlags {
  rejects?: string;
  maxEventSize: number;
  requireTime?: boolean;
  json?: boolean;
  quiet?: boolean;
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

/** The skip and unbilled-stream lines of a summary (ingest's and map's). */
export function skipSummaryLines(skipped: Record<string, number>, unbilledStreams: number): string[] {
  const lines: string[] = [];
  const entries = Object.entries(skipped).filter(([, n]) => n > 0);
  if (entries.length > 0) {
    const total = entries.reduce((a, [, n]) => a + n, 0);
    lines.push(`skipped ${fmt(total)} record(s) without usage: ${entries.map(([r, n]) => `${r} ${fmt(n)}`).join(' · ')}`);
  }
  if (unbilledStreams > 0) {
    lines.push(`warning: ${fmt(unbilledStreams)} stream(s) ended without a usage chunk and cannot be billed (request them with stream_options: {"include_usage": true})`);
  }
  return lines;
}

/** One event as CloudEvents JSON text: the stored form (canonical data, the time as stored). */
export function eventLine(e: UsageEvent): string {
  const time = e.timeMissing ? '' : `,"time":${JSON.stringify(formatRfc3339(e.timeMs))}`;
  return (
    `{"specversion":"1.0","id":${JSON.stringify(e.id)},"source":${JSON.stringify(e.source)},"type":${JSON.stringify(e.type)},` +
    `"subject":${JSON.stringify(e.subject)}${time}${e.data === null ? '' : `,"data":${e.data}`}}`
  );
}

export function mapCommand(): Command {
  const cmd = new Command('map')
    .description('map raw records (OpenAI responses, batch output, gateway logs) to CloudEvents and print them as NDJSON')
    .argument('[files...]', 'input files; - or none reads stdin');
  addMapOptions(cmd);
  cmd
    .option('--rejects <file>', 'write every rejected input as an NDJSON line {file,line,error,raw}')
    .addOption(new Option('--max-event-size <bytes>', 'largest accepted record').argParser(positiveInt('--max-event-size')).default(1 << 20))
    .option('--require-time', 'reject records without a time instead of leaving it out')
    .option('--json', 'print the summary as one JSON object on stderr')
    .option('-q, --quiet', 'print nothing but errors')
    .addHelpText(
      'after',
      `
Examples:
  meter map --map openai responses.ndjson | head
  meter map --map openai batch_output.jsonl --subject-path '$.custom_id' --subject-pattern '^(cust_[0-9]+):'
  meter map --map litellm spend_logs.ndjson > events.ndjson

Exit codes: 0 all input mapped or skipped · 3 some input rejected · 2 usage error (bad flag, invalid mapping file)`,
    )
    .action(async (files: string[], flags: MapCommandFlags, command: Command) => {
      command.setOptionValue('exitCode', await runMap(files, flags));
    });
  return cmd;
}

async function runMap(files: string[], flags: MapCommandFlags): Promise<number> {
  if (flags.map === undefined) throw new UsageError(`map: --map is required (openai, litellm, or a mapping file)`);
  const choice = loadMap(flags)!;
  const inputs = files.length === 0 ? [STDIN_NAME] : files;
  if (inputs.filter((f) => f === STDIN_NAME).length > 1) throw new UsageError('stdin (-) can be read only once');
  checkInputs(inputs);
  const mapper = createMapper(choice);
  const parser = new EventParser({ requireTime: flags.requireTime ?? false, nowMs: Date.now(), fingerprints: false }, [], mapper);
  const quiet = flags.quiet ?? false;
  let rejectsOut: number | null = null;
  if (flags.rejects !== undefined) {
    try {
      rejectsOut = fs.openSync(flags.rejects, 'w', 0o600);
    } catch (e) {
      throw new UsageError(`--rejects ${flags.rejects}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  }
  let read = 0, mapped = 0, rejected = 0, shown = 0;
  const skipped: Record<string, number> = {};
  const onReject = (r: RejectRecord) => {
    rejected++;
    if (rejectsOut !== null) fs.writeSync(rejectsOut, JSON.stringify(r) + '\n');
    else if (!quiet && shown < SHOWN_REJECTS) {
      shown++;
      process.stderr.write(`${r.file}:${r.line}${r.index !== undefined ? `[${r.index}]` : ''}: ${r.error}\n`);
    }
  };
  try {
    for (const file of inputs) {
      try {
        const items: AsyncGenerator<InputItem[]> = readItems(file, openInput(file), { maxEventBytes: flags.maxEventSize });
        for await (const batch of items) {
          let out = '';
          const sink: ParseSink = {
            rejects: [], read: 0, skipped,
            add(e) {
              out += eventLine(e) + '\n';
              mapped++;
            },
          };
          parser.parse(file, batch, sink);
          read += sink.read;
          sink.rejects.forEach(onReject);
          if (out !== '' && !process.stdout.write(out)) await new Promise((resolve) => process.stdout.once('drain', resolve));
        }
      } catch (e) {
        throw new InputError(`${file}: ${(e as Error).message}`);
      }
    }
  } finally {
    if (rejectsOut !== null) fs.closeSync(rejectsOut);
  }
  const { unbilledStreams } = mapper.finish();
  if (flags.json) process.stderr.write(JSON.stringify({ read, mapped, rejected, skipped, unbilledStreams }) + '\n');
  else if (!quiet) {
    if (rejected > shown && rejectsOut === null) process.stderr.write(`... ${fmt(rejected - shown)} more rejected; --rejects FILE writes them all\n`);
    const total = Object.values(skipped).reduce((a, n) => a + n, 0);
    process.stderr.write(`read ${fmt(read)} · mapped ${fmt(mapped)} · skipped ${fmt(total)} · rejected ${fmt(rejected)}\n`);
    for (const line of skipSummaryLines(skipped, unbilledStreams)) process.stderr.write(line + '\n');
  }
  return rejected > 0 ? ExitCode.rejected : ExitCode.ok;
}
