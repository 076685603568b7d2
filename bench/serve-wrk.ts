/**
 * The serve benchmark's load through wrk (Debian's `wrk` package), when it is installed: a C client that spends
 * about a quarter of a core where autocannon, on the same two cores, spends most of one, so the server and the
 * floor get the machine. The events are benchEvent's, built by a Lua script (each request its own unique ids).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { MODELS } from './generate.js';
import { START_SECONDS } from './serve-events.js';

export interface LoadResult {
  requests: number;
  non2xx: number;
  errors: number;
  eventsPerSec: number;
  p50ms: number;
  p99ms: number;
}

/** Whether wrk is on the PATH. */
export function haveWrk(): boolean {
  return spawnSync('wrk', ['--version'], { encoding: 'utf8' }).error === undefined;
}

/** benchEvent (serve-events.ts) in Lua: the same JSON text for the same prefix and n. */
const SCRIPT = `
local models = {${MODELS.map((m) => `"${m}"`).join(', ')}}
local prefix, batch, n = "load", 1, 0
function init(args) prefix = args[1]; batch = tonumber(args[2]) end
local function event()
  local id = n
  n = n + 1
  return string.format('{"specversion":"1.0","type":"prompt","id":"%s-%d","source":"bench","subject":"customer-%04d",' ..
    '"time":"%s","data":{"tokens":%d,"model":"%s"}}', prefix, id, id % 1000,
    os.date("!%Y-%m-%dT%H:%M:%S.000Z", ${START_SECONDS} + id), (id * 7919) % 2800, models[id % #models + 1])
end
request = function()
  if batch == 1 then
    return wrk.format("POST", "/api/v1/events", {["Content-Type"] = "application/cloudevents+json"}, event())
  end
  local parts = {}
  for i = 1, batch do parts[i] = event() end
  return wrk.format("POST", "/api/v1/events", {["Content-Type"] = "application/cloudevents-batch+json"},
    "[" .. table.concat(parts, ",") .. "]")
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests":%d,"non2xx":%d,"errors":%d,"seconds":%.6f,"p50us":%d,"p99us":%d}\\n',
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(99)))
end
`;

/** Runs wrk (one thread) against `url` and returns its figures. */
export function wrkLoad(o: { url: string; batch: number; connections: string; duration: string; prefix: string; dir: string }): LoadResult {
  const script = path.join(o.dir, 'load.lua');
  fs.writeFileSync(script, SCRIPT);
  const r = spawnSync(
    'wrk',
    ['-t1', `-c${o.connections}`, `-d${o.duration}s`, '--timeout', '10s', '-s', script, o.url, '--', o.prefix, String(o.batch)],
    { encoding: 'utf8' },
  );
  const line = /^RESULT (.*)$/m.exec(r.stdout ?? '');
  if (r.status !== 0 || line === null) throw new Error(`wrk failed: ${r.stderr}${r.stdout}`);
  const w = JSON.parse(line[1]!) as { requests: number; non2xx: number; errors: number; seconds: number; p50us: number; p99us: number };
  return {
    requests: w.requests,
    non2xx: w.non2xx,
    errors: w.errors,
    eventsPerSec: Math.round(((w.requests - w.non2xx) * o.batch) / w.seconds),
    p50ms: Math.round(w.p50us / 100) / 10,
    p99ms: Math.round(w.p99us / 100) / 10,
  };
}
