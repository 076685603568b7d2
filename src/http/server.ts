/**
 * The HTTP server of `meter serve` on node:http: one request -> route() -> a reply or a problem, written here and
 * only here. Stopping is graceful: no new connections, every request in flight gets its answer (an ingest only
 * once its events are committed), then the caller closes the store.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { hasAdminToken } from './auth.js';
import { HttpProblem, problemBody, problemOf } from './problem.js';
import { corsHeaders, route, type Api, type Reply } from './routes.js';

export interface ServeOptions {
  host: string;
  port: number;
  /** Where to report failures of the store (never a token). */
  log(line: string): void;
}

export class ApiServer {
  private readonly server: http.Server;
  private inFlight = 0;
  private idle: (() => void) | null = null;
  private closing = false;

  constructor(
    private readonly api: Api,
    private readonly o: ServeOptions,
  ) {
    // Idle connections are kept longer than clients keep theirs (undici: 4 s, load balancers: 60 s), so that a
    // client never sends on a connection the server is closing at that moment.
    this.server = http.createServer({ keepAliveTimeout: 65_000, headersTimeout: 10_000, requestTimeout: 0 }, (req, res) =>
      this.handle(req, res),
    );
    // `Expect: 100-continue`: the client is told to send its body only when the body may be read. One declared
    // past --max-body gets its 413 at once (readBody refuses it on the declared length), and one without the admin
    // token its 401 (every route with a body needs it), without a 100 first.
    this.server.on('checkContinue', (req, res) => {
      const tooLarge = Number(req.headers['content-length']) > this.api.limits.maxBytes;
      if (!tooLarge && hasAdminToken(req, this.api.token)) res.writeContinue();
      this.handle(req, res);
    });
    // A request Node's parser refuses (bytes that are no HTTP, headers too large, headers too slow) gets a problem
    // too, where Node's own answer has no body.
    this.server.on('clientError', (e: NodeJS.ErrnoException, socket: Duplex) => {
      // As Node's own handler: a connection the client reset, or one that cannot be written, is only closed.
      if (e.code === 'ECONNRESET' || !socket.writable) {
        socket.destroy();
        return;
      }
      const status = e.code === 'HPE_HEADER_OVERFLOW' ? 431 : e.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      const detail =
        status === 431
          ? 'the request headers are too large'
          : status === 408
            ? 'the request headers did not arrive in time'
            : 'malformed HTTP request';
      const body = problemBody(new HttpProblem(status, detail));
      socket.end(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/problem+json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    });
  }

  /** Listens; resolves with the URL. */
  async listen(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.o.port, this.o.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const a = this.server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}`;
  }

  /** Stops accepting, lets every request in flight finish, and resolves when none is left. */
  async stop(): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    if (this.inFlight > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    this.server.closeAllConnections();
    await closed;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.inFlight++;
    route(this.api, req)
      .then(
        (reply) => this.respond(req, res, reply),
        (e: unknown) => {
          const p = problemOf(e);
          if (p.status === 500) this.o.log(`meter serve: ${req.method} ${req.url?.split('?')[0]}: ${(e as Error)?.message ?? String(e)}`);
          this.respond(req, res, problemReply(p));
        },
      )
      .catch((e: unknown) => {
        this.o.log(`meter serve: could not answer: ${(e as Error)?.message ?? String(e)}`);
        // Never leave a request without an answer: a bare 500, or a closed connection once the head is out.
        if (res.headersSent) res.destroy();
        else res.writeHead(500, { 'Content-Length': 0, Connection: 'close' }).end();
      })
      .finally(() => {
        this.inFlight--;
        if (this.inFlight === 0 && this.idle) this.idle();
      });
  }

  private respond(req: IncomingMessage, res: ServerResponse, reply: Reply): void {
    const headers: Record<string, string | number> = { ...corsHeaders(req.url), ...reply.headers };
    if (reply.type !== undefined) headers['Content-Type'] = reply.type;
    const body = reply.body === undefined ? undefined : Buffer.from(reply.body, 'utf8');
    // A 204 has no body and must not say how long it is (RFC 9110 8.6).
    if (reply.status !== 204) headers['Content-Length'] = body?.length ?? 0;
    // A body not read to its end (413, 408) leaves the connection unusable; so does a server that is stopping.
    if (this.closing || !req.complete) headers.Connection = 'close';
    res.writeHead(reply.status, headers);
    res.end(body);
  }
}

function problemReply(p: HttpProblem): Reply {
  return { status: p.status, type: 'application/problem+json', body: problemBody(p), headers: p.headers };
}
