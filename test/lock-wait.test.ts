/**
 * Waiting for another process's write lock holds nothing else: a server answers its other routes meanwhile (and
 * the waiting POST once the lock is free), and an ingest acts on Ctrl-C at once. The other writer here is a plain
 * connection of this test holding BEGIN IMMEDIATE; it lets go only after what is checked happened, or after a
 * safety delay, when the check then fails: no timing is asserted, only the order of events.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { line, workdirs } from './helpers.js';
import { SERVE_CONFIG, startServe, stopAll } from './serve-helpers.js';

const workdir = workdirs();
after(stopAll);

/** Holds the store's write lock until release() or `safetyMs`; `released` says whether the safety delay did it. */
function holdLock(file: string, safetyMs = 30_000) {
  const db = new Database(file);
  db.exec('BEGIN IMMEDIATE');
  let bySafety = false;
  const release = () => {
    if (db.open) {
      db.exec('COMMIT');
      db.close();
    }
  };
  const timer = setTimeout(() => {
    bySafety = true;
    release();
  }, safetyMs);
  return {
    release: () => {
      clearTimeout(timer);
      release();
    },
    get bySafety() {
      return bySafety;
    },
  };
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('waiting for another writer', () => {
  test('meter serve answers other routes while a POST waits for the lock, then commits the POST (204)', async () => {
    const w = workdir('lock-serve');
    w.write('meter.yaml', SERVE_CONFIG);
    const db = w.path('m.db');
    assert.equal(w.run(['ingest', '--db', db, '-'], { input: line({ id: 'first' }) + '\n' }).code, 0);
    const server = await startServe(w, ['--db', db, '--config', w.path('meter.yaml')]);
    const lock = holdLock(db);
    let posted: number | null = null;
    const post = fetch(`${server.url}/api/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: line({ id: 'waits' }),
    }).then((r) => (posted = r.status));
    await tick(300); // the POST reaches its commit, which waits for the lock
    const meters = await fetch(`${server.url}/api/v1/meters`);
    const answeredWhileLocked = !lock.bySafety;
    assert.equal(meters.status, 200);
    assert.ok(answeredWhileLocked, 'GET /api/v1/meters waited for the other writer');
    assert.equal(posted, null, 'the POST was answered before its commit could run');
    lock.release();
    await post;
    assert.equal(posted, 204);
    await server.stop();
    const events = w.run(['events', '--db', db, '--format', 'ndjson']);
    assert.deepEqual(
      events.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { id: string }).id)
        .sort(),
      ['first', 'waits'],
    );
  });

  test('meter ingest acts on Ctrl-C while it waits for the lock: twice stops it at once (exit 130), storing nothing', async () => {
    const w = workdir('lock-ingest');
    const db = w.path('m.db');
    assert.equal(w.run(['ingest', '--db', db, '-'], { input: line({ id: 'first' }) + '\n' }).code, 0);
    w.write('more.ndjson', [line({ id: 'a' }), line({ id: 'b' })]);
    const lock = holdLock(db);
    const p = w.spawn(['ingest', '--db', db, 'more.ndjson']);
    await tick(1000); // the ingest parses its two events and waits for the lock
    p.child.kill('SIGINT');
    await tick(100);
    p.child.kill('SIGINT');
    const r = await p.done;
    const exitedWhileLocked = !lock.bySafety;
    lock.release();
    assert.ok(exitedWhileLocked, `the ingest waited for the other writer before acting on Ctrl-C:\n${r.describe()}`);
    assert.equal(r.code, 130, r.describe());
    assert.match(r.stderr, /stopped at once, the open batch was rolled back/);
    const ids = w.run(['events', '--db', db, '--format', 'ndjson']).stdout.trim().split('\n');
    assert.equal(ids.length, 1);
  });
});
