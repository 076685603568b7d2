/**
 * Every command documents itself: `--help` has an Examples section whose lines run that command, and the README
 * names it (in the commands table). A command added without both fails here.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ROOT, Workdir } from './helpers.js';

test('every command has --help with examples of itself, and a row in the README', () => {
  const w = new Workdir('help');
  try {
    const top = w.run(['--help']);
    assert.equal(top.code, 0, top.describe());
    const commands = [
      ...top.stdout
        .split('Commands:')[1]!
        .split(/\n\s*\n/)[0]!
        .matchAll(/^ {2}(\w+)/gm),
    ]
      .map((m) => m[1]!)
      .filter((c) => c !== 'help');
    assert.ok(commands.length >= 7, `commands found: ${commands.join(', ')}`);
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    for (const c of commands) {
      const r = w.run([c, '--help']);
      assert.equal(r.code, 0, r.describe());
      const examples = r.stdout.split(/\nExamples:\n/)[1];
      assert.ok(examples !== undefined, `meter ${c} --help has no Examples section`);
      const lines = examples.split('\n').filter((l) => /^\s+meter /.test(l) || /\|\s*meter /.test(l));
      assert.ok(
        lines.some((l) => l.includes(`meter ${c}`)),
        `meter ${c} --help: no example runs meter ${c}`,
      );
      assert.match(readme, new RegExp(`\\| \`meter ${c}\\b`), `README's commands table has no row for meter ${c}`);
    }
  } finally {
    w.remove();
  }
});
