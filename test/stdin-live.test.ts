/**
 * A live stream on stdin (`kubectl logs -f usage-proxy | meter ingest -`): events that arrive and then a pause
 * are committed within moments, not held until 200,000 more come or the pipe ends; a signal while the pipe is open
 * and idle stores every complete line already received before the exit (130). The real binary, a real pipe.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { line, Workdir } from './helpers.js';

/** Events stored so far (0 before the store exists). */
function stored(file: string): string[] {
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      return db.prepare('SELECT id FROM events ORDER BY seq').pluck().all() as string[];
    } finally {
      db.close();
    }
  } catch {
    return [];
  }
}

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  for (let waited = 0; !ok(); waited += 20) {
    assert.ok(waited < ms, `${what}: not within ${ms} ms`);
    await sleep(20);
  }
}

describe('a live stream on stdin', () => {
  test('a steady trickle that never pauses for 200 ms is committed within about a second', async () => {
    const w = new Workdir('stdin-trickle');
    const { child, done } = w.spawn(['ingest', '--db', 'live.db', '--json', '-']);
    try {
      const started = Date.now();
      let sent = 0;
      // An event every 50 ms; by 2.5 s in, what came in the first second must be stored.
      while (Date.now() - started < 2500) {
        child.stdin.write(line({ id: `t-${sent++}` }) + '\n');
        await sleep(50);
      }
      const stored2 = stored(w.path('live.db')).length;
      assert.ok(stored2 >= 10, `${stored2} of ${sent} events stored after 2.5 s of a trickle`);
      child.stdin.end();
      const r = await done;
      assert.equal(r.code, 0, r.describe());
      assert.equal(stored(w.path('live.db')).length, sent);
    } finally {
      child.kill('SIGKILL');
      w.remove();
    }
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    test(`a pause commits what came; ${signal} while the pipe is idle stores every complete line received (exit 130)`, async () => {
      const w = new Workdir(`stdin-live-${signal}`);
      const { child, done } = w.spawn(['ingest', '--db', 'live.db', '--json', '-']);
      try {
        const ev = (i: number) => line({ id: `live-${i}`, time: new Date(Date.parse('2026-11-01T00:00:00Z') + i * 1000).toISOString() });
        // Two events, then the producer pauses: they are committed without more input and without EOF.
        child.stdin.write(`${ev(0)}\n${ev(1)}\n`);
        await until('the first two events committed during the pause', () => stored(w.path('live.db')).length === 2);
        // 7,000 more (more than one chunk of the parse worker), then a pause, then a signal. The pause starts once
        // the pipe has taken every byte (the write's callback): 1.4 MB pass through a 64 KiB pipe only as fast as
        // meter reads, which under a loaded machine took longer than the pause, and lines not yet read are not
        // received.
        const taken = new Promise<void>((resolve) =>
          child.stdin.write(Array.from({ length: 7000 }, (_, i) => ev(i + 2)).join('\n') + '\n', () => resolve()),
        );
        // And an unfinished line: not an event yet, so not stored.
        child.stdin.write(ev(9999).slice(0, 30));
        await taken;
        await sleep(300);
        child.kill(signal);
        const r = await done;
        assert.equal(r.code, 130, r.describe());
        const summary = JSON.parse(r.stdout) as { inserted: number; interrupted: boolean };
        assert.equal(summary.interrupted, true, r.describe());
        const ids = stored(w.path('live.db'));
        assert.equal(ids.length, 7002, r.describe());
        assert.equal(summary.inserted, 7002, r.describe());
        assert.deepEqual(
          ids,
          Array.from({ length: 7002 }, (_, i) => `live-${i}`),
        );
      } finally {
        // A failed check leaves the child reading the open pipe.
        child.kill('SIGKILL');
        w.remove();
      }
    });
  }

  test('Ctrl-C on `producer | meter ingest -` ends the pipe too: still exit 130, and a signal as it starts is the same stop', async () => {
    const w = new Workdir('stdin-eof-signal');
    try {
      // The signal, then the end of the input at once (the producer got the Ctrl-C too).
      const { child, done } = w.spawn(['ingest', '--db', 'eof.db', '--json', '-']);
      child.stdin.write(line({ id: 'e-1' }) + '\n');
      await until('the event committed during the pause', () => stored(w.path('eof.db')).length === 1);
      child.kill('SIGINT');
      child.stdin.end();
      const r = await done;
      assert.equal(r.code, 130, r.describe());
      assert.equal((JSON.parse(r.stdout) as { interrupted: boolean }).interrupted, true);
      // A SIGTERM as the process starts (once it runs JavaScript: before that, no program can catch it): the
      // ingest's stop (130), not death by it.
      const early = w.spawn(['ingest', '--db', 'eof.db', '--json', '-']);
      await sleep(400);
      early.child.kill('SIGTERM');
      early.child.stdin.end();
      const e = await early.done;
      assert.equal(e.code, 130, e.describe());
    } finally {
      w.remove();
    }
  });
});
