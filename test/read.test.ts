/**
 * Unit tests of input reading (src/input/: decode, split, read): bytes in, candidate events with their positions
 * out. Every case is fed in several chunkings (down to one byte), so chunk boundaries fall inside lines, CRLFs and
 * UTF-8 characters.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import zlib from 'node:zlib';
import { MAX_RAW_CHARS, isProblem, type InputItem, type InputProblem, type InputRecord } from '../src/input/items.js';
import { readItems } from '../src/input/read.js';

v8.setFlagsFromString('--expose-gc');

const MAX = 1 << 20;
const CHUNKINGS = [1, 2, 3, 5, 7, 64, 4096, Infinity];

async function* chunks(buf: Buffer, size: number): AsyncGenerator<Buffer> {
  if (size === Infinity || buf.length === 0) {
    if (buf.length > 0) yield buf;
    return;
  }
  for (let i = 0; i < buf.length; i += size) yield Buffer.from(buf.subarray(i, i + size));
}

async function read(input: string | Buffer, opts: { name?: string; chunk?: number; max?: number } = {}): Promise<InputItem[]> {
  const buf = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const out: InputItem[] = [];
  for await (const batch of readItems(opts.name ?? 'in.ndjson', chunks(buf, opts.chunk ?? Infinity), { maxEventBytes: opts.max ?? MAX })) {
    assert.ok(batch.length > 0, 'no empty batches');
    out.push(...batch);
  }
  return out;
}

/** Reads `input` in every chunking and checks that all give the same items; returns them. */
async function readAll(input: string | Buffer, opts: { name?: string; max?: number } = {}): Promise<InputItem[]> {
  const whole = await read(input, opts);
  for (const chunk of CHUNKINGS) {
    if (chunk === Infinity) continue;
    const buf = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
    if (chunk === 1 && buf.length > 200_000) continue;
    assert.deepEqual(await read(input, { ...opts, chunk }), whole, `chunk size ${chunk} gives other items`);
  }
  return whole;
}

/** A compact record view: [line, index, text] or [line, index, 'ERROR', error]. */
function view(items: InputItem[]): unknown[] {
  return items.map((i) => (isProblem(i) ? [i.line, i.index, 'ERROR', i.error] : [i.line, i.index, i.text]));
}

function records(items: InputItem[]): InputRecord[] {
  return items.filter((i): i is InputRecord => !isProblem(i));
}

function problems(items: InputItem[]): InputProblem[] {
  return items.filter(isProblem);
}

const A = '{"specversion":"1.0","id":"a","source":"s","type":"t","subject":"Zürich","data":{"n":1}}';
const B = '{"specversion":"1.0","id":"b","source":"s","type":"t","subject":"€ 😀","data":{"n":2}}';
const C = '{"specversion":"1.0","id":"c","source":"s","type":"t","subject":"c","data":null}';

describe('NDJSON', () => {
  test('one event per line with line numbers', async () => {
    const items = await readAll(`${A}\n${B}\n${C}\n`);
    assert.deepEqual(view(items), [
      [1, null, A],
      [2, null, B],
      [3, null, C],
    ]);
  });

  test('no newline at the end', async () => {
    assert.deepEqual(view(await readAll(`${A}\n${B}`)), [
      [1, null, A],
      [2, null, B],
    ]);
  });

  test('blank and whitespace-only lines are skipped but counted', async () => {
    const items = await readAll(`\n${A}\n\n   \n\t\n${B}\n\n\n`);
    assert.deepEqual(view(items), [
      [2, null, A],
      [6, null, B],
    ]);
  });

  test('CRLF line ends', async () => {
    const items = await readAll(`${A}\r\n${B}\r\n\r\n${C}\r\n`);
    assert.deepEqual(view(items), [
      [1, null, A],
      [2, null, B],
      [4, null, C],
    ]);
  });

  test('a UTF-8 BOM', async () => {
    const items = await readAll(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${A}\r\n${B}\r\n`)]));
    assert.deepEqual(view(items), [
      [1, null, A],
      [2, null, B],
    ]);
    assert.deepEqual(JSON.parse((items[0] as InputRecord).text).id, 'a');
  });

  test('a BOM before a blank first line', async () => {
    const items = await readAll(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`\n${A}\n`)]));
    assert.deepEqual(view(items), [[2, null, A]]);
  });

  test('multi-byte characters split across chunks are intact', async () => {
    const items = records(await readAll(`${B}\n${A}\n`));
    assert.equal(JSON.parse(items[0]!.text).subject, '€ 😀');
    assert.equal(JSON.parse(items[1]!.text).subject, 'Zürich');
  });

  test('a line that is not JSON is still cut out (validation rejects it later)', async () => {
    assert.deepEqual(view(await readAll(`${A}\nnot json\n{"id":\n${B}\n`)), [
      [1, null, A],
      [2, null, 'not json'],
      [3, null, '{"id":'],
      [4, null, B],
    ]);
  });

  test('empty input and whitespace-only input give nothing', async () => {
    assert.deepEqual(await readAll(''), []);
    assert.deepEqual(await readAll('\n\n  \r\n'), []);
    assert.deepEqual(await readAll(Buffer.from([0xef, 0xbb, 0xbf])), []);
  });

  test('a first line longer than 64 KiB is still NDJSON', async () => {
    const big = JSON.stringify({ specversion: '1.0', id: 'big', source: 's', type: 't', subject: 'x', data: { pad: 'x'.repeat(100_000) } });
    const items = await read(`${big}\n${A}\n`, { chunk: 4096 });
    assert.deepEqual(view(items), [
      [1, null, big],
      [2, null, A],
    ]);
  });
});

describe('JSON arrays', () => {
  test('elements with their index', async () => {
    const items = await readAll(`[${A},${B},${C}]`);
    assert.deepEqual(view(items), [
      [1, 0, A],
      [1, 1, B],
      [1, 2, C],
    ]);
  });

  test('pretty-printed, with the line each element starts on', async () => {
    const pretty = JSON.stringify([JSON.parse(A), JSON.parse(B)], null, 2);
    const items = await readAll(pretty + '\n');
    assert.equal(items.length, 2);
    assert.deepEqual(
      items.map((i) => [i.line, i.index]),
      [
        [2, 0],
        [12, 1],
      ],
    );
    assert.deepEqual(
      records(items).map((r) => JSON.parse(r.text)),
      [JSON.parse(A), JSON.parse(B)],
    );
  });

  test('with a BOM, CRLF and whitespace', async () => {
    const text = `\uFEFF  [\r\n  ${A} ,\r\n\r\n  ${B}\r\n]\r\n`;
    assert.deepEqual(view(await readAll(text)), [
      [2, 0, A],
      [4, 1, B],
    ]);
  });

  test('an empty array gives nothing', async () => {
    assert.deepEqual(await readAll('[]\n'), []);
    assert.deepEqual(await readAll('[ \n ]'), []);
  });

  test('strings holding brackets, braces and escaped quotes do not end an element', async () => {
    const tricky = '{"id":"a]}\\"},{","data":{"s":"[[{{\\\\"}}';
    assert.equal(JSON.parse(tricky).id, 'a]}"},{');
    assert.deepEqual(view(await readAll(`[${tricky},${A}]`)), [
      [1, 0, tricky],
      [1, 1, A],
    ]);
  });

  test('non-object elements are cut out as they are (validation rejects them later)', async () => {
    const items = await readAll('[1, "x", null, true, [2], {"a":1}]');
    assert.deepEqual(view(items), [
      [1, 0, '1'],
      [1, 1, '"x"'],
      [1, 2, 'null'],
      [1, 3, 'true'],
      [1, 4, '[2]'],
      [1, 5, '{"a":1}'],
    ]);
  });

  test('an array that never closes keeps its elements and reports the end', async () => {
    const items = await readAll(`[\n${A},\n${B}\n`);
    assert.deepEqual(view(records(items)), [
      [2, 0, A],
      [3, 1, B],
    ]);
    const p = problems(items);
    assert.equal(p.length, 1);
    assert.match(p[0]!.error, /not closed|unexpected end/);
  });

  test('an element cut off at the end of input is reported, the ones before kept', async () => {
    const items = await readAll(`[${A},\n{"id":"x","data":{"a":`);
    assert.deepEqual(view(records(items)), [[1, 0, A]]);
    const p = problems(items);
    assert.ok(p.length >= 1);
    assert.equal(p[0]!.line, 2);
    assert.equal(p[0]!.index, 1);
    assert.match(p[0]!.error, /unexpected end|unclosed/);
    assert.equal(p[0]!.raw, '{"id":"x","data":{"a":');
  });

  test('a missing quote that swallows the rest of the input says which lines were not read', async () => {
    const pretty = (id: string) => JSON.stringify({ ...(JSON.parse(A) as object), id }, null, 2);
    const broken = pretty('b').replace('"id": "b"', '"id": "b');
    const lines = (s: string) => s.split('\n').length;
    const items = await readAll(`${pretty('a')}\n${broken}\n${pretty('c')}\n`);
    assert.deepEqual(
      records(items).map((r) => (JSON.parse(r.text) as { id: string }).id),
      ['a'],
    );
    const p = problems(items);
    assert.equal(p.length, 1);
    const first = lines(pretty('a')) + 1;
    assert.equal(p[0]!.line, first);
    assert.match(
      p[0]!.error,
      new RegExp(
        `^invalid JSON: unexpected end of input \\(unclosed object, array or string\\): lines ${first}-${first + lines(broken) + lines(pretty('c')) - 1} were read as this one element, so no event in them is stored; fix it and run again$`,
      ),
    );
  });
});

describe('JSON objects', () => {
  test('a pretty-printed single object', async () => {
    const pretty = JSON.stringify(JSON.parse(A), null, 2);
    const items = await readAll(pretty + '\n');
    assert.equal(items.length, 1);
    const r = items[0] as InputRecord;
    assert.ok(!isProblem(r));
    assert.deepEqual([r.line, r.index], [1, null]);
    assert.deepEqual(JSON.parse(r.text), JSON.parse(A));
  });

  test('several pretty-printed objects one after another', async () => {
    const pa = JSON.stringify(JSON.parse(A), null, 2);
    const pb = JSON.stringify(JSON.parse(B), null, 2);
    const pc = JSON.stringify(JSON.parse(C), null, 2);
    const items = await readAll(`${pa}\n\n${pb}\r\n${pc}`);
    assert.equal(items.length, 3);
    assert.deepEqual(
      items.map((i) => [i.line, i.index]),
      [
        [1, null],
        [12, null],
        [22, null],
      ],
    );
    assert.deepEqual(
      records(items).map((r) => JSON.parse(r.text).id),
      ['a', 'b', 'c'],
    );
  });

  test('a pretty-printed object that never closes is reported', async () => {
    const items = await readAll('{\n  "id": "a",\n  "data": {\n');
    assert.equal(records(items).length, 0);
    assert.equal(problems(items).length, 1);
    assert.equal(problems(items)[0]!.line, 1);
  });
});

describe('oversize events', () => {
  test("an oversize line's reject shows its own first characters, inner blanks included, wherever the chunks end", async () => {
    const line = `{"id":"a","pad":"${' '.repeat(20_000)}"}`;
    const items = await readAll(`  ${line}  \n${A}\n`, { max: 1000 });
    assert.deepEqual(view(records(items)), [[2, null, A]]);
    const p = problems(items);
    assert.equal(p.length, 1);
    assert.equal(p[0]!.error, `event too large: ${line.length} bytes (the limit is 1000, see --max-event-size)`);
    assert.equal(p[0]!.raw, line.slice(0, MAX_RAW_CHARS));
  });

  test('blanks around an event do not count towards the limit, wherever the chunks end (seeded)', async (t) => {
    const seed = Number(process.env.METER_SEED ?? Date.now() % 100_000);
    t.diagnostic(`seed ${seed} (METER_SEED=${seed} repeats it)`);
    let x = seed;
    const rnd = (n: number) => ((x = (x * 1103515245 + 12345) % 2 ** 31), x % n);
    const blanks = () => Array.from({ length: rnd(4) === 0 ? 0 : rnd(40) }, () => ' \t'[rnd(2)]).join('');
    // Events of exactly the limit (100 bytes), one byte over, and one with blanks inside its string.
    const event = (n: number, len: number) => {
      const head = `{"id":"${n}","p":"`;
      return head + 'x'.repeat(len - head.length - 2) + '"}';
    };
    const lines: string[] = [];
    const want: string[] = [];
    for (let n = 0; n < 60; n++) {
      const kind = rnd(3);
      const e = kind === 1 ? event(n, 101) : kind === 2 ? event(n, 100).replace('xxxx', 'x  x') : event(n, 100);
      lines.push(blanks() + e + blanks() + (rnd(2) === 0 ? '\r' : ''));
      if (kind !== 1) want.push(e);
    }
    const items = await readAll(lines.join('\n') + '\n', { max: 100 });
    assert.deepEqual(
      records(items).map((r) => r.text),
      want,
      `seed ${seed}`,
    );
    assert.equal(problems(items).length, 60 - want.length, `seed ${seed}`);
    for (const p of problems(items)) assert.match(p.error, /^event too large/, `seed ${seed}`);
  });

  test('a line over the limit is reported with its size and a clipped raw text; the others pass', async () => {
    const big = '{"pad":"' + 'x'.repeat(50_000) + '"}';
    const items = await readAll(`${A}\n${big}\n${B}\n`, { max: 1000 });
    assert.deepEqual(view(records(items)), [
      [1, null, A],
      [3, null, B],
    ]);
    const p = problems(items);
    assert.equal(p.length, 1);
    assert.equal(p[0]!.line, 2);
    assert.match(p[0]!.error, /too large/);
    assert.match(p[0]!.error, new RegExp(`${big.length}`));
    assert.ok(p[0]!.raw.length <= MAX_RAW_CHARS + 3, `raw is clipped: ${p[0]!.raw.length}`);
    assert.ok(big.startsWith(p[0]!.raw.replace(/\.\.\.$/, '')), 'raw is the start of the line');
  });

  test('the limit is inclusive: a line of exactly maxEventBytes passes, one byte more does not', async () => {
    const max = 200;
    const mk = (n: number) => '{"p":"' + 'y'.repeat(n - 8) + '"}';
    const exact = mk(max),
      over = mk(max + 1);
    assert.equal(Buffer.byteLength(exact), max);
    const items = await readAll(`${exact}\n${over}\n${exact}`, { max });
    assert.deepEqual(
      items.map((i) => [i.line, isProblem(i)]),
      [
        [1, false],
        [2, true],
        [3, false],
      ],
    );
  });

  test('an oversize array element is reported with its index', async () => {
    const big = '{"pad":"' + 'x'.repeat(5_000) + '"}';
    const items = await readAll(`[${A},${big},${B}]`, { max: 1000 });
    assert.deepEqual(
      items.map((i) => [i.index, isProblem(i)]),
      [
        [0, false],
        [1, true],
        [2, false],
      ],
    );
    assert.match(problems(items)[0]!.error, /too large/);
    assert.ok(problems(items)[0]!.raw.length <= MAX_RAW_CHARS + 3);
  });

  test('an oversize last line without newline is reported', async () => {
    const items = await readAll(`${A}\n${'z'.repeat(3000)}`, { max: 1000 });
    assert.deepEqual(
      items.map((i) => [i.line, isProblem(i)]),
      [
        [1, false],
        [2, true],
      ],
    );
  });

  test('a 256 MB line is rejected without being held in memory', async () => {
    const gc = vm.runInNewContext('gc', undefined) as () => void;
    const chunk = 1 << 20,
      count = 256;
    let peak = 0;
    gc();
    const before = process.memoryUsage().arrayBuffers;
    async function* huge(): AsyncGenerator<Buffer> {
      yield Buffer.from(A + '\n{"pad":"');
      for (let i = 0; i < count; i++) {
        if (i % 16 === 0) {
          gc();
          peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
        }
        yield Buffer.alloc(chunk, 0x78); // a fresh buffer each time: holding them would add up
      }
      yield Buffer.from('"}\n' + B + '\n');
    }
    const items: InputItem[] = [];
    for await (const batch of readItems('huge.ndjson', huge(), { maxEventBytes: 1 << 20 })) items.push(...batch);
    assert.deepEqual(
      items.map((i) => [i.line, isProblem(i)]),
      [
        [1, false],
        [2, true],
        [3, false],
      ],
    );
    assert.match(problems(items)[0]!.error, /too large/);
    assert.ok(peak < 64 * chunk, `memory grew by ${(peak / chunk).toFixed(0)} MB while reading one oversize line`);
  });
});

describe('invalid UTF-8', () => {
  test('is reported with its line, the other lines pass', async () => {
    const bad = Buffer.concat([Buffer.from('{"id":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]);
    const input = Buffer.concat([Buffer.from(A + '\n'), bad, Buffer.from('\n' + B + '\n')]);
    const items = await readAll(input);
    assert.deepEqual(view(records(items)), [
      [1, null, A],
      [3, null, B],
    ]);
    const p = problems(items);
    assert.equal(p.length, 1);
    assert.equal(p[0]!.line, 2);
    assert.match(p[0]!.error, /UTF-8/);
  });

  test('in an array element', async () => {
    const bad = Buffer.concat([Buffer.from('{"id":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]);
    const input = Buffer.concat([Buffer.from(`[${A},`), bad, Buffer.from(`,${B}]`)]);
    const items = await readAll(input);
    assert.deepEqual(
      items.map((i) => [i.index, isProblem(i)]),
      [
        [0, false],
        [1, true],
        [2, false],
      ],
    );
    assert.match(problems(items)[0]!.error, /UTF-8/);
  });

  test('a real U+FFFD character is valid UTF-8 and passes', async () => {
    const withReplacement = '{"id":"\uFFFD"}';
    assert.deepEqual(view(await readAll(`${withReplacement}\n`)), [[1, null, withReplacement]]);
  });
});

describe('gzip', () => {
  const text = `${A}\n\n${B}\r\n${C}\n`;
  const want = [
    [1, null, A],
    [3, null, B],
    [4, null, C],
  ];

  test('is read transparently by name', async () => {
    assert.deepEqual(view(await readAll(zlib.gzipSync(text), { name: 'in.ndjson.gz' })), want);
  });

  test('is detected by its magic bytes whatever the name', async () => {
    assert.deepEqual(view(await readAll(zlib.gzipSync(text), { name: '-' })), want);
    assert.deepEqual(view(await readAll(zlib.gzipSync(text), { name: 'events.json' })), want);
  });

  test('holding a JSON array with a BOM', async () => {
    const gz = zlib.gzipSync(Buffer.from(`\uFEFF[${A},${B}]`));
    assert.deepEqual(view(await readAll(gz, { name: 'a.json.gz' })), [
      [1, 0, A],
      [1, 1, B],
    ]);
  });

  test('several gzip members concatenated are all read', async () => {
    const gz = Buffer.concat([zlib.gzipSync(`${A}\n`), zlib.gzipSync(`${B}\n`)]);
    assert.deepEqual(view(await readAll(gz, { name: 'cat.gz' })), [
      [1, null, A],
      [2, null, B],
    ]);
  });

  function manyLines(n: number): string[] {
    return Array.from({ length: n }, (_, i) =>
      JSON.stringify({
        specversion: '1.0',
        id: `id-${i}-${(i * 2654435761) % 1000003}`,
        source: 's',
        type: 't',
        subject: `c${i % 97}`,
        data: { n: i },
      }),
    );
  }

  test('truncated: the events before the break are kept, then the break is reported', async () => {
    const lines = manyLines(20_000);
    const gz = zlib.gzipSync(lines.join('\n') + '\n');
    const cut = gz.subarray(0, Math.floor(gz.length * 0.6));
    for (const chunk of [64, 4096, Infinity]) {
      const items = await read(cut, { name: 'cut.ndjson.gz', chunk });
      const recs = records(items);
      assert.ok(recs.length > 1000, `kept ${recs.length} events before the break`);
      assert.ok(recs.length < lines.length);
      recs.forEach((r, i) => {
        assert.equal(r.line, i + 1);
        assert.equal(r.text, lines[i]);
      });
      const last = items[items.length - 1]!;
      assert.ok(isProblem(last), 'the last item reports the break');
      assert.match(last.error, /gzip/);
      assert.equal(last.line, recs.length + 1);
      assert.equal(problems(items).length, 1);
    }
  });

  test('a member broken before it gives any text: the complete member is read to its end, last line included', async () => {
    // Like gzip -dc, which prints the complete member's text whole before it complains. The last line of that text
    // may lack a newline, and the text may be shorter than one line: neither may be lost.
    for (const first of [[A], [A, B, C], manyLines(3_000)]) {
      for (const newline of ['', '\n']) {
        const complete = zlib.gzipSync(first.join('\n') + newline);
        const next = zlib.gzipSync(`\n${B}\n`);
        // Every cut of the next member that decodes nothing: inside its header (past its two magic bytes: one byte
        // alone is trailing garbage), or with deflate bytes too few to give a byte (a cut after some text is the
        // next test).
        for (let cut = 2; cut < next.length - 8; cut++) {
          const input = Buffer.concat([complete, next.subarray(0, cut)]);
          for (const chunk of [3, 4096, Infinity]) {
            const items = await read(input, { name: 'two.gz', chunk });
            const recs = records(items);
            if (recs.length > first.length) continue; // this cut gave text of the next member
            const label = `${first.length} lines${newline ? ' + LF' : ''}, next member cut at ${cut}, chunk ${chunk}`;
            assert.deepEqual(
              recs.map((r) => r.text),
              first,
              label,
            );
            assert.equal(problems(items).length, 1, label);
            assert.match(problems(items)[0]!.error, /gzip data is corrupt or truncated/, label);
            assert.equal(items[items.length - 1]!.line, first.length + 1, label);
          }
        }
      }
    }
  });

  test('a member broken after some text: the line it cut is not read as an event', async () => {
    // The complete member's last line continues in the broken member, which is cut inside that line.
    const complete = zlib.gzipSync(`${A}\n{"specversion":"1.0","id":"x",`);
    const next = zlib.gzipSync(`"source":"s","type":"t","subject":"c"}\n${B}\n`, { level: 0 });
    const items = await read(Buffer.concat([complete, next.subarray(0, 20)]), { name: 'cut.gz' });
    assert.deepEqual(view(items), [
      [1, null, A],
      [2, null, 'ERROR', 'gzip data is corrupt or truncated (unexpected end of file)'],
    ]);
  });

  test('corrupt in the middle: the events before are kept, the corruption is reported', async () => {
    const lines = manyLines(20_000);
    const gz = Buffer.from(zlib.gzipSync(lines.join('\n') + '\n'));
    const mid = Math.floor(gz.length / 2);
    for (let i = mid; i < mid + 64; i++) gz[i] = gz[i]! ^ 0x5a;
    const items = await read(gz, { name: 'bad.gz', chunk: 4096 });
    // Deflate may decode some garbage before it notices the damage; what lies well before it must be intact.
    const recs = records(items);
    assert.ok(recs.length > 1000, `kept ${recs.length} events before the damage`);
    recs.slice(0, 1000).forEach((r, i) => assert.equal(r.text, lines[i]));
    const p = problems(items);
    assert.ok(p.length >= 1);
    assert.match(p[p.length - 1]!.error, /gzip|corrupt/);
  });

  test('a bad checksum at the end is reported', async () => {
    const gz = Buffer.from(zlib.gzipSync(`${A}\n${B}\n`));
    gz[gz.length - 8] = gz[gz.length - 8]! ^ 0xff; // CRC32
    const items = await read(gz, { name: 'crc.gz' });
    assert.ok(problems(items).length === 1, JSON.stringify(view(items)));
    assert.match(problems(items)[0]!.error, /gzip|corrupt/);
  });

  test('a file named .gz that is not gzip is reported, not read as text', async () => {
    for (const chunk of [1, Infinity]) {
      const items = await read(`${A}\n${B}\n`, { name: 'plain.ndjson.gz', chunk });
      assert.equal(records(items).length, 0);
      assert.equal(items.length, 1);
      assert.match((items[0] as InputProblem).error, /gzip/);
    }
  });

  test('bytes after the last member: padding is ignored, garbage is one problem after every decoded event', async () => {
    // The last line has no newline: it is still read, before the problem.
    const gz = zlib.gzipSync(`${A}\n${B}\n${C}`);
    for (const pad of ['\n', '\u0000\u0000\u0000', ' \r\n\t']) {
      assert.deepEqual(view(await readAll(Buffer.concat([gz, Buffer.from(pad)]), { name: 'p.gz' })), [
        [1, null, A],
        [2, null, B],
        [3, null, C],
      ]);
    }
    // Garbage, and a member after padding: padding ends the data, as in gzip -dc, so that member is garbage too.
    for (const trailer of [Buffer.from('junk after the data'), Buffer.concat([Buffer.from('\u0000\u0000'), zlib.gzipSync(`${A}\n`)])]) {
      const items = await readAll(Buffer.concat([gz, trailer]), { name: 'g.gz' });
      assert.deepEqual(view(items).slice(0, 3), [
        [1, null, A],
        [2, null, B],
        [3, null, C],
      ]);
      assert.equal(items.length, 4);
      assert.match((items[3] as InputProblem).error, /^trailing garbage after gzip data ignored/);
      assert.equal(items[3]!.line, 4);
    }
  });

  test('an empty file named .gz gives nothing', async () => {
    assert.deepEqual(await read('', { name: 'empty.gz' }), []);
  });
});
