/**
 * meter map --map NAME|FILE [FILE...]: raw records to CloudEvents, printed as NDJSON on stdout instead of stored
 * (to inspect a mapping, or to send the events elsewhere). The events are exactly those `ingest --map` stores:
 * validated, with `data` in canonical form. Skips and rejects are reported on stderr as ingest reports them.
 */
import { Command, Option } from 'commander';
import { createMapper } from '../core/maps/index.js';
import { ExitCode, UsageError } from '../errors.js';
import { mapInputs, type MapSummary } from '../ingest/map-run.js';
import { inputsOf } from '../input/open.js';
import { writeEvents } from '../output/events.js';
import type { KeptFile } from '../output/overwrite.js';
import { RejectReport } from '../output/rejects.js';
import { reportMap } from '../output/summary.js';
import { addMapOptions, keptInputs, loadMap, maxEventSize, setOutcome, type MapFlags } from './common.js';

interface MapCommandFlags extends MapFlags {
  rejects?: string;
  maxEventSize: number;
  requireTime?: boolean;
  json?: boolean;
  quiet?: boolean;
}

export function mapCommand(): Command {
  const cmd = new Command('map')
    .description('map raw records (OpenAI responses, batch output, gateway logs) to CloudEvents and print them as NDJSON')
    .argument('[files...]', 'input files; - or none reads stdin');
  addMapOptions(cmd);
  cmd
    .option('--rejects <file>', 'write every rejected input as an NDJSON line {file,line,error,raw}')
    .addOption(new Option('--max-event-size <bytes>', 'largest accepted record').argParser(maxEventSize).default(1 << 20))
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

Exit codes: 0 all input mapped or skipped · 3 some input rejected · 2 usage error (bad flag, invalid mapping file) · 1 failure (an input or stdout cannot be read or written) · 130 interrupted`,
    )
    .action(async (files: string[], flags: MapCommandFlags, command: Command) => {
      setOutcome(command, await runMap(files, flags));
    });
  return cmd;
}

async function runMap(files: string[], flags: MapCommandFlags): Promise<number> {
  if (flags.map === undefined) throw new UsageError(`map: --map is required (openai, litellm, or a mapping file)`);
  const choice = loadMap(flags)!;
  const inputs = inputsOf(files);
  // The raw logs and the mapping file are what the run reads: --rejects never overwrites them (as in ingest).
  const rejects = RejectReport.open(flags.rejects, flags.quiet ?? false, [
    ...(choice.spec === undefined ? [] : [[choice.name, 'the mapping file (--map)'] as KeptFile]),
    ...keptInputs(inputs),
  ]);
  let summary: MapSummary;
  try {
    summary = await mapInputs({
      inputs,
      mapper: createMapper(choice),
      requireTime: flags.requireTime ?? false,
      maxEventBytes: flags.maxEventSize,
      onEvents: (events) => writeEvents(events),
      onReject: (r) => rejects.add(r),
    });
  } finally {
    rejects.close();
  }
  reportMap(summary, rejects, { json: flags.json ?? false, quiet: flags.quiet ?? false });
  return summary.rejected > 0 ? ExitCode.rejected : ExitCode.ok;
}
