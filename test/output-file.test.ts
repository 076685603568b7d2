/**
 * `--output FILE` is written whole or not at all: until the output is complete the file of an earlier run stays as
 * it was (a stopped `meter query -o usage.csv` must not leave a shorter CSV that reads as complete), and nothing
 * is left behind. Devices and pipes are written in place.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { Sink } from '../src/output/sink.js';
import { ROOT, workdirs } from './helpers.js';

const workdir = workdirs();

const partials = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith('.partial'));

/** Writes `text` to `file` through a Sink, as a command's --output does, and closes it. */
async function writeWhole(file: string, text: string): Promise<void> {
  const sink = Sink.open(file);
  await sink.write(text);
  await sink.close();
}

describe('--output FILE', () => {
  test('the old file stays until the new one is complete, which then replaces it; no partial file is left', async () => {
    const dir = workdir('output').dir;
    const file = path.join(dir, 'usage.csv');
    fs.writeFileSync(file, 'old\n', { mode: 0o640 });
    const sink = Sink.open(file);
    // More than one flush (64 KiB): the output is on disk, beside the file.
    await sink.write('x'.repeat(100_000) + '\n');
    await sink.flush();
    assert.equal(fs.readFileSync(file, 'utf8'), 'old\n');
    assert.deepEqual(partials(dir), [`.meter-${process.pid}.partial`]);
    await sink.close();
    assert.equal(fs.readFileSync(file, 'utf8'), 'x'.repeat(100_000) + '\n');
    assert.deepEqual(partials(dir), []);
    // The old file's mode is kept; a new file is made 0600 (it holds customer usage).
    assert.equal(fs.statSync(file).mode & 0o777, 0o640);
    await writeWhole(path.join(dir, 'new.csv'), 'new\n');
    assert.equal(fs.statSync(path.join(dir, 'new.csv')).mode & 0o777, 0o600);
  });

  test('written in place where a rename cannot replace: a dangling link, other hard links, /dev/stdout to a file, a long name works', async () => {
    const dir = workdir('output').dir;
    // A symbolic link to a file not there yet: the link stays and its file is made.
    const dangling = path.join(dir, 'dangling.csv');
    fs.symlinkSync('made.csv', dangling);
    await writeWhole(dangling, 'a\n');
    assert.ok(fs.lstatSync(dangling).isSymbolicLink());
    assert.equal(fs.readFileSync(path.join(dir, 'made.csv'), 'utf8'), 'a\n');
    // A file with a second name: both names see the new output.
    const one = path.join(dir, 'one.csv');
    const two = path.join(dir, 'two.csv');
    fs.writeFileSync(one, 'old\n');
    fs.linkSync(one, two);
    await writeWhole(one, 'b\n');
    assert.equal(fs.readFileSync(two, 'utf8'), 'b\n');
    // A name of 254 bytes: the partial file's name must fit the folder's limit too.
    const long = path.join(dir, `${'a'.repeat(250)}.csv`);
    await writeWhole(long, 'c\n');
    assert.equal(fs.readFileSync(long, 'utf8'), 'c\n');
    assert.deepEqual(partials(dir), []);
  });

  test('through a symbolic link the file it points to is replaced and the link stays; a device is written in place', async () => {
    const dir = workdir('output').dir;
    const file = path.join(dir, 'usage.csv');
    fs.writeFileSync(file, 'old\n');
    const link = path.join(dir, 'link.csv');
    fs.symlinkSync('usage.csv', link);
    await writeWhole(link, 'new\n');
    assert.ok(fs.lstatSync(link).isSymbolicLink());
    assert.equal(fs.readFileSync(file, 'utf8'), 'new\n');
    assert.deepEqual(partials(dir), []);
    await writeWhole('/dev/null', 'y'.repeat(100_000));
    assert.ok(fs.statSync('/dev/null').isCharacterDevice());
  });

  test('a SIGTERM while the output is written ends the process by the signal, the old file as it was, no partial file left', () => {
    const dir = workdir('output').dir;
    const file = path.join(dir, 'usage.csv');
    fs.writeFileSync(file, 'old\n');
    const sink = path.join(ROOT, 'dist', 'src', 'output', 'sink.js');
    const script = `
      const { Sink } = await import(${JSON.stringify(sink)});
      const s = Sink.open(${JSON.stringify(file)});
      await s.write('x'.repeat(100000));
      await s.flush();
      process.kill(process.pid, 'SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 5000));
      await s.close();`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(r.signal, 'SIGTERM', r.stderr);
    assert.equal(fs.readFileSync(file, 'utf8'), 'old\n');
    assert.deepEqual(partials(dir), []);
  });
});
