/**
 * Reading a request body with a size limit and a deadline: a body over `--max-body` is refused with 413 before it
 * is buffered, and one that never finishes is cut off with 408, so a slow or hostile client holds no memory long.
 */
import type { IncomingMessage } from 'node:http';
import { HttpProblem } from './problem.js';

export interface BodyLimits {
  maxBytes: number;
  timeoutMs: number;
}

/**
 * Strict UTF-8: a byte sequence that is not UTF-8 refuses the request rather than becoming U+FFFD, which would make
 * different ids or subjects one (and bill them as one). A leading byte order mark is dropped, as `meter ingest` does.
 */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

export function readBody(req: IncomingMessage, limits: BodyLimits): Promise<string> {
  // Bodies are read as sent: a compressed one is refused by name rather than read as bytes that are not UTF-8.
  const coding = req.headers['content-encoding']?.trim().toLowerCase();
  if (coding !== undefined && coding !== '' && coding !== 'identity') {
    return Promise.reject(
      new HttpProblem(415, `Content-Encoding ${coding} is not supported: send the body uncompressed`, undefined, {
        'Accept-Encoding': 'identity',
      }),
    );
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limits.maxBytes) {
    return Promise.reject(tooLarge(limits.maxBytes));
  }
  // A request the client aborted (it closed the connection while the request waited its turn) has no body to come.
  // (Its body may have arrived whole: a destroyed stream still drops what it holds.)
  if (req.destroyed) return Promise.reject(new HttpProblem(400, 'the request was aborted by the client'));
  // A body not whole when the client has closed its side can no longer come.
  const socket = req.socket;
  const cut = () => new HttpProblem(400, 'the request body ended before its length: the client closed the connection');
  if (socket.readableEnded && !req.complete) return Promise.reject(cut());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (e: HttpProblem | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      socket.off('end', onSocketEnd);
      if (e) {
        // Stop reading what is left: the answer closes the connection (see respond in server.ts).
        req.pause();
        reject(e);
      } else {
        try {
          resolve(UTF8.decode(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size)));
        } catch {
          reject(new HttpProblem(400, 'the request body is not valid UTF-8'));
        }
      }
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limits.maxBytes) finish(tooLarge(limits.maxBytes));
      else chunks.push(c);
    };
    const onEnd = () => finish(null);
    const onError = () => finish(new HttpProblem(400, 'the request body could not be read'));
    // Closed before its end: aborted ('end' comes first for a body read whole).
    const onClose = () => finish(new HttpProblem(400, 'the request was aborted by the client'));
    // The connection's input ended: a body already whole still comes ('end'); one that is not never will.
    const onSocketEnd = () => {
      if (!req.complete) finish(cut());
    };
    const timer = setTimeout(
      () => finish(new HttpProblem(408, `the request body did not arrive within ${limits.timeoutMs} ms`)),
      limits.timeoutMs,
    );
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
    socket.on('end', onSocketEnd);
  });
}

function tooLarge(max: number): HttpProblem {
  return new HttpProblem(413, `request body too large: at most ${max} bytes (--max-body)`);
}
