/**
 * The HTTP server of `meter serve` on node:http: one request -> route() -> a reply or a problem, written here and
 * only here. Requests pipelined on one connection are served one after the other, in order (RFC 9112 9.3.2: only
 * safe methods may run in parallel), so a query sent after an ingest on the same connection sees its events.
 * Stopping is graceful: no new connections, every request in flight gets its answer (an ingest only once its
 * events are committed), then the caller closes the store.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { hasAdminToken } from './auth.js';
import { badRequest, HttpProblem, problemBody, problemOf } from './problem.js';
import { StoreBusyError } from '../errors.js';
import { corsHeaders, route, type Api, type Reply } from './routes.js';

/** A character of an HTTP token (RFC 9110 5.6.2), such as a method. */
const TCHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;
/** A request line's start: a method token and its space. */
const METHOD = new RegExp(`^${TCHAR.source}+ `);

/** How long a stopping server waits for requests on its open connections once none is in flight. */
const STOP_QUIET_MS = 200;
/** How long a stopping server takes connections the kernel has completed before it stops listening. */
const STOP_ACCEPT_MS = 50;
/** The largest request line and headers taken: Go's http.DefaultMaxHeaderBytes. */
const MAX_HEAD_BYTES = 1 << 20;

export interface ServeOptions {
  host: string;
  port: number;
  /** Where to report failures of the store (never a token). */
  log(line: string): void;
}

/** The requests of one connection not yet answered, and the end of the last one's handling. */
interface Lane {
  pending: number;
  tail: Promise<void>;
}

export class ApiServer {
  private readonly server: http.Server;
  private readonly lanes = new WeakMap<object, Lane>();
  private inFlight = 0;
  private idle: (() => void) | null = null;
  private closing = false;

  constructor(
    private readonly api: Api,
    private readonly o: ServeOptions,
  ) {
    // Idle connections are kept longer than clients keep theirs (undici: 4 s, load balancers: 60 s), so that a
    // client never sends on a connection the server is closing at that moment.
    // A request without Host is answered by handle() with a problem (Node's own 400 has no body). The request head
    // may take 1 MiB, as in Go's net/http (OpenMeter's server): a GET query's repeatable `subject` has no limit, and
    // Node's 16 KiB refused one of about 800 subjects.
    this.server = http.createServer(
      {
        keepAliveTimeout: 65_000,
        headersTimeout: 10_000,
        requestTimeout: 0,
        requireHostHeader: false,
        maxHeaderSize: MAX_HEAD_BYTES,
      },
      (req, res) => this.handle(req, res),
    );
    // `Expect: 100-continue`: the client is told to send its body only when the body may be read. One declared
    // past --max-body gets its 413 at once (readBody refuses it on the declared length), and one without the admin
    // token its 401 (every route with a body needs it), without a 100 first.
    this.server.on('checkContinue', (req, res) => {
      const tooLarge = Number(req.headers['content-length']) > this.api.limits.maxBytes;
      if (!tooLarge && hasAdminToken(req, this.api.token)) res.writeContinue();
      this.handle(req, res);
    });
    // A client that sends its pipelined requests and then half-closes the connection still gets every answer:
    // Node would otherwise abort the requests still queued behind the first (see handle) and close at once.
    (this.server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    // Any other expectation cannot be met (RFC 9110 10.1.1), as Go's server answers too; Node's own 417 has no body.
    this.server.on('checkExpectation', (req, res) =>
      this.handle(req, res, new HttpProblem(417, `Expect: ${req.headers.expect} is not supported (only 100-continue)`)),
    );
    // CONNECT is a method like any other here: 405 (Node closes such a connection without an answer).
    this.server.on('connect', (_req: IncomingMessage, socket: Duplex) => this.answerRaw(socket, 405, 'method not allowed'));
    // A request Node's parser refuses (bytes that are no HTTP, headers too large, headers too slow) gets a problem
    // too, where Node's own answer has no body.
    this.server.on('clientError', (e: NodeJS.ErrnoException & { rawPacket?: Buffer; bytesParsed?: number }, socket: Duplex) => {
      // As Node's own handler: a connection the client reset, or one that cannot be written, is only closed.
      if (e.code === 'ECONNRESET' || !socket.writable) {
        socket.destroy();
        return;
      }
      // The client closed its side in the middle of a request whose body is still awaited: that request gets its
      // own answer (readBody refuses a body that can no longer come), then the connection closes.
      const lane = this.lanes.get(socket);
      if (e.code === 'HPE_INVALID_EOF_STATE' && lane !== undefined && lane.pending > 0) {
        void lane.tail.then(() => socket.end());
        return;
      }
      // A method token Node's parser does not know (`FOO /path`) is a method this server does not allow; bytes
      // that are no method at all are a malformed request. The token is read back from where the parser stopped
      // (a packet may begin with the requests before it, bodies included).
      const packet = e.rawPacket?.toString('latin1') ?? '';
      let start = Math.min(e.bytesParsed ?? 0, packet.length);
      while (start > 0 && TCHAR.test(packet[start - 1]!)) start--;
      const unknownMethod = e.code === 'HPE_INVALID_METHOD' && METHOD.test(packet.slice(start));
      const [status, detail] =
        e.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'the request headers are too large']
          : e.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? [408, 'the request headers did not arrive in time']
            : unknownMethod
              ? [405, 'method not allowed']
              : [400, 'malformed HTTP request'];
      this.answerRaw(socket, status, detail);
    });
  }

  /**
   * Answers on the socket itself, where Node gives no response object, and closes the connection: after the
   * answers of the requests before it on the connection (a committed ingest keeps its 204).
   */
  private answerRaw(socket: Duplex, status: number, detail: string): void {
    const body = problemBody(new HttpProblem(status, detail));
    const write = () => {
      if (!socket.writable) return void socket.destroy();
      socket.end(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/problem+json\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    };
    const lane = this.lanes.get(socket);
    if (lane && lane.pending > 0) void lane.tail.then(write);
    else write();
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

  /**
   * Stops accepting connections, answers every request on the open ones, and resolves when none has come for
   * STOP_QUIET_MS. A connection counts as idle to Node while its request waits unread behind a commit that holds
   * the event loop, so the open connections are not closed at once (Node's own close would reset them): each answer
   * now closes its connection, and what is left when nothing has come for a while is closed then.
   */
  async stop(): Promise<void> {
    // Connections the kernel completed but the event loop has not accepted yet (a commit held it) would be reset
    // when the listening socket closes: the loop first takes them in, then stops listening. Meanwhile answers
    // keep their connections open, so that clients do not reconnect into the closing window.
    await new Promise((resolve) => setTimeout(resolve, STOP_ACCEPT_MS));
    this.closing = true;
    const closed = new Promise<void>((resolve) => net.Server.prototype.close.call(this.server, () => resolve()));
    do {
      if (this.inFlight > 0) await new Promise<void>((resolve) => (this.idle = resolve));
      await new Promise((resolve) => setTimeout(resolve, STOP_QUIET_MS));
    } while (this.inFlight > 0);
    this.server.closeAllConnections();
    await closed;
  }

  /** Queues a request behind the others of its connection; `refused` answers it with that problem. */
  private handle(req: IncomingMessage, res: ServerResponse, refused?: HttpProblem): void {
    this.inFlight++;
    let lane = this.lanes.get(req.socket);
    if (lane === undefined) this.lanes.set(req.socket, (lane = { pending: 0, tail: Promise.resolve() }));
    const l = lane;
    l.pending++;
    l.tail = l.tail
      .then(() => this.serve(req, res, l, refused))
      .finally(() => {
        l.pending--;
        this.inFlight--;
        if (this.inFlight === 0 && this.idle) this.idle();
      });
  }

  private serve(req: IncomingMessage, res: ServerResponse, lane: Lane, refused?: HttpProblem): Promise<void> {
    const answer = refused
      ? Promise.reject(refused)
      : req.headers.host === undefined && req.httpVersion === '1.1'
        ? Promise.reject(badRequest('the request has no Host header (HTTP/1.1 requires one)'))
        : route(this.api, req);
    return answer
      .then(
        (reply) => this.respond(req, res, reply, lane),
        (e: unknown) => {
          const p = problemOf(e);
          if (p.status === 500 || e instanceof StoreBusyError)
            this.o.log(`meter serve: ${req.method} ${req.url?.split('?')[0]}: ${(e as Error)?.message ?? String(e)}`);
          this.respond(req, res, problemReply(p), lane);
        },
      )
      .catch((e: unknown) => {
        this.o.log(`meter serve: could not answer: ${(e as Error)?.message ?? String(e)}`);
        // Never leave a request without an answer: a bare 500, or a closed connection once the head is out.
        if (res.headersSent) res.destroy();
        else res.writeHead(500, { 'Content-Length': 0, Connection: 'close' }).end();
      });
  }

  private respond(req: IncomingMessage, res: ServerResponse, reply: Reply, lane: Lane): void {
    const headers: Record<string, string | number> = { ...corsHeaders(req.url), ...reply.headers };
    if (reply.type !== undefined) headers['Content-Type'] = reply.type;
    const body = reply.body === undefined ? undefined : Buffer.from(reply.body, 'utf8');
    // A 204 has no body and must not say how long it is (RFC 9110 8.6).
    if (reply.status !== 204) headers['Content-Length'] = body?.length ?? 0;
    // A body not read to its end (413, 408) leaves the connection unusable. A server that is stopping closes the
    // connection after the last request received on it, so that every one of them gets its answer.
    if ((this.closing && lane.pending === 1) || !req.complete) headers.Connection = 'close';
    res.writeHead(reply.status, headers);
    res.end(body);
  }
}

function problemReply(p: HttpProblem): Reply {
  return { status: p.status, type: 'application/problem+json', body: problemBody(p), headers: p.headers };
}
