/**
 * `--map NAME|FILE`: the built-in maps by name, or a mapping file's spec. The spec travels to the parse worker as
 * plain data (it is compiled on both sides: in the command, to report every problem before anything runs; in the
 * worker, to map).
 */
import { literalProblems, mappingMapper, type RecordMapper } from '../mapping.js';
import { compileMapping, type MapOverrides } from '../mapping-spec.js';
import { LITELLM_SKIPS, litellmMapper } from './litellm.js';
import { OPENAI_SKIPS, openaiMapper } from './openai.js';

export const BUILT_IN_MAPS = ['openai', 'litellm'] as const;

/** What `--map` and its options say, as a worker receives it. */
export interface MapChoice extends MapOverrides {
  /** A built-in map's name, or a mapping file's name (for messages) with its parsed `spec`. */
  name: string;
  spec?: unknown;
}

/** The mapper of a choice; throws ConfigError (every problem) for a bad mapping file or option. */
export function createMapper(c: MapChoice): RecordMapper {
  const o: MapOverrides = { source: c.source, subjectPath: c.subjectPath, subjectPattern: c.subjectPattern };
  if (c.spec !== undefined) return mappingMapper(compileMapping(c.spec, c.name, o, literalProblems));
  if (c.name === 'openai') return openaiMapper(o);
  if (c.name === 'litellm') return litellmMapper(o);
  throw new Error(`no built-in map ${c.name}`);
}

/** What each skip reason means, for messages. */
export const SKIP_REASONS: Record<string, string> = { ...OPENAI_SKIPS, ...LITELLM_SKIPS };
