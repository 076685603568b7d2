/** The SQLite store's tables, its schema version and the upgrades from older versions. */
import type Database from 'better-sqlite3';
import { canonicalOrSame } from '../../core/json.js';
import { registerFingerprint } from './functions.js';

/**
 * 2: a subject's rows are found through `subject_rows` instead of an index on (subject, time_ms).
 * 3: `data` is in canonical form (see core/json.ts).
 * 4: `staged` holds events a server committed but has not deduplicated into `events` yet (see staging.ts); a
 *    meter that does not know it would leave them out of every answer.
 */
export const SCHEMA_VERSION = 4;

/**
 * Where each subject's rows are: one row per subject per commit, listing the seq of every event of that subject
 * the commit stored. Written in the same transaction as the events. It serves what an index on
 * (subject, time_ms) served (one-subject queries, the subject list) at a fraction of its cost at ingest: an index
 * gets one entry inserted at a random place per event, this gets one row per subject per commit.
 */
const SUBJECT_ROWS = `CREATE TABLE IF NOT EXISTS subject_rows (
  subject TEXT NOT NULL,
  first_seq INTEGER NOT NULL,
  n INTEGER NOT NULL,
  min_time INTEGER NOT NULL,
  max_time INTEGER NOT NULL,
  seqs TEXT NOT NULL,
  PRIMARY KEY (subject, first_seq)
) WITHOUT ROWID;`;

/**
 * Events committed by `meter serve` before they are deduplicated into `events` (staging.ts): appending them costs
 * a commit a page or two, where the events table's key index takes a page per event at a random place. One row
 * per commit: `events` is a JSON array of [k, source, id, type, subject, time_ms, data, fp] per event (fp as in
 * `events`), `seq` keeps the commits' order, so the first copy still wins when they are merged, and `writer`
 * is a random id of the connection that staged it, so that a connection can tell its own rows from others'.
 */
const STAGED = `CREATE TABLE IF NOT EXISTS staged (
  seq INTEGER PRIMARY KEY,
  writer INTEGER NOT NULL,
  ingested_ms INTEGER NOT NULL,
  events TEXT NOT NULL
);`;

/** Version 1 -> 2: the subject index becomes subject_rows (one row per subject per 200,000 events). */
const MIGRATE_1_TO_2 = `${SUBJECT_ROWS}
INSERT INTO subject_rows (subject, first_seq, n, min_time, max_time, seqs)
  SELECT subject, min(seq), count(*), min(time_ms), max(time_ms), json_group_array(seq)
  FROM (SELECT subject, seq, time_ms FROM events ORDER BY subject, seq) GROUP BY subject, seq / 200000;
DROP INDEX IF EXISTS events_subject_time;
`;

/**
 * Version 2 -> 3: `data` is made canonical (meter_canon keeps what it cannot read). Rows of version 1 hold a
 * content fingerprint of the old text in `fp`: it becomes what it is since version 2 (whether the event had a
 * time: 0 given, 1 missing, as TIME_GIVEN and TIME_MISSING) first, while the fingerprint can still be checked.
 */
const MIGRATE_2_TO_3 = `UPDATE events SET fp = CASE
    WHEN fp = meter_fp(type, subject, time_ms, data) THEN 0 WHEN fp = meter_fp(type, subject, NULL, data) THEN 1 ELSE fp END
  WHERE fp NOT IN (0, 1);
UPDATE events SET data = meter_canon(data) WHERE data IS NOT NULL AND data IS NOT meter_canon(data);`;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY,
  k INTEGER,
  source TEXT NOT NULL,
  id TEXT NOT NULL,
  type TEXT NOT NULL,
  subject TEXT NOT NULL,
  time_ms INTEGER NOT NULL,
  data TEXT,
  fp INTEGER NOT NULL, -- 0: the event had a time, 1: it had none (in rows of version 1: a content fingerprint)
  ingested_ms INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_k ON events(k);
${SUBJECT_ROWS}
${STAGED}
CREATE TABLE IF NOT EXISTS collisions (
  source TEXT NOT NULL,
  id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (source, id)
);
`;

/** The `fp` column of a row: whether its event had a time (since version 2), else a content fingerprint. */
export const TIME_GIVEN = 0,
  TIME_MISSING = 1;

/**
 * Creates or upgrades the tables to SCHEMA_VERSION in one write transaction. The version is read again inside the
 * write lock: another process may have created or upgraded the store meanwhile.
 */
export function migrate(db: Database.Database): void {
  db.transaction(() => {
    const now = db.pragma('user_version', { simple: true }) as number;
    if (now === 0) db.exec(SCHEMA);
    if (now === 1) db.exec(MIGRATE_1_TO_2);
    if (now === 1 || now === 2) {
      db.function('meter_canon', { deterministic: true }, (d: unknown) => canonicalOrSame(d as string));
      registerFingerprint(db);
      db.exec(MIGRATE_2_TO_3);
    }
    if (now >= 1 && now <= 3) db.exec(STAGED);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
