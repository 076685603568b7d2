/** What reading an input yields: candidate events with their positions, and what could not be cut out as one. */

/** One candidate event: its JSON text and where it came from. */
export interface InputRecord {
  line: number;
  /** Position in a JSON array (0-based), null for NDJSON lines and top-level objects. */
  index: number | null;
  text: string;
}

/** Something that could not even be cut out as an event (too large, invalid UTF-8, corrupt gzip...). */
export interface InputProblem {
  line: number;
  index: number | null;
  error: string;
  raw: string;
}

export type InputItem = InputRecord | InputProblem;

export function isProblem(item: InputItem): item is InputProblem {
  return (item as InputProblem).error !== undefined;
}

export interface ReadOptions {
  /** Largest accepted event in bytes; larger ones are rejected without being held in memory. */
  maxEventBytes: number;
}

/** How much of a rejected input is kept in the rejects file. */
export const MAX_RAW_CHARS = 10_000;

/** A rejected input as the rejects file keeps it: at most MAX_RAW_CHARS characters. */
export function clip(text: string): string {
  return text.length > MAX_RAW_CHARS ? text.slice(0, MAX_RAW_CHARS) + '...' : text;
}
