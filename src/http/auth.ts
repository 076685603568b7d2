/**
 * Who may call: the admin token (`--token` / METER_TOKEN) for the API, and portal tokens for the customer-facing
 * query route. Tokens are compared in constant time, and never printed or logged.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { HttpProblem } from './problem.js';

/** The bearer token of a request, or null. */
export function bearerOf(req: IncomingMessage): string | null {
  const h = req.headers.authorization;
  if (h === undefined) return null;
  const m = /^Bearer +(\S+) *$/i.exec(h);
  return m ? m[1]! : null;
}

/** Constant-time equality of two secrets (hashed first, so their lengths leak nothing either). */
export function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** Whether a request carries the admin token: always, on a server without one. */
export function hasAdminToken(req: IncomingMessage, token: string | null): boolean {
  if (token === null) return true;
  const given = bearerOf(req);
  return given !== null && sameSecret(given, token);
}

export function unauthorized(detail = 'missing or invalid bearer token'): HttpProblem {
  return new HttpProblem(401, detail, undefined, { 'WWW-Authenticate': 'Bearer' });
}

/** The 403 of a portal token asked for a meter it does not allow. */
export function meterNotAllowed(slug: string): HttpProblem {
  return new HttpProblem(403, `this portal token does not allow meter ${slug}`);
}

/** What a portal token grants: one subject's usage, on some meters (all when absent), until it expires. */
export interface PortalClaims {
  /** The token's id. */
  id: string;
  subject: string;
  allowedMeterSlugs?: string[];
  /** Epoch ms; absent: the token does not expire. */
  expiresAt?: number;
  createdAt: number;
}

const b64url = (b: Buffer) => b.toString('base64url');

/** Bytes of key a portal token's HMAC needs: with fewer, anyone can guess the key and forge tokens. */
export const PORTAL_KEY_BYTES = 32;

/** The portal key file holds no usable key (empty, short, or not base64url text). */
export class PortalKeyError extends Error {
  constructor(
    readonly file: string,
    /** What is wrong, as a phrase after the file's name ("holds 3 bytes of key, fewer than 32"). */
    readonly problem: string,
  ) {
    super(`portal key file ${file} ${problem}; delete it to have a new key written`);
  }
}

/** The key a key file holds, checked: an empty or short key would let anyone forge a token. */
function keyOf(file: string, text: string): Buffer {
  const t = text.trim();
  // Both base64 alphabets, so that `openssl rand -base64 32` makes a key too; any other character is no key.
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(t)) throw new PortalKeyError(file, 'does not hold a key as base64url text');
  const key = Buffer.from(t, 'base64url');
  if (key.length < PORTAL_KEY_BYTES)
    throw new PortalKeyError(file, `holds ${key.length} bytes of key, fewer than the ${PORTAL_KEY_BYTES} a portal token needs`);
  return key;
}

/**
 * Writes a new random key to `file` unless it exists (another process created it first). The key is
 * written to a file of its own and linked into place, so that no reader ever sees a file half-written, and a
 * failed write (a full disk) leaves no empty key file behind.
 */
function createKeyFile(file: string): void {
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    try {
      fs.writeSync(fd, b64url(randomBytes(PORTAL_KEY_BYTES)) + '\n');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.linkSync(tmp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** The key of a key file, and the version of the file it was read from. */
interface LoadedKey {
  key: Buffer;
  version: string;
}

/** What tells two versions of the key file apart: a file deleted and made again, replaced or rewritten differs. */
const versionOf = (st: fs.BigIntStats): string => `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;

/** Reads the key file, creating it (0600, 32 random bytes) when absent. */
function loadKey(file: string): LoadedKey {
  for (;;) {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      // Another server may create it first: then its key is read on the next turn.
      createKeyFile(file);
      continue;
    }
    try {
      // The version of the very file read, whatever happens to the name meanwhile.
      const version = versionOf(fs.fstatSync(fd, { bigint: true }));
      return { key: keyOf(file, fs.readFileSync(fd, 'utf8')), version };
    } finally {
      fs.closeSync(fd);
    }
  }
}

/**
 * Portal tokens: `om_portal_<claims>.<hmac>`, the claims as base64url JSON and an HMAC-SHA256 over them. The key
 * lives in a file (0600) so that tokens survive a restart. Deleting the file revokes every token at once: each
 * use of the key checks the file (a stat), and a file that is gone means a new key, written to the file, so that
 * the tokens issued from then on survive a restart too.
 */
export class PortalSigner {
  private constructor(
    private readonly file: string,
    private loaded: LoadedKey,
  ) {}

  /**
   * Reads the key file, creating it (0600, 32 random bytes) when absent. A file without a usable key is a
   * PortalKeyError, and is left as it is: it may be someone else's.
   */
  static fromFile(file: string): PortalSigner {
    return new PortalSigner(file, loadKey(file));
  }

  sign(claims: PortalClaims): string {
    const body = b64url(Buffer.from(JSON.stringify(claims)));
    return `om_portal_${body}.${this.mac(body)}`;
  }

  /** The claims of a valid, unexpired token, or null. */
  verify(token: string, nowMs: number): PortalClaims | null {
    const m = /^om_portal_([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(token);
    if (!m) return null;
    // The signature's text is compared, not its bytes: decoding ignores the unused low bits of the last
    // character, so several texts decode to the same bytes, and a token would have several spellings.
    const mac = Buffer.from(m[2]!);
    const want = Buffer.from(this.mac(m[1]!));
    if (mac.length !== want.length || !timingSafeEqual(mac, want)) return null;
    let claims: PortalClaims;
    try {
      claims = JSON.parse(Buffer.from(m[1]!, 'base64url').toString('utf8')) as PortalClaims;
    } catch {
      return null;
    }
    if (typeof claims.subject !== 'string') return null;
    if (claims.expiresAt !== undefined && claims.expiresAt <= nowMs) return null;
    return claims;
  }

  private mac(body: string): string {
    return b64url(createHmac('sha256', this.key()).update(body).digest());
  }

  /**
   * The key of the file as it is now. A stat per use keeps this cheap: the file is read again only when it was
   * deleted, replaced or rewritten. A file replaced by one without a usable key is a PortalKeyError (a 500 in
   * the server's log): no token is signed or accepted until the file is fixed or deleted.
   */
  private key(): Buffer {
    const st = fs.statSync(this.file, { bigint: true, throwIfNoEntry: false });
    if (st === undefined || versionOf(st) !== this.loaded.version) this.loaded = loadKey(this.file);
    return this.loaded.key;
  }
}

/** The claims of the request's portal token; a 401 problem when it has none, or a forged or expired one. */
export function portalClaimsOf(req: IncomingMessage, signer: PortalSigner): PortalClaims {
  const token = bearerOf(req);
  const claims = token === null ? null : signer.verify(token, Date.now());
  if (claims === null) throw unauthorized('missing, invalid or expired portal token');
  return claims;
}
