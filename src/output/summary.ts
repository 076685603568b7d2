/** What ingest and map print about a run: the progress line, the summary and its warnings. */
import type { MapSummary } from '../ingest/map-run.js';
import type { IngestSummary } from '../ingest/pipeline.js';
import type { RejectReport } from './rejects.js';

/** A count as people read it: 1,234,567. */
export function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** The summary line(s) of an ingest. */
export function summaryText(s: IngestSummary): string {
  const lines = [
    `read ${count(s.read)} · inserted ${count(s.inserted)} · duplicates ${count(s.duplicates)}` +
      (s.conflicts ? ` · conflicting duplicates ${count(s.conflicts)}` : '') +
      ` · rejected ${count(s.rejected)} · ${(s.elapsedMs / 1000).toFixed(2)} s · ${count(s.eventsPerSec)} events/s`,
  ];
  if (s.conflicts)
    lines.push(
      `warning: ${count(s.conflicts)} duplicate(s) had the (source, id) of a stored event but other content; the stored one was kept`,
    );
  if (s.missingTime)
    lines.push(
      `warning: ${count(s.missingTime)} event(s) had no time and were stamped with the ingestion time (--require-time rejects them)`,
    );
  if (s.futureTime) lines.push(`warning: ${count(s.futureTime)} event(s) are more than a day in the future: check the producer's clock`);
  for (const [slug, n] of Object.entries(s.unusable)) {
    if (n) lines.push(`warning: meter ${slug}: ${count(n)} new event(s) of its type have no usable value`);
  }
  lines.push(...skipSummaryLines(s.skipped, s.unbilledStreams));
  if (s.interrupted) lines.push('interrupted: everything reported above is committed; run the same command again to finish');
  return lines.join('\n');
}

/**
 * The end of an ingest: with --json the summary as one JSON object on stdout; then how many rejects stderr did not
 * show, and the summary on stderr unless quiet.
 */
export function reportIngest(summary: IngestSummary, rejects: RejectReport, o: { json: boolean; quiet: boolean }): void {
  if (o.json) process.stdout.write(JSON.stringify(summary) + '\n');
  rejects.reportRest(summary.rejected);
  if (!o.quiet) process.stderr.write(summaryText(summary) + '\n');
}

/** The end of a map run, on stderr (stdout holds the events): the JSON summary with --json, else the summary. */
export function reportMap(summary: MapSummary, rejects: RejectReport, o: { json: boolean; quiet: boolean }): void {
  if (o.json) process.stderr.write(JSON.stringify(summary) + '\n');
  else {
    rejects.reportRest(summary.rejected);
    if (!o.quiet) process.stderr.write(mapSummaryText(summary) + '\n');
  }
}

/** The summary line(s) of a map run. */
export function mapSummaryText(s: MapSummary): string {
  const skipped = Object.values(s.skipped).reduce((a, n) => a + n, 0);
  return [
    `read ${count(s.read)} · mapped ${count(s.mapped)} · skipped ${count(skipped)} · rejected ${count(s.rejected)}`,
    ...skipSummaryLines(s.skipped, s.unbilledStreams),
  ].join('\n');
}

/** The skip and unbilled-stream lines of a summary (ingest's and map's). */
export function skipSummaryLines(skipped: Record<string, number>, unbilledStreams: number): string[] {
  const lines: string[] = [];
  const entries = Object.entries(skipped).filter(([, n]) => n > 0);
  if (entries.length > 0) {
    const total = entries.reduce((a, [, n]) => a + n, 0);
    lines.push(`skipped ${count(total)} record(s) without usage: ${entries.map(([r, n]) => `${r} ${count(n)}`).join(' · ')}`);
  }
  if (unbilledStreams > 0) {
    lines.push(
      `warning: ${count(unbilledStreams)} stream(s) ended without their usage and cannot be billed (a Chat Completions stream ` +
        `has it only with stream_options: {"include_usage": true}; a Responses stream, in its last event, which was not read)`,
    );
  }
  return lines;
}

/** What an ingest says on the first Ctrl-C or SIGTERM. */
export function stoppingText(sig: NodeJS.Signals): string {
  return `\n${sig}: stopping after the current batch (again to stop at once, rolling it back)\n`;
}

/**
 * The line a long rollup catch-up before an answer shows on a terminal (a first query after a large ingest
 * aggregates every new event once), erased as it ends.
 */
export function catchUpLine(done: number, total: number): void {
  if (done >= total) {
    process.stderr.write('\r\x1b[K');
    return;
  }
  const share = done > 0 ? `: ${Math.floor((100 * done) / total)}%` : '';
  const line = `aggregating ${count(total)} new events once (later queries read them)${share}`;
  // One row: a line that wraps is erased only on its last row.
  const width = process.stderr.columns;
  process.stderr.write(`\r\x1b[K${width > 1 && line.length >= width ? line.slice(0, width - 1) : line}`);
}

/** The progress line of an ingest, on a terminal only, redrawn at most every 250 ms. */
export class ProgressLine {
  private last = 0;
  constructor(private readonly shown: boolean) {}

  update(s: IngestSummary): void {
    const now = Date.now();
    if (!this.shown || now - this.last < 250) return;
    this.last = now;
    process.stderr.write(
      `\r\x1b[Kread ${count(s.read)} · inserted ${count(s.inserted)} · duplicates ${count(s.duplicates)} · rejected ${count(s.rejected)}`,
    );
  }

  /** Erases the line before the summary is printed. */
  clear(): void {
    if (this.shown) process.stderr.write('\r\x1b[K');
  }
}
