/**
 * The parse floor: the least any Node program must do to read NDJSON events (read the file into one reused
 * buffer, split it on newlines, decode and JSON.parse every line). `meter ingest` is measured against this, in the
 * same run, as a ratio. Synchronous reads into one buffer: no stream machinery, no Buffer.concat per chunk.
 */
import fs from 'node:fs';

let n = 0;
const fd = fs.openSync(process.argv[2]!, 'r');
let buf = Buffer.allocUnsafe(1 << 20);
let have = 0;
for (;;) {
  if (have === buf.length) {
    // A line longer than the buffer: grow it.
    const bigger = Buffer.allocUnsafe(buf.length * 2);
    buf.copy(bigger, 0, 0, have);
    buf = bigger;
  }
  const got = fs.readSync(fd, buf, have, buf.length - have, null);
  if (got === 0) break;
  const end = have + got;
  let pos = 0;
  for (let nl = buf.indexOf(10, pos); nl !== -1 && nl < end; nl = buf.indexOf(10, pos)) {
    if (nl > pos) {
      JSON.parse(buf.toString('utf8', pos, nl));
      n++;
    }
    pos = nl + 1;
  }
  buf.copy(buf, 0, pos, end);
  have = end - pos;
}
if (have > 0) {
  JSON.parse(buf.toString('utf8', 0, have));
  n++;
}
process.stdout.write(`${n}\n`);
