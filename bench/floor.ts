/**
 * The parse floor: the least any Node program must do to read NDJSON events (split Buffer chunks on newlines,
 * JSON.parse every line). `meter ingest` is measured against this, in the same run, as a ratio.
 */
import fs from 'node:fs';

let n = 0;
let rest: Buffer = Buffer.alloc(0);
for await (const chunk of fs.createReadStream(process.argv[2]!, { highWaterMark: 1 << 20 })) {
  const buf: Buffer = rest.length ? Buffer.concat([rest, chunk as Buffer]) : (chunk as Buffer);
  let pos = 0;
  for (let nl = buf.indexOf(10, pos); nl !== -1; nl = buf.indexOf(10, pos)) {
    if (nl > pos) {
      JSON.parse(buf.toString('utf8', pos, nl));
      n++;
    }
    pos = nl + 1;
  }
  rest = buf.subarray(pos);
}
process.stdout.write(`${n}\n`);
