/**
 * Environment faults: a read-only store, a store in a missing folder, a corrupted store, a foreign SQLite file, a
 * full disk, a missing input among several. Each gives a clear message naming the path, the documented exit code
 * (1 store failure, 2 usage), no stack trace, and never a half-written batch. The store is created owner-only.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { SqliteStore } from '../src/store/sqlite/store.js';
import { keyedEvent } from './fixtures.js';
import { BIN, Workdir, line, type RunResult } from './helpers.js';

const workdirs: Workdir[] = [];
function workdir(name: string): Workdir {
  const w = new Workdir(name);
  workdirs.push(w);
  return w;
}
/** Files made immutable by a test; made mutable again at the end whatever happens, so they can be removed. */
const immutable = new Set<string>();
after(() => {
  for (const p of immutable) spawnSync('chattr', ['-i', p]);
  workdirs.forEach((w) => w.remove());
});

const IS_ROOT = process.getuid?.() === 0;

function events(n: number, prefix = 'e', tokens = 1): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      line({
        id: `${prefix}${i}`,
        subject: `c${i % 10}`,
        time: new Date(Date.parse('2026-10-01T00:00:00Z') + i * 1000).toISOString(),
        data: { tokens },
      }),
    );
  }
  return out;
}

function count(w: Workdir, db: string): number {
  const d = new Database(w.path(db), { readonly: true });
  try {
    return d.prepare('SELECT count(*) FROM events').pluck().get() as number;
  } finally {
    d.close();
  }
}

function sha(p: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');
}

/** A store failure: exit 1, `meter: <path>: ...` with the given words, no stack trace, no internal error. */
function assertStoreFailure(r: RunResult, path: string, words: RegExp): void {
  assert.equal(r.code, 1, r.describe());
  assert.ok(r.stderr.includes(path), `the message does not name ${path}\n${r.describe()}`);
  assert.match(r.stderr, words, r.describe());
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at |SqliteError|Error:/, r.describe());
}

function assertUsageFailure(r: RunResult, path: string): void {
  assert.equal(r.code, 2, r.describe());
  assert.ok(r.stderr.includes(path), `the message does not name ${path}\n${r.describe()}`);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, r.describe());
}

/** Makes a path immutable with chattr +i; false when the file system or the tool does not allow it. */
function makeImmutable(p: string): boolean {
  const r = spawnSync('chattr', ['+i', p], { encoding: 'utf8' });
  if (r.status !== 0) return false;
  immutable.add(p);
  return true;
}

function makeMutable(p: string): void {
  spawnSync('chattr', ['-i', p]);
  immutable.delete(p);
}

function query(w: Workdir, db: string): RunResult {
  return w.run(['query', '--db', db, '--all-subjects', '--format', 'csv']);
}

describe('environment faults', () => {
  test('a read-only store file: ingest fails with exit 1 naming the file, nothing changes, queries still work', () => {
    const w = workdir('fault-readonly');
    w.write('a.ndjson', events(100, 'a'));
    w.write('b.ndjson', events(100, 'b'));
    assert.equal(w.run(['ingest', 'a.ndjson', '--db', 'ro.db']).code, 0);
    const before = sha(w.path('ro.db'));
    let how: string;
    if (!IS_ROOT) {
      fs.chmodSync(w.path('ro.db'), 0o444);
      how = 'chmod 0444';
    } else if (makeImmutable(w.path('ro.db'))) {
      // root ignores file modes; an immutable file is read-only even for root.
      how = 'chattr +i';
    } else {
      // root on a file system without chattr: 0444 does not stop root, and meter must then simply work.
      fs.chmodSync(w.path('ro.db'), 0o444);
      const r = w.run(['ingest', 'b.ndjson', '--db', 'ro.db']);
      assert.equal(r.code, 0, `root ignores 0444; ingest should work\n${r.describe()}`);
      assert.equal(count(w, 'ro.db'), 200);
      return;
    }
    const r = w.run(['ingest', 'b.ndjson', '--db', 'ro.db']);
    assertStoreFailure(r, 'ro.db', /read-only/);
    assert.equal(sha(w.path('ro.db')), before, `${how}: the store changed`);
    const q = query(w, 'ro.db');
    assert.equal(q.code, 0, q.describe());
    assert.match(q.stdout, /,100\n$/);
    if (how === 'chattr +i') makeMutable(w.path('ro.db'));
    assert.equal(count(w, 'ro.db'), 100);
  });

  test('a read-only folder (a backup, a read-only mount): ingest fails naming the path, query still reads the store', (t) => {
    const w = workdir('fault-rodir');
    w.write('a.ndjson', events(50, 'a'));
    fs.mkdirSync(w.path('snap'));
    assert.equal(w.run(['ingest', 'a.ndjson', '--db', 'snap/s.db']).code, 0);
    if (IS_ROOT ? !makeImmutable(w.path('snap')) : (fs.chmodSync(w.path('snap'), 0o555), false)) {
      t.diagnostic('chattr +i is not available here: a read-only folder cannot be made for root');
      return;
    }
    try {
      const r = w.run(['ingest', 'a.ndjson', '--db', 'snap/s.db']);
      assertStoreFailure(r, 'snap/s.db', /read-only|cannot open|writable/);
      const q = query(w, 'snap/s.db');
      assert.equal(q.code, 0, `a store in a read-only folder cannot be queried\n${q.describe()}`);
      assert.match(q.stdout, /,50\n$/);
    } finally {
      if (IS_ROOT) makeMutable(w.path('snap'));
      else fs.chmodSync(w.path('snap'), 0o755);
    }
  });

  test('a store in a missing folder: exit 1, the message names the path, no folder is created', () => {
    const w = workdir('fault-nodir');
    w.write('a.ndjson', events(5));
    const r = w.run(['ingest', 'a.ndjson', '--db', 'no/such/folder/m.db']);
    assertStoreFailure(r, 'no/such/folder/m.db', /does not exist|cannot open/);
    assert.ok(!fs.existsSync(w.path('no')), 'a folder was created');
    for (const cmd of ['query', 'stats', 'subjects', 'events']) {
      const q = w.run([cmd, '--db', 'no/such/folder/m.db']);
      assertStoreFailure(q, 'no/such/folder/m.db', /no store|does not exist|cannot open/);
    }
  });

  test('an empty store file (another meter creating the store this moment): readers say no store here yet, exit 1', () => {
    const w = workdir('fault-empty');
    w.write('e.db', '');
    for (const cmd of ['query', 'stats', 'subjects', 'events']) {
      assertStoreFailure(
        w.run([cmd, '--db', 'e.db']),
        'e.db',
        /^meter: e\.db: no store here yet \(an empty file: run `meter ingest` first, or pass --db\)$/m,
      );
    }
    assert.equal(fs.statSync(w.path('e.db')).size, 0, 'a reader wrote the file');
    w.write('a.ndjson', events(5));
    assert.equal(w.run(['ingest', 'a.ndjson', '--db', 'e.db', '-q']).code, 0);
    assert.equal(query(w, 'e.db').code, 0);
  });

  test('a corrupted store (random bytes, a damaged page, a truncated file): exit 1, clear message, file untouched', () => {
    const w = workdir('fault-corrupt');
    w.write('a.ndjson', events(20_000));
    assert.equal(w.run(['ingest', 'a.ndjson', '--db', 'good.db', '-q']).code, 0);
    const good = fs.readFileSync(w.path('good.db'));
    const random = crypto.randomBytes(64 * 1024);
    const damaged = Buffer.from(good);
    crypto.randomBytes(200 * 4096).copy(damaged, 20 * 4096);
    const withHeader = Buffer.concat([Buffer.from('SQLite format 3\u0000'), crypto.randomBytes(8192)]);
    const cases: Array<[string, Buffer]> = [
      ['random.db', random],
      ['damaged.db', damaged],
      ['truncated.db', good.subarray(0, Math.floor(good.length / 2))],
      ['header-only.db', withHeader],
    ];
    for (const [name, bytes] of cases) {
      w.write(name, bytes);
      const before = sha(w.path(name));
      for (const cmd of [['ingest', 'a.ndjson'], ['query'], ['stats'], ['subjects'], ['events']]) {
        const r = w.run([...cmd, '--db', name]);
        assertStoreFailure(r, name, /damaged|not a meter store|corrupt|malformed/);
      }
      assert.equal(sha(w.path(name)), before, `${name}: meter wrote into a damaged store`);
    }
  });

  test('a SQLite file that is not a meter store is refused and left unchanged', () => {
    const w = workdir('fault-foreign');
    w.write('a.ndjson', events(10));
    for (const [name, sql] of [
      ['crm.db', "CREATE TABLE customers (name TEXT, plan TEXT); INSERT INTO customers VALUES ('acme', 'pro');"],
      ['other-events.db', "CREATE TABLE events (what TEXT, at INTEGER); INSERT INTO events VALUES ('login', 1);"],
    ] as const) {
      const d = new Database(w.path(name));
      d.exec(sql);
      d.close();
      const before = sha(w.path(name));
      const r = w.run(['ingest', 'a.ndjson', '--db', name]);
      assertStoreFailure(r, name, /not a meter store/);
      assert.equal(sha(w.path(name)), before, `${name}: meter changed a database that is not its store`);
      const d2 = new Database(w.path(name), { readonly: true });
      const tables = d2.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
      d2.close();
      assert.equal(tables.length, 1, `${name} now holds ${tables.join(', ')}`);
    }
  });

  test('a full disk (max_page_count): exit 1 saying full, only whole batches stored, a re-run completes', () => {
    const w = workdir('fault-full');
    const N = 60_000;
    const BATCH = 1000;
    w.write('a.ndjson', events(N, 'f', 3));
    // A store with one event, then a page limit that leaves room for about 4 MB more (whatever the page size).
    w.write('seed.ndjson', [line({ id: 'seed', data: { tokens: 0 } })]);
    assert.equal(w.run(['ingest', 'seed.ndjson', '--db', 'full.db']).code, 0);
    const s = new Database(w.path('full.db'), { readonly: true });
    const pageSize = s.pragma('page_size', { simple: true }) as number;
    const pages = s.pragma('page_count', { simple: true }) as number;
    s.close();
    const env = { METER_SQLITE_MAX_PAGE_COUNT: String(pages + Math.ceil((4 << 20) / pageSize)) };
    const r = w.run(['ingest', 'a.ndjson', '--db', 'full.db', '--batch-size', String(BATCH), '--json'], { env });
    assertStoreFailure(r, 'full.db', /full/);
    const d = new Database(w.path('full.db'));
    assert.equal(d.pragma('integrity_check', { simple: true }), 'ok');
    const n = (d.prepare('SELECT count(*) FROM events').pluck().get() as number) - 1;
    const sum = d.prepare("SELECT coalesce(sum(json_extract(data, '$.tokens')), 0) FROM events").pluck().get();
    // The committed events are a prefix of the input: a failed batch leaves nothing behind.
    const ids = d.prepare("SELECT CAST(substr(id, 2) AS INTEGER) AS i FROM events WHERE id != 'seed' ORDER BY i").pluck().all() as number[];
    d.close();
    assert.ok(n > 0 && n < N, `the limit should stop the run half-way (stored ${n})`);
    assert.equal(sum, 3 * n);
    assert.ok(
      ids.every((v, i) => v === i),
      'the stored events are not a prefix of the input',
    );
    assert.equal(n % BATCH, 0, `${n} events stored: not a whole number of --batch-size ${BATCH} batches`);
    // The message says how much of the run was kept.
    assert.match(
      r.stderr,
      new RegExp(
        `; ${n.toLocaleString('en-US')} inserted event\\(s\\) committed before it are kept: run the same command again to finish\\n$`,
      ),
      r.describe(),
    );
    // Room again: the same command finishes the job, exactly.
    const again = w.run(['ingest', 'a.ndjson', '--db', 'full.db', '--batch-size', String(BATCH), '--json']);
    assert.equal(again.code, 0, again.describe());
    assert.equal(JSON.parse(again.stdout).inserted, N - n);
    assert.equal(count(w, 'full.db'), N + 1);
  });

  test('a missing input among several: exit 2 naming the file, nothing ingested', () => {
    const w = workdir('fault-missing');
    w.write('a.ndjson', events(10, 'a'));
    w.write('c.ndjson', events(10, 'c'));
    const r = w.run(['ingest', 'a.ndjson', 'missing.ndjson', 'c.ndjson', '--db', 'm.db']);
    assertUsageFailure(r, 'missing.ndjson');
    assert.ok(!fs.existsSync(w.path('m.db')) || count(w, 'm.db') === 0, 'events were ingested');
    // Into an existing store: unchanged.
    assert.equal(w.run(['ingest', 'a.ndjson', '--db', 'm.db']).code, 0);
    const r2 = w.run(['ingest', 'c.ndjson', 'gone.ndjson.gz', '--db', 'm.db']);
    assertUsageFailure(r2, 'gone.ndjson.gz');
    assert.equal(count(w, 'm.db'), 10);
    // A folder given as input, and a rejects file that cannot be written: usage errors, nothing ingested.
    fs.mkdirSync(w.path('folder.ndjson'));
    assertUsageFailure(w.run(['ingest', 'c.ndjson', 'folder.ndjson', '--db', 'm.db']), 'folder.ndjson');
    assertUsageFailure(w.run(['ingest', 'c.ndjson', '--db', 'm.db', '--rejects', 'no/dir/rejects.ndjson']), 'no/dir/rejects.ndjson');
    assert.equal(count(w, 'm.db'), 10);
  });

  test('outputs that cannot be written give exit 1 naming them: the --json summary, the --rejects file', () => {
    const w = workdir('fault-outputs');
    w.write('a.ndjson', [...events(5, 'a'), '{bad', ...events(5, 'b')]);
    const full = fs.openSync('/dev/full', 'w');
    try {
      const r = spawnSync(process.execPath, [BIN, 'ingest', 'a.ndjson', '--db', 'm.db', '--json', '--quiet'], {
        cwd: w.dir,
        stdio: ['ignore', full, 'pipe'],
        encoding: 'utf8',
      });
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /^meter: standard output: cannot write \(ENOSPC\)$/m);
    } finally {
      fs.closeSync(full);
    }
    const rejects = w.run(['ingest', 'a.ndjson', '--db', 'n.db', '--rejects', '/dev/full']);
    assert.equal(rejects.code, 1, rejects.describe());
    assert.match(rejects.stderr, /^meter: --rejects \/dev\/full: cannot write \(ENOSPC\)$/m);
  });

  test('a store file that exists but is empty (touch) gets 64 KiB pages; --max-event-size past 500 MiB is refused (exit 2)', () => {
    const w = workdir('fault-empty');
    w.write('a.ndjson', events(3, 'a'));
    fs.writeFileSync(w.path('m.db'), '');
    assert.equal(w.run(['ingest', 'a.ndjson', '--db', 'm.db']).code, 0);
    const db = new Database(w.path('m.db'), { readonly: true });
    assert.equal(db.pragma('page_size', { simple: true }), 65536);
    db.close();
    for (const cmd of [
      ['ingest', '--db', 'm.db'],
      ['map', '--map', 'openai'],
    ]) {
      const r = w.run([...cmd, '--max-event-size', '524288001', 'a.ndjson']);
      assert.equal(r.code, 2, r.describe());
      assert.match(r.stderr, /--max-event-size "524288001": at most 524288000/);
    }
    assert.equal(w.run(['map', '--map', 'openai', '--max-event-size', '524288000', 'a.ndjson']).code, 3);
  });

  test('the store, its WAL and the rejects file are created owner-only (0600)', async () => {
    const w = workdir('fault-mode');
    w.write('a.ndjson', [...events(150_000), '{broken']);
    const { child, done } = w.spawn(['ingest', 'a.ndjson', '--db', 'new.db', '--rejects', 'rejects.ndjson', '--batch-size', '1000']);
    // While the run is writing, the -wal and -shm files exist.
    let walMode: number | null = null,
      shmMode: number | null = null;
    for (let i = 0; i < 400 && (walMode === null || shmMode === null); i++) {
      try {
        walMode = fs.statSync(w.path('new.db-wal')).mode & 0o777;
        shmMode = fs.statSync(w.path('new.db-shm')).mode & 0o777;
      } catch {
        await sleep(10);
      }
    }
    const r = await done;
    assert.equal(r.code, 3, r.describe());
    assert.equal(fs.statSync(w.path('new.db')).mode & 0o777, 0o600);
    assert.equal(fs.statSync(w.path('rejects.ndjson')).mode & 0o777, 0o600);
    assert.notEqual(walMode, null, 'never saw the -wal file');
    assert.equal(walMode, 0o600, '-wal mode');
    if (shmMode !== null) assert.equal(shmMode, 0o600, '-shm mode');
    child.kill();
  });
});

/** Runs bin/meter as the unprivileged user nobody (65534) through setpriv, or null when this is not possible. */
function runAsNobody(w: Workdir, args: string[]): RunResult | null {
  const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, BIN, ...args], {
    cwd: w.dir,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, NO_COLOR: '1' },
  });
  if (r.error) return null;
  return {
    code: r.status,
    signal: r.signal,
    stdout: r.stdout,
    stderr: r.stderr,
    describe: () =>
      `(as nobody) meter ${args.join(' ')}\n  in ${w.dir}\n  status ${r.status}\n  stdout: ${r.stdout.slice(0, 2000)}\n  stderr: ${r.stderr.slice(0, 2000)}`,
  };
}

describe('read-only stores', () => {
  test('an unprivileged user reads a store it may not write: file 0444 or 0644, folder read-only, with and without a WAL left by a killed run', async (t) => {
    // As root (CI) the reader is really unprivileged, through setpriv; as another user the store is simply not
    // its own to write, which is the same situation.
    const asNobody = IS_ROOT && spawnSync('setpriv', ['--version']).status === 0;
    const w = workdir('ro-reader');
    const reader = (args: string[]) => (asNobody ? runAsNobody(w, args)! : w.run(args));
    if (!asNobody) t.diagnostic(IS_ROOT ? 'setpriv missing: reading as root' : 'reading as this (unprivileged) user');
    w.write('a.ndjson', events(200_000, 'a'));
    fs.mkdirSync(w.path('ro'));
    // A store left by a killed run: committed batches partly in its WAL (no checkpoint yet).
    const { child, done } = w.spawn(['ingest', 'a.ndjson', '--db', 'ro/live.db', '--batch-size', '1000']);
    const stored = () => {
      try {
        return count(w, 'ro/live.db');
      } catch {
        return 0; // not created yet
      }
    };
    for (let i = 0; i < 6000 && stored() < 5000; i++) await sleep(5);
    child.kill('SIGKILL');
    await done;
    assert.equal(w.run(['ingest', 'a.ndjson', '--db', 'ro/clean.db', '-q']).code, 0);
    // What the killed run committed, read by the owner with SQLite itself (a read-only connection recovers the WAL
    // without checkpointing it).
    const live = count(w, 'ro/live.db');
    assert.ok(live > 0, 'the killed run committed nothing');
    assert.ok(fs.existsSync(w.path('ro/live.db-wal')), 'the killed run left no WAL');
    fs.chmodSync(w.dir, 0o755);
    for (const f of fs.readdirSync(w.path('ro'))) fs.chmodSync(w.path('ro', f), f.endsWith('clean.db') ? 0o444 : 0o644);
    fs.chmodSync(w.path('ro'), 0o555);
    try {
      for (const [db, n] of [
        ['ro/clean.db', 200_000],
        ['ro/live.db', live],
      ] as const) {
        for (const cmd of [
          ['stats', '--json'],
          ['subjects', '--format', 'csv'],
          ['events', '-n', '3', '--format', 'ndjson'],
          ['query', '--all-subjects', '--format', 'csv'],
        ]) {
          const r = reader([...cmd, '--db', db]);
          assert.equal(r.code, 0, r.describe());
          if (cmd[0] === 'stats') assert.equal(JSON.parse(r.stdout).events, n, r.describe());
          if (cmd[0] === 'query') assert.match(r.stdout, new RegExp(`,${n}\\n$`), r.describe());
        }
        // Writing is still refused, naming the store.
        if (asNobody || !IS_ROOT) assertStoreFailure(reader(['ingest', 'a.ndjson', '--db', db]), db, /read-only|cannot open|writable/);
      }
    } finally {
      fs.chmodSync(w.path('ro'), 0o755);
    }
    assert.equal(count(w, 'ro/live.db'), live, 'reading changed the store');
  });

  test('events a server staged are counted by a reader that may not write the store (merged in a private copy), and the store is left as it was', async (t) => {
    const asNobody = IS_ROOT && spawnSync('setpriv', ['--version']).status === 0;
    const w = workdir('ro-staged');
    const reader = (args: string[]) => (asNobody ? runAsNobody(w, args)! : w.run(args));
    if (!asNobody) t.diagnostic(IS_ROOT ? 'setpriv missing: reading as root' : 'reading as this (unprivileged) user');
    fs.mkdirSync(w.path('ro'));
    const s = SqliteStore.open(w.path('ro/m.db'));
    await s.writeBatch([keyedEvent('a', 1)], 0);
    // Staged by a server that was then killed: nothing merged them.
    await s.stage([keyedEvent('b', 2), keyedEvent('c', 3, { subject: 'globex' }), keyedEvent('a', 1, { data: '{"tokens":50}' })], 0);
    s.closeNow();
    const staged = () => {
      const db = new Database(w.path('ro/m.db'), { readonly: true });
      try {
        return db.prepare('SELECT count(*) FROM staged').pluck().get();
      } finally {
        db.close();
      }
    };
    assert.equal(staged(), 1);
    fs.chmodSync(w.dir, 0o755);
    for (const f of fs.readdirSync(w.path('ro'))) fs.chmodSync(w.path('ro', f), 0o644);
    fs.chmodSync(w.path('ro'), 0o555);
    try {
      const stats = reader(['stats', '--json', '--db', 'ro/m.db']);
      assert.equal(stats.code, 0, stats.describe());
      assert.equal(JSON.parse(stats.stdout).events, 3, stats.describe());
      const q = reader(['query', '--format', 'csv', '--db', 'ro/m.db']);
      assert.equal(q.code, 0, q.describe());
      assert.match(q.stdout, /,acme,prompt,2\n/, q.describe());
      assert.match(q.stdout, /,globex,prompt,1\n/, q.describe());
    } finally {
      fs.chmodSync(w.path('ro'), 0o755);
    }
    if (asNobody || !IS_ROOT) assert.equal(staged(), 1, 'the reader wrote the store');
  });

  test('a store whose staged events cannot be merged (a full disk) gives exit 1 naming it, never an answer without them', () => {
    const w = workdir('staged-full');
    const s = SqliteStore.open(w.path('m.db'));
    s.closeNow();
    const pages = new Database(w.path('m.db')).pragma('page_count', { simple: true }) as number;
    const big = SqliteStore.open(w.path('m.db'));
    const many = Array.from({ length: 3000 }, (_, i) => keyedEvent(`e${i}`, 10 + i, { data: `{"tokens":1,"pad":"${'x'.repeat(300)}"}` }));
    return (async () => {
      await big.stage(many, 0);
      big.closeNow();
      // The staged row fits; merging it into the events table and its index does not.
      const env = { METER_SQLITE_MAX_PAGE_COUNT: String(pages + 6) };
      for (const cmd of [
        ['stats', '--json'],
        ['query', '--format', 'csv'],
        ['ingest', '-'],
      ]) {
        const r = w.run([...cmd, '--db', 'm.db'], { env, input: '' });
        assert.equal(r.code, 1, r.describe());
        assert.match(r.stderr, /m\.db/, r.describe());
        assert.doesNotMatch(r.stderr, /\n\s+at /, r.describe());
        assert.equal(r.stdout, '', r.describe());
      }
      const ok = w.run(['stats', '--json', '--db', 'm.db']);
      assert.equal(JSON.parse(ok.stdout).events, 3000, ok.describe());
    })();
  });

  test('a store file of mode 0444 written by root: its -wal and -shm are still 0600', async (t) => {
    if (!IS_ROOT) {
      t.diagnostic('only root can write a 0444 file; for other users the store is read-only (tested above)');
    }
    const w = workdir('ro-walmode');
    w.write('seed.ndjson', events(10, 's'));
    w.write('a.ndjson', events(150_000));
    assert.equal(w.run(['ingest', 'seed.ndjson', '--db', 'm.db', '-q']).code, 0);
    fs.chmodSync(w.path('m.db'), 0o444);
    if (!IS_ROOT) return;
    const { done } = w.spawn(['ingest', 'a.ndjson', '--db', 'm.db', '--batch-size', '1000', '-q']);
    let walMode: number | null = null,
      shmMode: number | null = null;
    for (let i = 0; i < 2000 && (walMode === null || shmMode === null); i++) {
      try {
        walMode = fs.statSync(w.path('m.db-wal')).mode & 0o777;
        shmMode = fs.statSync(w.path('m.db-shm')).mode & 0o777;
      } catch {
        await sleep(5);
      }
    }
    const r = await done;
    assert.equal(r.code, 0, r.describe());
    assert.equal(walMode, 0o600, '-wal mode');
    assert.equal(shmMode, 0o600, '-shm mode');
  });
});
