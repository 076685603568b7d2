/**
 * What a failed ClickHouse call means for the user: every error of the connection (errno codes, the server's
 * `Code: N` numbers) becomes one StoreError naming the store and what was being done, with the password removed.
 */
import { StoreError } from '../../errors.js';
import type { ClickHouseTarget } from './url.js';

/** The ClickHouse error code in a message (18.16's errors lack the suffix the client parses). */
export function clickHouseCode(e: unknown): number | null {
  const msg = (e as Error)?.message ?? '';
  const m = /Code: (\d+)/.exec(msg);
  return m ? Number(m[1]) : null;
}

export function describeError(t: ClickHouseTarget, e: unknown, what: string): StoreError {
  if (e instanceof StoreError) return e;
  const err = e as NodeJS.ErrnoException;
  let msg = String(err?.message ?? e).split('\n')[0]!;
  msg = msg.replace(/, e\.what\(\) = DB::Exception$/, '').replace(/e\.displayText\(\) = DB::Exception: /, '');
  msg = withoutPassword(msg, t.password);
  const code = err?.code ?? '';
  const where = `${t.location}`;
  if (code === 'ECONNREFUSED' || /ECONNREFUSED/.test(msg)) {
    return new StoreError(
      `${where}: cannot connect to ClickHouse at ${t.host}:${t.port} (is it running? scripts/clickhouse.sh start starts a local one)`,
      e,
    );
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new StoreError(`${where}: unknown host ${t.host}`, e);
  if (code === 'ECONNRESET' || code === 'EPIPE' || /socket hang up/.test(msg)) {
    return new StoreError(
      `${where}: the connection to ClickHouse broke during ${what} (${msg}); nothing of an unacknowledged batch is counted, run again`,
      e,
    );
  }
  if (/Timeout/i.test(msg) && clickHouseCode(e) === null)
    return new StoreError(`${where}: ClickHouse did not answer in time during ${what}`, e);
  const ch = clickHouseCode(e);
  if (ch === 516 || ch === 192 || ch === 193 || ch === 194) {
    return new StoreError(
      `${where}: ClickHouse refused user ${t.username} (${msg}); check the URL's user and password or METER_CLICKHOUSE_PASSWORD`,
      e,
    );
  }
  if (ch === 164 || ch === 497) return new StoreError(`${where}: user ${t.username} may not do ${what} (${msg})`, e);
  if (ch === 241) return new StoreError(`${where}: ClickHouse ran out of memory during ${what} (${msg})`, e);
  return new StoreError(`${where}: ${what} failed: ${msg}`, e);
}

/**
 * A message with the password masked wherever it appears; a password of under four characters only where it
 * stands alone (not inside a longer word), so that `p` does not mask letters of the server's words
 * (`DB::Exce***tion`).
 */
export function withoutPassword(msg: string, password: string | undefined): string {
  if (!password) return msg;
  if (password.length >= 4) return msg.split(password).join('***');
  const escaped = password.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return msg.replace(new RegExp(`(?<![A-Za-z0-9])${escaped}(?![A-Za-z0-9])`, 'g'), '***');
}
