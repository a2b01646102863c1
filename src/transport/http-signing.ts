/**
 * HMAC signing of peer requests: the sender signs, the receiver recomputes and compares in
 * constant time. X-Raft-Signature = hex(HMAC-SHA256(secret, from + "\n" + method + " " + path + "\n" + body)).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { NodeId } from '../core/types.js';

/** The proof of the secret one peer request carries (lowercase hex). */
export function signRequest(secret: string, from: NodeId, method: string, path: string, body: Buffer | string): string {
  return createHmac('sha256', secret).update(`${from}\n${method} ${path}\n`).update(body).digest('hex');
}

/** Whether a header value has the form of a signature (64 hex digits); checked before the body is read. */
export function isSignatureShaped(signature: string): boolean {
  return /^[0-9a-f]{64}$/i.test(signature);
}

/** Whether `signature` (of the form isSignatureShaped accepts) is this request's signature under `secret`. */
export function verifySignature(secret: string, from: NodeId, method: string, path: string, body: Buffer | string, signature: string): boolean {
  if (!isSignatureShaped(signature)) return false;
  const expected = Buffer.from(signRequest(secret, from, method, path, body), 'hex');
  return timingSafeEqual(expected, Buffer.from(signature, 'hex'));
}
