/** meter events: stored events, newest first, to check what ingest stored. */
import { Command, Option } from 'commander';
import { parseQueryTime } from '../core/query.js';
import { formatRfc3339 } from '../core/time.js';
import { UsageError } from '../errors.js';
import { Sink } from '../output/sink.js';
import { TableWriter, useColor } from '../output/table.js';
import { addDbOption, collect, formatOption, positiveInt, withStore } from './common.js';

interface EventsFlags {
  db?: string;
  subject: string[];
  type?: string;
  from?: string;
  to?: string;
  limit: number;
  format: 'table' | 'json' | 'ndjson';
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
    .addHelpText('after', '\nExamples:\n  meter events --subject acme --limit 5\n  meter events --type prompt --from 2026-11-01 --format ndjson | jq .data.tokens')
    .action(async (flags: EventsFlags) => {
      await withStore(flags.db, true, async (store) => {
        const filter = {
          subjects: flags.subject,
          type: flags.type,
          fromMs: flags.from === undefined ? undefined : parseQueryTime(flags.from, 'UTC', '--from'),
          toMs: flags.to === undefined ? undefined : parseQueryTime(flags.to, 'UTC', '--to'),
          limit: flags.limit,
        };
        // As `meter query` does: an empty range is a mistake in the flags, not an empty answer.
        if (filter.fromMs !== undefined && filter.toMs !== undefined && filter.fromMs >= filter.toMs) {
          throw new UsageError(`--from ${flags.from} is not before --to ${flags.to} (from is inclusive, to is exclusive)`);
        }
        const sink = Sink.open(undefined);
        const asObject = (e: { id: string; source: string; type: string; subject: string; timeMs: number; data: string | null }) =>
          `{"specversion":"1.0","id":${JSON.stringify(e.id)},"source":${JSON.stringify(e.source)},"type":${JSON.stringify(e.type)},` +
          `"subject":${JSON.stringify(e.subject)},"time":"${formatRfc3339(e.timeMs)}","data":${e.data ?? 'null'}}`;
        if (flags.format === 'table') {
          const table = new TableWriter(['time', 'subject', 'type', 'source', 'id', 'data'], new Set(), useColor(process.stdout), sink);
          for await (const e of store.events(filter)) {
            const data = e.data ?? '';
            await table.row([formatRfc3339(e.timeMs), e.subject, e.type, e.source, e.id, data.length > 60 ? data.slice(0, 57) + '...' : data]);
          }
          if ((await table.end()) === 0) await sink.write('(no events)\n');
        } else {
          let first = true;
          if (flags.format === 'json') await sink.write('[');
          for await (const e of store.events(filter)) {
            if (flags.format === 'json') await sink.write((first ? '\n' : ',\n') + asObject(e));
            else await sink.write(asObject(e) + '\n');
            first = false;
          }
          if (flags.format === 'json') await sink.write(first ? ']\n' : '\n]\n');
        }
        await sink.close();
      });
    });
  return cmd;
}
