/**
 * Stable ULIDs for things that have none in `meter`: a meter (from its slug) and a subject (from its key). OpenMeter
 * clients expect ULID-shaped ids; deriving them from the name keeps them the same across restarts and servers.
 */
import { createHash, randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A ULID-shaped id (26 Crockford base-32 characters, 128 bits) derived from `kind` and `name`. */
export function stableUlid(kind: 'meter' | 'subject', name: string): string {
  return encode(createHash('sha256').update(`${kind}\u0000${name}`).digest().subarray(0, 16));
}

/** A new ULID: 48 bits of milliseconds, then 80 random bits (a portal token's id). */
export function newUlid(nowMs: number): string {
  const bytes = randomBytes(16);
  bytes.writeUIntBE(nowMs, 0, 6);
  return encode(bytes);
}

function encode(bytes: Uint8Array): string {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  let out = '';
  for (let i = 0; i < 26; i++) {
    out = CROCKFORD[Number(n & 31n)] + out;
    n >>= 5n;
  }
  return out;
}
