/**
 * The tables of a ClickHouse store (database from the URL, created on first use, schema version in `meter_meta`):
 * - `events`: one row per stored copy, MergeTree ORDER BY (type, subject, time_ms), times as epoch ms Int64;
 *   its columns are explained in store.ts, and the flattened-data arrays in flatten.ts;
 * - `event_keys`: (k, source, id, fp, order) sorted by k, filled by a materialized view: the dedupe look-ups;
 * - `dropped`: copies that lost a race between concurrent writers; `batches`: open/closed marks of write groups
 *   (races.ts);
 * - `meter_meta`: the schema version.
 * A store of schema version 1 (doubles' texts and IEEE bits in place of nt/nk, SQLite's REAL texts in js) is
 * upgraded in place by the first command that opens it for writing (upgradeFromV1); read-only commands refuse it.
 */
import { once } from 'node:events';
import { contentFingerprint } from '../../core/event.js';
import { canonicalOrSame } from '../../core/json.js';
import { StoreError } from '../../errors.js';
import { clickHouseCode, describeError } from './errors.js';
import { emptyFlat, flattenData } from './flatten.js';
import type { Connection } from './http.js';
import { sqlString } from './literals.js';
import { encodeEventRow, EVENT_COLUMNS, RowBinaryWriter } from './rowbinary.js';

export const CLICKHOUSE_SCHEMA_VERSION = 2;

/** The events table; `ifNotExists` false makes creating it fail when it exists. */
function eventsTableSql(db: string, name: string, ifNotExists: boolean): string {
  return `CREATE TABLE ${ifNotExists ? 'IF NOT EXISTS ' : ''}${db}.${name} (
      k UInt64, source String, id String, type String, subject String, time_ms Int64, data Nullable(String),
      fp UInt64, ingested_ms Int64, run UInt64, seq UInt64,
      jp Array(String), js Array(String), jk Array(UInt8),
      np Array(String), nt Array(String), nk Array(String), ni Array(Int64), nf Array(Int64), nx Array(UInt8)
    ) ENGINE = MergeTree PARTITION BY toYYYYMM(toDateTime(intDiv(time_ms, 1000))) ORDER BY (type, subject, time_ms)`;
}

function eventKeysViewSql(db: string): string {
  return `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.event_keys_mv TO ${db}.event_keys AS
      SELECT k, source, id, fp, ingested_ms, run, seq FROM ${db}.events`;
}

/** The table a schema upgrade fills before it takes the place of `events` (its existence marks an upgrade under way). */
const UPGRADE_TABLE = 'events_upgrade';

function schemaSql(db: string): string[] {
  return [
    `CREATE DATABASE IF NOT EXISTS ${db}`,
    eventsTableSql(db, 'events', true),
    `CREATE TABLE IF NOT EXISTS ${db}.event_keys (
      k UInt64, source String, id String, fp UInt64, ingested_ms Int64, run UInt64, seq UInt64
    ) ENGINE = MergeTree ORDER BY k`,
    eventKeysViewSql(db),
    `CREATE TABLE IF NOT EXISTS ${db}.dropped (run UInt64, seq UInt64, at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY (run, seq)`,
    `CREATE TABLE IF NOT EXISTS ${db}.batches (run UInt64, batch UInt64, state UInt8, at DateTime DEFAULT now())
      ENGINE = MergeTree ORDER BY (run, batch)`,
    `CREATE TABLE IF NOT EXISTS ${db}.meter_meta (key String, value String, at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY key`,
  ];
}

/**
 * Makes the store's tables ready at this meter's schema version: creates them (for writing), upgrades an older
 * store (for writing) or refuses it (read-only), and refuses a newer one. `run` is this writer's id, which names
 * the tables an upgrade sets aside.
 */
export async function prepareSchema(conn: Connection, run: string, readonly: boolean): Promise<void> {
  const location = conn.target.location;
  const exists = await conn.rows<{ n: string }>(
    `SELECT toString(count()) AS n FROM system.tables WHERE database = ${sqlString(conn.target.database)} AND name = 'meter_meta'`,
    'opening the store',
  );
  let version = Number(exists[0]?.n ?? 0) > 0 ? await schemaVersion(conn) : 0;
  if (version > CLICKHOUSE_SCHEMA_VERSION) {
    throw new StoreError(
      `${location}: store schema version ${version} is newer than this meter (${CLICKHOUSE_SCHEMA_VERSION}); upgrade meter`,
    );
  }
  if (version > 0 && version < CLICKHOUSE_SCHEMA_VERSION) {
    if (readonly) {
      throw new StoreError(
        `${location}: the store has schema version ${version}, older than this meter's (${CLICKHOUSE_SCHEMA_VERSION}); ` +
          `run \`meter ingest --db ${location}\` (no input needed: < /dev/null) once to upgrade it in place`,
      );
    }
    if (version !== 1) throw new StoreError(`${location}: cannot upgrade a store of schema version ${version}`);
    await upgradeFromV1(conn, run);
    version = CLICKHOUSE_SCHEMA_VERSION;
  }
  if (version < CLICKHOUSE_SCHEMA_VERSION) {
    if (readonly) throw new StoreError(`${location}: no meter store in this database yet (run \`meter ingest\` first, or pass --db)`);
    await refuseForeignTables(conn);
    for (const sql of schemaSql(conn.db)) await conn.command(sql, 'creating the tables');
    // Last, so a version row means every table exists (concurrent creators write the same row: harmless).
    await conn.command(
      `INSERT INTO ${conn.db}.meter_meta (key, value) VALUES ('schema_version', ${sqlString(String(CLICKHOUSE_SCHEMA_VERSION))})`,
      'writing the schema version',
    );
  }
}

/** The columns of the tables schemaSql creates (IF NOT EXISTS: a table of that name is taken as it is). */
const OWN_COLUMNS: Record<string, string> = {
  events: 'k,source,id,type,subject,time_ms,data,fp,ingested_ms,run,seq,jp,js,jk,np,nt,nk,ni,nf,nx',
  event_keys: 'k,source,id,fp,ingested_ms,run,seq',
  dropped: 'run,seq,at',
  batches: 'run,batch,state,at',
};

/**
 * Before creating the tables in a database without meter's schema version: a table of one of their names with
 * other columns is someone else's, and meter never adds its tables next to it (as with a SQLite file of another
 * program). One with meter's columns is another meter creating the store at this moment.
 */
async function refuseForeignTables(conn: Connection): Promise<void> {
  const rows = await conn.rows<{ table: string; columns: string }>(
    `SELECT table, arrayStringConcat(arraySort(groupArray(name)), ',') AS columns FROM system.columns ` +
      `WHERE database = ${sqlString(conn.target.database)} AND table IN (${Object.keys(OWN_COLUMNS).map(sqlString).join(', ')}) ` +
      'GROUP BY table',
    'opening the store',
  );
  const sorted = (columns: string) => columns.split(',').sort().join(',');
  const foreign = rows.filter((r) => r.columns !== sorted(OWN_COLUMNS[r.table]!)).map((r) => r.table);
  if (foreign.length > 0) {
    throw new StoreError(
      `${conn.target.location}: not a meter store: the database holds ${foreign.length === 1 ? 'a table' : 'tables'} ${foreign.join(', ')} ` +
        'that meter did not create; use another database in --db',
    );
  }
}

/** The version in `meter_meta` (which exists). */
async function schemaVersion(conn: Connection): Promise<number> {
  const v = await conn.rows<{ v: string }>(
    `SELECT toString(max(toUInt32OrZero(value))) AS v FROM ${conn.db}.meter_meta WHERE key = 'schema_version'`,
    'reading the schema version',
  );
  return Number(v[0]?.v ?? 0);
}

/**
 * Upgrades a version 1 store in place, before any write of this run. Version 1 kept each number's double (its
 * text for MIN/MAX/LATEST and its IEEE bits as order key, SQLite's REAL rendering as group-by text); version 2
 * keeps exact canonical decimals and exact order keys (flatten.ts). Every stored row is read, flattened again in
 * JS from its `data`, and written to UPGRADE_TABLE, which then takes the place of `events` (RENAME TABLE); keys,
 * runs and seqs are kept, so `event_keys`, `dropped` and `batches` stay valid as they are. Creating UPGRADE_TABLE
 * fails while another meter upgrades the same store, so one of them does it.
 */
async function upgradeFromV1(conn: Connection, run: string): Promise<void> {
  const db = conn.db;
  const location = conn.target.location;
  try {
    await conn.client.command({ query: eventsTableSql(db, UPGRADE_TABLE, false) });
  } catch (e) {
    if (clickHouseCode(e) === 57) {
      throw new StoreError(
        `${location}: another meter is upgrading this store to schema version ${CLICKHOUSE_SCHEMA_VERSION}; run again when it is done ` +
          `(if no meter is running, an upgrade was interrupted: DROP TABLE ${db}.${UPGRADE_TABLE} and run again)`,
      );
    }
    throw describeError(conn.target, e, 'upgrading the store');
  }
  const what = `upgrading the store to schema version ${CLICKHOUSE_SCHEMA_VERSION}`;
  // Another meter may have finished an upgrade between our reading the version and creating the table.
  if ((await schemaVersion(conn)) >= CLICKHOUSE_SCHEMA_VERSION) {
    await conn.command(`DROP TABLE IF EXISTS ${db}.${UPGRADE_TABLE}`, what);
    return;
  }
  const insert = conn.openInsert(`INSERT INTO ${db}.${UPGRADE_TABLE} (${EVENT_COLUMNS}) FORMAT RowBinary`);
  const { body, done } = insert;
  let copied = 0,
    refingerprinted = 0;
  const flat = emptyFlat();
  try {
    const sql =
      `SELECT toString(k), source, id, type, subject, toString(time_ms), isNull(data), ifNull(data, ''), toString(fp), ` +
      `toString(ingested_ms), toString(run), toString(seq) FROM ${db}.events`;
    for await (const batch of conn.tsv(sql, 12, what)) {
      const w = new RowBinaryWriter(1 << 16);
      for (const r of batch) {
        // Data written before canonical form becomes canonical, and its content fingerprint follows it, so that
        // a re-sent copy is still a duplicate.
        const old = r[6] === '1' ? null : r[7]!;
        const data = old === null ? null : canonicalOrSame(old);
        let fp = r[8]!;
        if (data !== old) {
          const time = Number(r[5]);
          if (fp === String(contentFingerprint(r[3]!, r[4]!, time, old))) fp = String(contentFingerprint(r[3]!, r[4]!, time, data));
          else if (fp === String(contentFingerprint(r[3]!, r[4]!, null, old))) fp = String(contentFingerprint(r[3]!, r[4]!, null, data));
          if (fp !== r[8]) refingerprinted++;
        }
        encodeEventRow(w, r[0]!, r[1]!, r[2]!, r[3]!, r[4]!, r[5]!, data, fp, r[9]!, r[10]!, r[11]!, flattenData(data, flat));
      }
      copied += batch.length;
      if (insert.error !== undefined) throw insert.error;
      if (!body.write(w.take())) await Promise.race([once(body, 'drain'), done]).catch(() => {});
    }
    body.end();
    await done;
    const n = await conn.rows<{ a: string; b: string }>(
      `SELECT toString((SELECT count() FROM ${db}.events)) AS a, toString((SELECT count() FROM ${db}.${UPGRADE_TABLE})) AS b`,
      what,
    );
    if (n[0]!.a !== String(copied) || n[0]!.b !== String(copied)) {
      throw new Error(
        `rows changed during the upgrade (${n[0]!.a} stored, ${copied} read, ${n[0]!.b} written); is an older meter writing?`,
      );
    }
  } catch (e) {
    body.destroy();
    await done.catch(() => {});
    await conn.command(`DROP TABLE IF EXISTS ${db}.${UPGRADE_TABLE}`, what).catch(() => {});
    throw describeError(conn.target, e, what);
  }
  // The swap. The view that fills event_keys is made again over the new `events` (a server may tie a view to
  // the table it was created on, not to its name); the copied rows' keys are in event_keys already.
  const old = `events_v1_${run}`;
  await conn.command(`RENAME TABLE ${db}.events TO ${db}.${old}, ${db}.${UPGRADE_TABLE} TO ${db}.events`, what);
  if (refingerprinted > 0) {
    // Fingerprints that followed their data into canonical form: the dedupe look-ups are made again from events.
    const keys = `event_keys_v1_${run}`;
    await conn.command(`CREATE TABLE ${db}.event_keys_upgrade AS ${db}.event_keys`, what);
    await conn.command(`INSERT INTO ${db}.event_keys_upgrade SELECT k, source, id, fp, ingested_ms, run, seq FROM ${db}.events`, what);
    await conn.command(`RENAME TABLE ${db}.event_keys TO ${db}.${keys}, ${db}.event_keys_upgrade TO ${db}.event_keys`, what);
    await conn.command(`DROP TABLE IF EXISTS ${db}.${keys}`, what);
  }
  await conn.command(`DROP TABLE IF EXISTS ${db}.event_keys_mv`, what);
  await conn.command(eventKeysViewSql(db), what);
  await conn.command(
    `INSERT INTO ${db}.meter_meta (key, value) VALUES ('schema_version', ${sqlString(String(CLICKHOUSE_SCHEMA_VERSION))})`,
    what,
  );
  await conn.command(`DROP TABLE IF EXISTS ${db}.${old}`, what);
}
