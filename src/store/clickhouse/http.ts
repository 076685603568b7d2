/**
 * The connection to the server: the official client for commands, JSON and TabSeparated reads and streamed
 * INSERTs, and a plain HTTP request for queries that need binary external data (key sets), which the client
 * cannot send. Every failure leaves here as a StoreError (errors.ts).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { PassThrough, Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createClient, ClickHouseLogLevel, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import { describeError } from './errors.js';
import { sqlIdent } from './literals.js';
import { RowBinaryWriter } from './rowbinary.js';
import { parseTsv } from './tsv.js';
import type { ClickHouseTarget } from './url.js';

/** An INSERT whose body is streamed: rows are written to `body`; `done` settles when the server has answered. */
export interface StreamedInsert {
  body: PassThrough;
  done: Promise<void>;
  /** Set when the insert failed (`body` is then destroyed). */
  error: unknown;
}

export class Connection {
  /** The store's database, quoted (sqlIdent). */
  readonly db: string;
  /** Kept-alive connections for the key look-ups (sent outside the client: it has no external data). */
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 2 });

  private constructor(
    readonly target: ClickHouseTarget,
    readonly client: ClickHouseClient,
  ) {
    this.db = sqlIdent(target.database);
  }

  static create(target: ClickHouseTarget): Connection {
    const client = createClient({
      url: target.httpUrl,
      username: target.username,
      password: target.password,
      request_timeout: 600_000,
      max_open_connections: 4,
      compression: { request: false, response: false },
      log: { level: ClickHouseLogLevel.OFF },
    });
    return new Connection(target, client);
  }

  async command(sql: string, what: string, settings: ClickHouseSettings = {}): Promise<void> {
    try {
      await this.client.command({ query: sql, clickhouse_settings: settings });
    } catch (e) {
      throw describeError(this.target, e, what);
    }
  }

  async rows<T>(sql: string, what: string, settings: ClickHouseSettings = {}): Promise<T[]> {
    try {
      const rs = await this.client.query({ query: sql, format: 'JSONEachRow', clickhouse_settings: { ...querySize(sql), ...settings } });
      return await rs.json<T>();
    } catch (e) {
      throw describeError(this.target, e, what);
    }
  }

  /**
   * Streams a query's rows as TabSeparated fields (unescaped), in batches: much cheaper than JSON for the large
   * results of meter queries. Every line must have `columns` fields and the answer must end with a newline, so an
   * error the server writes into an answer already under way is an error here too, never a cut result.
   */
  async *tsv(sql: string, columns: number, what: string): AsyncGenerator<string[][]> {
    let stream: NodeJS.ReadableStream;
    try {
      const r = await this.client.exec({ query: `${sql} FORMAT TabSeparated`, clickhouse_settings: querySize(sql) });
      stream = r.stream;
    } catch (e) {
      throw describeError(this.target, e, what);
    }
    const decoder = new StringDecoder('utf8');
    let rest = '';
    try {
      for await (const chunk of stream) {
        const text = rest + decoder.write(chunk as Buffer);
        const last = text.lastIndexOf('\n');
        if (last < 0) {
          rest = text;
          continue;
        }
        rest = text.slice(last + 1);
        yield parseTsv(text.slice(0, last), columns);
      }
      rest += decoder.end();
      if (rest !== '') throw new Error(`unexpected end of the answer: ${rest.slice(0, 200)}`);
    } catch (e) {
      throw describeError(this.target, e, what);
    } finally {
      (stream as Readable).destroy?.();
    }
  }

  /** Inserts VALUES rows, each built with sqlString/sqlInt only, sent as the request body in pieces. */
  async insertValues(table: string, columns: string, rows: string[], what: string): Promise<void> {
    if (rows.length === 0) return;
    try {
      const pieces: string[] = [];
      for (let i = 0; i < rows.length; i += 2000) pieces.push(rows.slice(i, i + 2000).join(',') + (i + 2000 < rows.length ? ',' : ''));
      const r = await this.client.exec({
        query: `INSERT INTO ${this.db}.${table} (${columns}) FORMAT Values`,
        values: Readable.from(pieces),
      });
      await drain(r.stream);
    } catch (e) {
      throw describeError(this.target, e, what);
    }
  }

  /**
   * Starts an INSERT (`sql` names its format) whose body is written while it runs. Errors are not thrown here: the
   * caller checks `error` between writes and awaits `done`.
   */
  openInsert(sql: string, settings?: ClickHouseSettings): StreamedInsert {
    const body = new PassThrough();
    body.on('error', () => {}); // a failure is reported through `done`
    const done = this.client
      .exec(settings === undefined ? { query: sql, values: body } : { query: sql, values: body, clickhouse_settings: settings })
      .then((r) => drain(r.stream));
    const insert: StreamedInsert = { body, done, error: undefined };
    done.catch((e: unknown) => {
      insert.error = e ?? new Error('insert failed');
      body.destroy();
    });
    return insert;
  }

  /**
   * Runs a query that reads a set of keys as the temporary table `_keys` (k UInt64), sent beside the query as
   * binary external data (RowBinary): no key list is parsed as SQL. Answers TabSeparated rows of `columns`.
   */
  async withKeys(keys: number[], sql: string, columns: number, what: string): Promise<string[][]> {
    const w = new RowBinaryWriter(keys.length * 8 + 16);
    for (const k of keys) w.int64(k);
    const boundary = `meter${randomBytes(12).toString('hex')}`;
    const body = Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="_keys"; filename="_keys"\r\nContent-Type: application/octet-stream\r\n\r\n`,
      ),
      w.take(),
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const params = new URLSearchParams({ query: `${sql} FORMAT TabSeparated`, _keys_structure: 'k UInt64', _keys_format: 'RowBinary' });
    const t = this.target;
    const text = await new Promise<string>((resolve, reject) => {
      const req = http.request(
        {
          host: t.host.replace(/^\[(.*)\]$/, '$1'),
          port: t.port,
          method: 'POST',
          path: `/?${params.toString()}`,
          agent: this.agent,
          headers: {
            'Content-Type': `multipart/form-data; boundary=${boundary}`,
            'Content-Length': String(body.length),
            Authorization: `Basic ${Buffer.from(`${t.username}:${t.password}`).toString('base64')}`,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const out = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode === 200) resolve(out);
            else reject(new Error(out.trim() || `HTTP ${res.statusCode}`));
          });
        },
      );
      req.on('error', reject);
      req.setTimeout(600_000, () => req.destroy(new Error('Timeout')));
      req.end(body);
    }).catch((e: unknown) => {
      throw describeError(t, e, what);
    });
    if (text === '') return [];
    if (!text.endsWith('\n')) throw describeError(t, new Error(`unexpected end of the answer: ${text.slice(-200)}`), what);
    try {
      return parseTsv(text.slice(0, -1), columns);
    } catch (e) {
      throw describeError(t, e, what);
    }
  }

  /** Closes the connections; `quiet`: a failure to close is ignored (closing after a failed open). */
  async close(quiet = false): Promise<void> {
    this.agent.destroy();
    if (quiet) await this.client.close().catch(() => {});
    else await this.client.close();
  }
}

/** Reads a response to its end (an insert answers with an empty body). */
async function drain(stream: NodeJS.ReadableStream): Promise<void> {
  for await (const _ of stream) {
    // nothing to read
  }
}

/**
 * The server parses at most max_query_size bytes of a query (256 KiB by default) into at most max_ast_elements
 * nodes (50,000; 500,000 once aliases are expanded): a query with thousands of subjects or filter values (every
 * one a literal, as ClickHouse 18.16 binds none), or the window plan of a zone's offsets over millennia, raises
 * them to fit. A node takes at least a byte of the text, so the text's length bounds their number.
 */
function querySize(sql: string): ClickHouseSettings {
  const bytes = Buffer.byteLength(sql) + 1024;
  if (bytes <= 1 << 15) return {};
  return {
    ...(bytes > 1 << 18 ? { max_query_size: String(bytes) } : {}),
    max_ast_elements: String(Math.max(50_000, bytes)),
    max_expanded_ast_elements: String(Math.max(500_000, 10 * bytes)),
  };
}
