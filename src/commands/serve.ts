/**
 * meter serve: OpenMeter's v1 HTTP API on the same store, so applications and the official SDK work unchanged.
 * Options -> the store, the meters and the server (src/http/) -> serve until SIGINT/SIGTERM -> commit, close, exit 0.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { formatRfc3339 } from '../core/time.js';
import { MeterError, UsageError } from '../errors.js';
import { PORTAL_KEY_BYTES, PortalKeyError, PortalSigner } from '../http/auth.js';
import { BodyParser } from '../http/body-parser.js';
import { ApiServer } from '../http/server.js';
import { GroupCommitter, storeLock } from '../ingest/group-commit.js';
import { nextStopSignal } from '../ingest/signals.js';
import { isClickHouseUrl, openStore, resolveDb } from '../store/open.js';
import type { Store } from '../store/store.js';
import { addConfigOption, addDbOption, loadMeters, positiveInt } from './common.js';

interface ServeFlags {
  db?: string;
  config?: string;
  host?: string;
  port: number;
  token?: string;
  maxBody: number;
  bodyTimeout: number;
  maxQueued: number;
  syncEachCommit?: boolean;
  portalKey?: string;
}

const LOOPBACK = '127.0.0.1';

export function serveCommand(): Command {
  const cmd = new Command('serve').description("serve OpenMeter's v1 HTTP API (ingest, meters, query, events, subjects) on the store");
  addDbOption(cmd);
  addConfigOption(cmd);
  cmd
    .option('--host <host>', `address to listen on (default ${LOOPBACK}; without --token, another address is open to whoever reaches it)`)
    .addOption(new Option('--port <n>', 'port (0: any free port)').argParser(portNumber).default(8888))
    .option(
      '--token <token>',
      "require Authorization: Bearer <token> on every route but the portal's and the two pages (default: $METER_TOKEN)",
    )
    .addOption(
      new Option('--max-body <bytes>', 'largest request body; larger ones get 413').argParser(positiveInt('--max-body')).default(4 << 20),
    )
    .addOption(
      new Option('--body-timeout <ms>', 'a request body must arrive within this time (408)')
        .argParser(positiveInt('--body-timeout'))
        .default(30_000),
    )
    .addOption(
      new Option('--max-queued <events>', 'events waiting to be committed before ingest answers 503 with Retry-After')
        .argParser(positiveInt('--max-queued'))
        .default(200_000),
    )
    .option('--sync-each-commit', 'make every commit durable against power loss before answering 204 (slower)')
    .option(
      '--portal-key <file>',
      'signing key of portal tokens, created when absent (default: next to the SQLite store, or ./meter-portal.key)',
    )
    .addHelpText(
      'after',
      `
Examples:
  meter serve --config meter.yaml                                  # http://127.0.0.1:8888, loopback only, no auth
  METER_TOKEN=s3cret-t0ken meter serve --host 0.0.0.0 --port 8888  # the API needs Authorization: Bearer s3cret-t0ken
  meter serve --db clickhouse://127.0.0.1:18123/meter --config meter.yaml   # scripts/clickhouse.sh's server

  curl -X POST localhost:8888/api/v1/events -H 'Content-Type: application/cloudevents+json' \\
    -d '{"specversion":"1.0","id":"1","source":"app","type":"prompt","subject":"acme","data":{"tokens":5}}'
  curl 'localhost:8888/api/v1/meters/tokens_total/query?windowSize=DAY&groupBy=subject'
  xdg-open 'http://localhost:8888/?period=2026-11&tz=Europe/Budapest'   # the usage report page (#token=... with --token)

A 204 from POST /api/v1/events means every event of the request is committed (a crash of the process loses none);
an error means none is stored. Re-sent events (same source and id) answer 204 and change nothing.
SIGINT/SIGTERM: stop accepting, answer every request in flight, commit, close the store, exit 0.`,
    )
    .action(async (flags: ServeFlags) => {
      await runServe(flags);
    });
  return cmd;
}

/**
 * How the API reads. SQLite: through the server's own connection, in turn with commits (a read holds a transaction
 * while its rows stream, and a commit must not begin inside it). ClickHouse: through a read-only handle per
 * request, as each `meter query` has one: a handle settles once how reads must deduplicate (which depends on
 * concurrent writers, see src/store/clickhouse/races.ts), and a server's handle lives for days.
 */
function readerFor(db: string, store: Store, lock: <T>(fn: () => Promise<T>) => Promise<T>) {
  if (!isClickHouseUrl(db)) return <T>(fn: (s: Store) => Promise<T>): Promise<T> => lock(() => fn(store));
  return async <T>(fn: (s: Store) => Promise<T>): Promise<T> => {
    const reader = await openStore(db, { readonly: true });
    try {
      return await fn(reader);
    } finally {
      await reader.close();
    }
  };
}

function portNumber(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new UsageError(`--port "${value}": must be a port number from 0 to 65535`);
  return n;
}

/**
 * The process's command line (what `ps` and /proc/PID/cmdline show every local user) with the value of --token
 * replaced by ***: Node writes a process title over the arguments' memory. It shows for the moment before this.
 */
function maskTokenArgument(): void {
  const args = process.argv.slice(2).map((a, i, all) => (all[i - 1] === '--token' ? '***' : a.startsWith('--token=') ? '--token=***' : a));
  process.title = ['meter', ...args].join(' ');
}

async function runServe(flags: ServeFlags): Promise<void> {
  const { meters, file } = loadMeters(flags.config);
  // A METER_TOKEN set but left empty means no token.
  const token = flags.token ?? (process.env.METER_TOKEN || null);
  // Named as it was given: a token from the environment is no --token the user typed.
  const given = flags.token === undefined ? 'METER_TOKEN' : '--token';
  if (flags.token !== undefined) maskTokenArgument();
  if (token !== null && token.length < 8) throw new UsageError(`${given}: use at least 8 characters`);
  // A header carries no newline or space inside a bearer token, and Node reads its bytes as Latin-1: a token with
  // anything but visible ASCII (a secret file's trailing newline) could never be sent, and every request would get 401.
  if (token !== null && !/^[\x21-\x7e]+$/.test(token))
    throw new UsageError(
      `${given}: only visible ASCII characters (no spaces, newlines or accents) can be sent in an Authorization header${given === 'METER_TOKEN' ? ' (a trailing newline?)' : ''}`,
    );
  const db = resolveDb(flags.db);
  const keyFile = flags.portalKey ?? (isClickHouseUrl(db) ? 'meter-portal.key' : `${path.resolve(db)}.portal-key`);
  const store = await openStore(db, {});
  const log = (line: string) => process.stderr.write(line + '\n');
  try {
    let signer: PortalSigner;
    try {
      signer = PortalSigner.fromFile(keyFile);
    } catch (e) {
      if (e instanceof PortalKeyError) {
        throw new UsageError(
          `--portal-key ${e.file}: ${e.problem}, so anyone could forge portal tokens. Delete the file (meter serve then ` +
            `writes a new random key to it) or put a key of at least ${PORTAL_KEY_BYTES} random bytes in it as base64url`,
        );
      }
      throw new UsageError(`--portal-key ${keyFile}: cannot read or create (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    const lock = storeLock();
    const committer = new GroupCommitter(store, { maxQueued: flags.maxQueued, syncEachCommit: flags.syncEachCommit ?? false, lock });
    const metersCreatedAt = formatRfc3339(file === null ? 0 : Math.floor(fs.statSync(file).mtimeMs));
    const bodies = new BodyParser();
    const host = flags.host ?? LOOPBACK;
    const server = new ApiServer(
      {
        store,
        meters,
        metersCreatedAt,
        committer,
        bodies,
        read: readerFor(db, store, lock),
        limits: { maxBytes: flags.maxBody, timeoutMs: flags.bodyTimeout },
        token,
        signer,
      },
      { host, port: flags.port, log },
    );
    // Listened for before the server says it listens: a supervisor may stop it the moment it reads that line.
    const stopped = nextStopSignal();
    let url: string;
    try {
      url = await server.listen();
    } catch (e) {
      throw new MeterError(`cannot listen on ${host}:${flags.port}: ${listenProblem(e)}`);
    }
    log(`meter serve: listening on ${url} (store ${store.location}, ${meters.length} meter(s))`);
    if (token === null) {
      log(
        flags.host === undefined
          ? 'meter serve: no --token: open to every local user, listening on loopback only'
          : `meter serve: no --token: anyone who can reach ${host} can read and write usage`,
      );
    } else
      log("meter serve: every route needs Authorization: Bearer <token>, but the portal's (its own tokens) and the pages / and /portal");
    const signal = await stopped;
    log(`meter serve: ${signal}: finishing requests in flight`);
    // A second signal does not cut this short: every request in flight is answered with what was committed.
    const ignore = () => log('meter serve: still finishing requests in flight');
    process.on('SIGINT', ignore);
    process.on('SIGTERM', ignore);
    await server.stop();
    await bodies.close();
    await committer.drain();
    await lock(async () => {
      try {
        await store.settle();
      } catch (e) {
        // Every acknowledged event is committed (staged); the next process that opens the store merges them.
        log(`meter serve: staged events stay to be merged by the next run that opens the store: ${(e as Error).message}`);
      }
      await store.sync();
    });
    log(
      `meter serve: stopped; ${committer.events.toLocaleString('en-US')} event(s) committed in ${committer.commits.toLocaleString('en-US')} commit(s)`,
    );
  } finally {
    await store.close();
  }
}

/** Why a server cannot listen, in words (with the system's code, for a search). */
function listenProblem(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') return 'the port is in use (by another meter serve?); choose another with --port (EADDRINUSE)';
  if (code === 'EACCES') return 'permission denied (ports below 1024 need privileges); choose another with --port (EACCES)';
  if (code === 'EADDRNOTAVAIL') return 'this machine has no such address; check --host (EADDRNOTAVAIL)';
  return code ?? (e as Error).message;
}
