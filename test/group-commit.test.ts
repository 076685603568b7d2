/**
 * The group committer on a store whose commits the test holds open: requests that arrive while a commit runs share
 * the next one, a failed commit fails exactly its requests, and a full queue refuses at once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { UsageEvent } from '../src/core/event.js';
import type { Store, WriteOutcome } from '../src/core/ports.js';
import { GroupCommitter, QueueFullError, storeLock } from '../src/ingest/group-commit.js';

/** A store that records each writeBatch and lets the test finish (or fail) it. */
function heldStore() {
  const calls: Array<{ ids: string[]; finish(e?: Error): void }> = [];
  const store = {
    needsFingerprints: false,
    writeBatch(events: UsageEvent[]): Promise<WriteOutcome> {
      return new Promise((resolve, reject) => {
        calls.push({
          ids: events.map((e) => e.id),
          finish: (e) =>
            e ? reject(e) : resolve({ inserted: events.length, duplicates: 0, conflicts: 0, status: new Uint8Array(events.length) }),
        });
      });
    },
    sync: async () => {},
  } as unknown as Store;
  return { store, calls };
}

const ev = (id: string) => ({ id }) as UsageEvent;
const tick = () => new Promise((r) => setImmediate(r));
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
