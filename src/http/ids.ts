/**
 * Stable ULIDs for things that have none in `meter`: a meter (from its slug) and a subject (from its key). OpenMeter
 * clients expect ULID-shaped ids; deriving them from the name keeps them the same across restarts and servers.
 */
import { createHash } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A ULID-shaped id (26 Crockford base-32 characters, 128 bits) derived from `kind` and `name`. */
export function stableUlid(kind: 'meter' | 'subject', name: string): string {
  const bytes = createHash('sha256').update(`${kind}\u0000${name}`).digest().subarray(0, 16);
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  let out = '';
  for (let i = 0; i < 26; i++) {
    out = CROCKFORD[Number(n & 31n)] + out;
    n >>= 5n;
  }
  return out;
}
