/**
 * The built-in `litellm` map: LiteLLM's spend logs (`LiteLLM_SpendLogs` rows) and its standard logging payload.
 * The mapping is a plain spec; code only skips failed calls and refuses a negative spend.
 */
import { applyMapping, buildEvent, mappingPaths, type RecordMapper, readRecordText } from '../mapping.js';
import { compileMapping, type MapOverrides, type MappingSpec } from '../mapping-spec.js';
import { pathTree } from '../path-tree.js';

export const LITELLM_SKIPS = { failure: 'calls LiteLLM logged with status failure' } as const;

export const LITELLM_SPEC: MappingSpec = {
  // request_id in spend logs, id in the standard logging payload.
  id: ['$.request_id', '$.id'],
  // Spend logs hold a timestamp string, the logging payload epoch seconds as a float: both are read.
  time: { path: ['$.startTime', '$.start_time'], timeFormat: 'unix' },
  subject: ['$.end_user', '$.user', '$.metadata.user_api_key_end_user_id', '$.metadata.user_api_key_user_id'],
  source: { value: 'litellm' },
  type: { value: 'litellm' },
  data: {
    model: { path: '$.model', as: 'string', required: true },
    api: { path: '$.call_type', as: 'string' },
    input_tokens: { path: '$.prompt_tokens', as: 'count', required: true },
    output_tokens: { path: '$.completion_tokens', as: 'count', default: 0 },
    total_tokens: { path: '$.total_tokens', as: 'count' },
    tokens: { path: '$.total_tokens', as: 'count' },
    // USD, as LiteLLM computed it; taken from the record's own digits.
    cost: { path: ['$.spend', '$.response_cost'], as: 'number' },
  },
};

export function litellmMapper(o: MapOverrides = {}): RecordMapper {
  const m = compileMapping(LITELLM_SPEC, 'built-in map litellm', o);
  const tree = pathTree([...mappingPaths(m), ['status']]);
  return {
    map(record, text) {
      const literals = readRecordText(text, tree);
      if ('problem' in literals) return { kind: 'reject', error: literals.problem };
      if (record !== null && typeof record === 'object' && (record as Record<string, unknown>).status === 'failure')
        return { kind: 'skip', reason: 'failure' };
      const f = applyMapping(m, record, text, literals);
      if ('problems' in f) return { kind: 'reject', error: f.problems.join('; ') };
      const cost = f.data.find((d) => d[0] === 'cost');
      if (cost?.[1].startsWith('-')) return { kind: 'reject', error: `cost: spend ${cost[1]} is negative` };
      if (!f.data.some((d) => d[0] === 'total_tokens')) {
        const sum = f.data.filter((d) => d[0] === 'input_tokens' || d[0] === 'output_tokens').reduce((a, d) => a + (d[2] as number), 0);
        if (!Number.isSafeInteger(sum)) return { kind: 'reject', error: 'prompt + completion tokens are over 2^53-1' };
        const at = f.data.findIndex((d) => d[0] === 'output_tokens') + 1;
        f.data.splice(at, 0, ['total_tokens', String(sum), sum], ['tokens', String(sum), sum]);
      }
      return { kind: 'event', ...buildEvent(f) };
    },
    finish: () => ({ unbilledStreams: 0 }),
  };
}
