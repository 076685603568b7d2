/**
 * A fast, well-mixed 53-bit string hash (cyrb53 by bryc, public domain). 53 bits fit a JS number exactly and a
 * SQLite INTEGER, so hashes can be compared and stored without BigInt. Not cryptographic: callers that key on it
 * compare the hashed text on a match.
 */
export function hash53(text: string): number {
  return hash53Parts(text);
}

/**
 * hash53 of up to four strings as if joined by U+0000, without building the joined string (ingest hashes two
 * strings per event; skipping the concatenation saves an allocation each).
 */
export function hash53Parts(a: string, b?: string, c?: string, d?: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  const parts = b === undefined ? 1 : c === undefined ? 2 : d === undefined ? 3 : 4;
  for (let p = 0; p < parts; p++) {
    const s = p === 0 ? a : p === 1 ? b! : p === 2 ? c! : d!;
    if (p > 0) {
      // The separator, as a U+0000 character would mix in.
      h1 = Math.imul(h1, 2654435761);
      h2 = Math.imul(h2, 1597334677);
    }
    for (let i = 0; i < s.length; i++) {
      const ch = s.charCodeAt(i);
      h1 = Math.imul(h1 ^ ch, 2654435761);
      h2 = Math.imul(h2 ^ ch, 1597334677);
    }
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}
