/** meter events: stored events, newest first, to check what ingest stored. */
import { Command, Option } from 'commander';
import { planEventFilter } from '../core/event-filter.js';
import { renderEvents, type EventsFormat } from '../output/events.js';
import { Sink } from '../output/sink.js';
import { useColor } from '../output/table.js';
import { addDbOption, collect, formatOption, positiveInt, withStore } from './common.js';

interface EventsFlags {
  db?: string;
  subject: string[];
  type?: string;
  from?: string;
  to?: string;
  limit: number;
  format: EventsFormat;
}

export function eventsCommand(): Command {
  const cmd = new Command('events').description('list stored events, newest first');
  addDbOption(cmd);
  cmd
    .option('-s, --subject <subject>', 'only this subject (repeatable)', collect, [])
    .option('-t, --type <type>', 'only this event type')
    .option('--from <time>', 'event time from (inclusive), RFC 3339 or a UTC date')
    .option('--to <time>', 'event time to (exclusive), RFC 3339 or a UTC date')
    .addOption(new Option('-n, --limit <n>', 'at most this many events').argParser(positiveInt('--limit')).default(20))
    .addOption(formatOption(['table', 'json', 'ndjson'], 'table'))
    .addHelpText(
      'after',
      '\nExamples:\n  meter events --subject acme --limit 5\n  meter events --type prompt --from 2026-11-01 --format ndjson | jq .data.tokens',
    )
    .action(async (flags: EventsFlags) => {
      await withStore(flags.db, true, async (store) => {
        const filter = planEventFilter({ subjects: flags.subject, type: flags.type, from: flags.from, to: flags.to, limit: flags.limit });
        const sink = Sink.open(undefined);
        await renderEvents(store.events(filter), flags.format, sink, useColor(process.stdout));
        await sink.close();
      });
    });
  return cmd;
}
