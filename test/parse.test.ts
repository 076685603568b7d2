/**
 * The parse worker's pure parts: the columns a chunk travels in, their string dictionary, and the subject order.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { validateCloudEvent, type UsageEvent } from '../src/core/event.js';
import {
  ChunkBuilder,
  fromColumns,
  MAX_DICTIONARY_CHARS,
  StringDecoder,
  StringEncoder,
  subjectOrder,
  toColumns,
} from '../src/ingest/columns.js';
import { event } from './helpers.js';

const rules = { requireTime: false, nowMs: 1_790_000_000_000 };

function ev(over: Record<string, unknown>): UsageEvent {
  const r = validateCloudEvent(event(over), rules);
  assert.ok(r.ok);
  return r.event;
}

describe('subject order of a chunk', () => {
  test('groups subjects and keeps input order within each', () => {
    const events = [
      ev({ id: '1', subject: 'b' }),
      ev({ id: '2', subject: 'a' }),
      ev({ id: '3', subject: 'b' }),
      ev({ id: '4', subject: 'c' }),
      ev({ id: '5', subject: 'a' }),
    ];
    const ids = new Int32Array([0, 1, 0, 2, 1]); // b=0, a=1, c=2
    assert.deepEqual(
      [
        ...subjectOrder(
          events.map((e) => e.key),
          ids,
        )!,
      ],
      [0, 2, 1, 4, 3],
    );
  });

  test('copies of one event under one subject keep their order (the first copy is stored)', () => {
    const events = [
      ev({ id: 'x', subject: 'b', data: { tokens: 1 } }),
      ev({ id: 'y', subject: 'a' }),
      ev({ id: 'x', subject: 'b', data: { tokens: 2 } }),
    ];
    assert.deepEqual(
      [
        ...subjectOrder(
          events.map((e) => e.key),
          new Int32Array([0, 1, 0]),
        )!,
      ],
      [0, 2, 1],
    );
  });

  test('copies of one event under different subjects leave the chunk in input order', () => {
    const events = [ev({ id: 'x', subject: 'b' }), ev({ id: 'y', subject: 'a' }), ev({ id: 'x', subject: 'a' })];
    assert.equal(
      subjectOrder(
        events.map((e) => e.key),
        new Int32Array([0, 1, 1]),
      ),
      null,
    );
  });
});

describe('columns', () => {
  test('a round trip gives the same events, in subject order', () => {
    const enc = new StringEncoder(),
      dec = new StringDecoder();
    const events = [ev({ id: '1', subject: 'b' }), ev({ id: '2', subject: 'a', time: undefined }), ev({ id: '3', subject: 'b' })];
    events[1]!.unusable = [0];
    const back = fromColumns(toColumns(events, enc), dec);
    assert.deepEqual(
      back.map((e) => e.id),
      ['1', '3', '2'],
    );
    const { dataValue: _, ...sent } = events[1]!;
    assert.deepEqual(back[2], sent);
    assert.deepEqual(back[2]!.unusable, [0]);
  });

  test('a full dictionary starts afresh between chunks, never within one', () => {
    const enc = new StringEncoder(),
      dec = new StringDecoder();
    let next = 0;
    // 70,000 distinct subjects in chunks of 5,000: the dictionary (65,536 strings) fills within a chunk.
    for (let c = 0; c < 14; c++) {
      const events = Array.from({ length: 5000 }, () => ev({ id: `e${next}`, subject: `s${next++}` }));
      const back = fromColumns(toColumns(events, enc), dec);
      for (const e of back) assert.equal(e.subject, `s${e.id.slice(1)}`);
    }
  });

  test('a dictionary of long strings starts afresh once it holds MAX_DICTIONARY_CHARS characters, between chunks', () => {
    const enc = new StringEncoder(),
      dec = new StringDecoder();
    // Subjects of 1 MiB: the dictionary passes its characters' bound within the 17th chunk of one event each.
    const long = (i: number) => `${i}:${'x'.repeat(1 << 20)}`;
    const resets: boolean[] = [];
    for (let i = 0; i < 20; i++) {
      const columns = toColumns([ev({ id: String(i), subject: long(i) })], enc);
      resets.push(columns.strings.reset);
      const [back] = fromColumns(columns, dec);
      assert.equal(back!.subject, long(i));
    }
    const first = resets.indexOf(true);
    assert.equal(first, Math.ceil(MAX_DICTIONARY_CHARS / ((1 << 20) + 3)), `resets: ${resets.join(',')}`);
    // A chunk's ChunkBuilder counts the characters the worker posts a chunk at.
    const b = new ChunkBuilder(enc);
    b.add(ev({ id: 'abc', subject: 'de' }));
    assert.ok(b.chars >= 5);
  });

  test('a chunk cut at a commit: the first part is a prefix of the input, the rest follows with its own order', () => {
    const enc = new StringEncoder(),
      dec = new StringDecoder();
    const b = new ChunkBuilder(enc);
    const events = ['b', 'a', 'b', 'c', 'a'].map((subject, i) => ev({ id: String(i), subject }));
    events[3]!.unusable = [1];
    for (const e of events) b.add(e);
    b.read = 6; // a reject among the five events' inputs
    b.rejects = [{ file: 'f', line: 6, error: 'bad', raw: '{' }];
    // The part before the last counts only its events as read; the last takes the rest, with the rejects.
    assert.deepEqual(b.partCounts(3), { rejects: [], read: 3, skipped: {} });
    const first = fromColumns(b.finish(3), dec);
    assert.deepEqual(
      first.map((e) => e.id),
      ['0', '2', '1'],
    );
    assert.deepEqual([b.events, b.read], [2, 3]);
    assert.deepEqual(b.partCounts(2), { rejects: [{ file: 'f', line: 6, error: 'bad', raw: '{' }], read: 3, skipped: {} });
    const rest = fromColumns(b.finish(), dec);
    assert.deepEqual(
      rest.map((e) => [e.id, e.subject, e.unusable]),
      [
        ['4', 'a', undefined],
        ['3', 'c', [1]],
      ],
    );
    assert.deepEqual([b.events, b.read, b.rejects], [0, 0, []]);
  });
});
