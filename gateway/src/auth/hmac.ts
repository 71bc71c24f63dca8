/**
 * HMAC-SHA256 request signing, shared by the webhook forwarder (gateway -> platform) and the
 * operator-acknowledgement callback (police receiver -> gateway). The signature covers the
 * timestamp and the exact body bytes, so a captured request cannot be replayed later or with
 * another body. Header names and format follow the common webhook habit (Stripe/GitHub style).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-shouwang-signature';
export const TIMESTAMP_HEADER = 'x-shouwang-timestamp';
/** A signed request older or newer than this (ms) is refused. */
export const DEFAULT_SIGNATURE_TOLERANCE_MS = 5 * 60_000;

/** `sha256=<hex>` over `<timestamp>.<body>`. */
export function signBody(secret: string, timestampMs: number, body: string | Buffer): string {
  const mac = createHmac('sha256', secret);
  mac.update(`${timestampMs}.`);
  mac.update(body);
  return `sha256=${mac.digest('hex')}`;
}

/** The two headers to send with `body`. */
export function signatureHeaders(secret: string, body: string | Buffer, now = Date.now()): Record<string, string> {
  return { [TIMESTAMP_HEADER]: String(now), [SIGNATURE_HEADER]: signBody(secret, now, body) };
}

export type SignatureCheck = { ok: true } | { ok: false; reason: string };

/** Checks a received request; the reason says which header is wrong (never the expected value). */
export function verifySignature(
  secret: string,
  body: string | Buffer,
  headers: { signature?: string | undefined; timestamp?: string | undefined },
  now = Date.now(),
  toleranceMs = DEFAULT_SIGNATURE_TOLERANCE_MS,
): SignatureCheck {
  if (!headers.timestamp || !/^\d{1,16}$/.test(headers.timestamp)) return { ok: false, reason: `missing or malformed ${TIMESTAMP_HEADER}` };
  if (!headers.signature || !/^sha256=[0-9a-f]{64}$/.test(headers.signature)) return { ok: false, reason: `missing or malformed ${SIGNATURE_HEADER}` };
  const ts = Number(headers.timestamp);
  if (Math.abs(now - ts) > toleranceMs) return { ok: false, reason: `${TIMESTAMP_HEADER} is outside ±${toleranceMs / 1000} s of our clock` };
  const expected = Buffer.from(signBody(secret, ts, body));
  const given = Buffer.from(headers.signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, reason: `${SIGNATURE_HEADER} does not match the body` };
  return { ok: true };
}
