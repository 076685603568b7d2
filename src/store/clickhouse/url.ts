/** The `--db clickhouse://...` URL: where the server is, who we are, and which database holds the store. */
import { UsageError } from '../../errors.js';
import { sqlIdent } from './literals.js';

export const DEFAULT_HTTP_PORT = 8123;
export const DEFAULT_DATABASE = 'meter';

export interface ClickHouseTarget {
  /** http://host:port for the client. */
  httpUrl: string;
  host: string;
  port: number;
  username: string;
  password: string;
  database: string;
  /** The URL without the password, for messages. */
  location: string;
}

/**
 * Parses `clickhouse://[user[:password]@]host[:port]/database` (port: the HTTP port, default 8123; database
 * default `meter`). The password may also come from METER_CLICKHOUSE_PASSWORD (the URL's wins).
 */
export function parseClickHouseUrl(spec: string, env: NodeJS.ProcessEnv = process.env): ClickHouseTarget {
  let u: URL;
  try {
    u = new URL(spec);
  } catch {
    throw new UsageError(`--db ${redact(spec)}: not a URL; use clickhouse://[user[:password]@]host[:port]/database`);
  }
  if (u.protocol.toLowerCase() !== 'clickhouse:') throw new UsageError(`--db ${redact(spec)}: the scheme must be clickhouse://`);
  if (u.hostname === '') throw new UsageError(`--db ${redact(spec)}: no host; use clickhouse://host:8123/database`);
  if (u.search !== '' || u.hash !== '') throw new UsageError(`--db ${redact(spec)}: no ?query or #fragment is understood`);
  const port = u.port === '' ? DEFAULT_HTTP_PORT : Number(u.port);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new UsageError(`--db ${redact(spec)}: bad port`);
  const pathParts = u.pathname.split('/').filter((p) => p !== '');
  if (pathParts.length > 1) throw new UsageError(`--db ${redact(spec)}: the path must be one database name`);
  let database = DEFAULT_DATABASE;
  if (pathParts.length === 1) {
    try {
      database = decodeURIComponent(pathParts[0]!);
    } catch {
      throw new UsageError(`--db ${redact(spec)}: bad database name`);
    }
  }
  sqlIdent(database);
  const dec = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new UsageError(`--db ${redact(spec)}: bad %-escape in the user or password`);
    }
  };
  const username = u.username === '' ? 'default' : dec(u.username);
  const password = u.password !== '' ? dec(u.password) : (env.METER_CLICKHOUSE_PASSWORD ?? '');
  const host = u.hostname;
  const user = u.username === '' ? '' : `${u.username}@`;
  return {
    httpUrl: `http://${host}:${port}`,
    host,
    port,
    username,
    password,
    database,
    location: `clickhouse://${user}${host}:${port}/${database}`,
  };
}

/** The spec with any password replaced, for error messages. */
export function redact(spec: string): string {
  return spec.replace(/^([a-z]+:\/\/[^:/@]*):[^@/]*@/i, '$1:***@');
}
