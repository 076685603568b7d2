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

export function unauthorized(detail = 'missing or invalid bearer token'): HttpProblem {
  return new HttpProblem(401, detail, undefined, { 'WWW-Authenticate': 'Bearer' });
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

/**
 * Portal tokens: `om_portal_<claims>.<hmac>`, the claims as base64url JSON and an HMAC-SHA256 over them. The key
 * lives in a file (0600) so that tokens survive a restart; deleting the file revokes every token.
 */
export class PortalSigner {
  private constructor(private readonly key: Buffer) {}

  /** Reads the key file, creating it (0600, 32 random bytes) when absent. */
  static fromFile(file: string): PortalSigner {
    try {
      return new PortalSigner(Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64url'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const key = randomBytes(32);
    try {
      fs.writeFileSync(file, b64url(key) + '\n', { mode: 0o600, flag: 'wx' });
      return new PortalSigner(key);
    } catch (e) {
      // Another server created it first: use theirs.
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return PortalSigner.fromFile(file);
      throw e;
    }
  }

  sign(claims: PortalClaims): string {
    const body = b64url(Buffer.from(JSON.stringify(claims)));
    return `om_portal_${body}.${this.mac(body)}`;
  }

  /** The claims of a valid, unexpired token, or null. */
  verify(token: string, nowMs: number): PortalClaims | null {
    const m = /^om_portal_([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(token);
    if (!m) return null;
    const mac = Buffer.from(m[2]!, 'base64url');
    const want = Buffer.from(this.mac(m[1]!), 'base64url');
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
    return b64url(createHmac('sha256', this.key).update(body).digest());
  }
}

/** The claims of the request's portal token; a 401 problem when it has none, or a forged or expired one. */
export function portalClaimsOf(req: IncomingMessage, signer: PortalSigner): PortalClaims {
  const token = bearerOf(req);
  const claims = token === null ? null : signer.verify(token, Date.now());
  if (claims === null) throw unauthorized('missing, invalid or expired portal token');
  return claims;
}
