/**
 * The group committer on a store whose commits the test holds open: requests that arrive while a commit runs share
 * the next one, a failed commit fails exactly its requests, and a full queue refuses at once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { UsageEvent } from '../src/core/event.js';
import type { Store } from '../src/core/ports.js';
import { GroupCommitter, QueueFullError, storeLock } from '../src/ingest/group-commit.js';

/** A store that records each commit (stage) and lets the test finish (or fail) it, and counts its settles. */
function heldStore() {
  const calls: Array<{ ids: string[]; finish(e?: Error): void }> = [];
  const settles: number[] = [];
  const store = {
    needsFingerprints: false,
    stage(events: UsageEvent[]): Promise<void> {
      return new Promise((resolve, reject) => {
        calls.push({ ids: events.map((e) => e.id), finish: (e) => (e ? reject(e) : resolve()) });
      });
    },
    settle: async () => {
      settles.push(Date.now());
    },
    sync: async () => {},
  } as unknown as Store;
  return { store, calls, settles };
}

const ev = (id: string) => ({ id }) as UsageEvent;
const tick = () => new Promise((r) => setImmediate(r));
const until = async (done: () => boolean) => {
  for (let i = 0; i < 100 && !done(); i++) await tick();
  assert.ok(done());
};
const settled = async (p: Promise<void>) => {
  let state = 'pending';
  p.then(
    () => (state = 'resolved'),
    () => (state = 'rejected'),
  );
  await tick();
  return state;
};

test('requests arriving during a commit share the next one; each resolves only after its own commit', async () => {
  const { store, calls } = heldStore();
  const c = new GroupCommitter(store, { maxQueued: 100, syncEachCommit: false, lock: storeLock() });
  const a = c.submit([ev('a1'), ev('a2')]);
  await tick();
  await tick();
  assert.deepEqual(
    calls.map((x) => x.ids),
    [['a1', 'a2']],
  );
  const b = c.submit([ev('b1')]);
  const d = c.submit([ev('d1'), ev('d2')]);
  assert.equal(await settled(a), 'pending');
  calls[0]!.finish();
  assert.equal(await settled(a), 'resolved');
  await tick();
  assert.deepEqual(
    calls.map((x) => x.ids),
    [
      ['a1', 'a2'],
      ['b1', 'd1', 'd2'],
    ],
  );
  assert.equal(await settled(b), 'pending');
  calls[1]!.finish();
  await Promise.all([b, d]);
  await c.drain();
  assert.equal(c.commits, 2);
  assert.equal(c.events, 5);
});

test('a failed commit rejects exactly the requests in it; the next group commits', async () => {
  const { store, calls } = heldStore();
  const c = new GroupCommitter(store, { maxQueued: 100, syncEachCommit: false, lock: storeLock() });
  const a = c.submit([ev('a')]);
  await tick();
  await tick();
  const b = c.submit([ev('b')]);
  calls[0]!.finish(new Error('disk full'));
  await assert.rejects(a, /disk full/);
  await tick();
  assert.deepEqual(
    calls.map((x) => x.ids),
    [['a'], ['b']],
  );
  calls[1]!.finish();
  await b;
});

test('past maxQueued waiting events, submit refuses at once (QueueFullError); a request alone is never refused', async () => {
  const { store, calls } = heldStore();
  const c = new GroupCommitter(store, { maxQueued: 3, syncEachCommit: false, lock: storeLock() });
  const big = c.submit([ev('1'), ev('2'), ev('3'), ev('4'), ev('5')]);
  await tick();
  await tick();
  const w1 = c.submit([ev('6'), ev('7')]);
  await assert.rejects(c.submit([ev('8'), ev('9')]), QueueFullError);
  const w2 = c.submit([ev('10')]);
  calls[0]!.finish();
  await big;
  for (let i = 0; i < 10 && calls.length < 2; i++) await tick();
  assert.deepEqual(calls[1]!.ids, ['6', '7', '10']);
  calls[1]!.finish();
  await Promise.all([w1, w2]);
  assert.equal(await settled(c.submit([])), 'resolved');
});

test('staged commits are settled once, a second after the first of them; drain cancels a settle not yet due', async () => {
  const { store, calls, settles } = heldStore();
  const c = new GroupCommitter(store, { maxQueued: 100, syncEachCommit: false, lock: storeLock() });
  const t0 = Date.now();
  const a = c.submit([ev('a')]);
  await until(() => calls.length === 1);
  calls[0]!.finish();
  await a;
  const b = c.submit([ev('b')]);
  await until(() => calls.length === 2);
  calls[1]!.finish();
  await b;
  assert.equal(settles.length, 0, 'not settled at once');
  await new Promise((r) => setTimeout(r, 1300));
  assert.equal(settles.length, 1, 'one settle for both commits');
  assert.ok(settles[0]! - t0 >= 990, `settled ${settles[0]! - t0} ms after the first commit`);
  const d = c.submit([ev('d')]);
  await until(() => calls.length === 3);
  calls[2]!.finish();
  await d;
  await c.drain();
  await new Promise((r) => setTimeout(r, 1300));
  assert.equal(settles.length, 1, 'drain cancelled the second settle');
});
