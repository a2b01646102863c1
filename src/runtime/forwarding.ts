/**
 * Client requests that reach a node which does not lead: forward them to the leader (or reject
 * with NotLeaderError), and on the leader, serve a forwarded request and turn its outcome into a
 * wire answer. Both directions map errors so that a client learns whether a write may have
 * happened (OutcomeUnknownError) or the request is safe to retry (NotLeaderError, ReadTimeoutError).
 */
import type { NodeId } from '../core/types.js';
import { InvalidRequestError, NotLeaderError, OutcomeUnknownError, RaftError, ReadTimeoutError } from '../errors.js';
import type { ClientRequest, ClientResponse, Transport } from '../transport/transport.js';

export interface ForwardingContext {
  /** This node. */
  self: NodeId;
  /** The leader this node knows of, read when the request arrives. */
  leader: NodeId | null;
  transport: Transport;
  /** `false`: reject with NotLeaderError instead of forwarding. */
  forwardToLeader: boolean | undefined;
}

/** On a node that does not lead: hand `request` to the leader and map its answer back to a value or a RaftError. */
export async function forwardOrReject<T>(request: ClientRequest, { self, leader, transport, forwardToLeader }: ForwardingContext): Promise<T> {
  if (leader === null || leader === self || forwardToLeader === false) {
    throw new NotLeaderError(leader ?? undefined, leader ? transport.addressOf?.(leader) : undefined);
  }
  let response: ClientResponse;
  try {
    response = await transport.request(leader, request);
  } catch (error) {
    // No connection was made, so nothing was sent: the write did not happen and is safe to retry.
    if (request.type === 'read' || neverSent(error)) throw new NotLeaderError(undefined);
    throw new OutcomeUnknownError(`forwarding to leader ${leader} failed (${(error as Error).message})`);
  }
  if (response.ok) return response.value as T;
  const { code, message, leaderId } = response.error;
  if (code === 'not_leader') throw new NotLeaderError(leaderId, leaderId ? transport.addressOf?.(leaderId) : undefined);
  if (code === 'invalid_request') throw new InvalidRequestError(message);
  // Anything else from the leader (it stopped, it timed out, …): a write may or may not have
  // happened; a read had no effect and may be retried.
  if (request.type === 'read') throw new ReadTimeoutError(-1, `the leader could not serve the read (${code}: ${message})`);
  throw new OutcomeUnknownError(`the leader could not finish the proposal (${code}: ${message})`);
}

/** Errors of a connection that was never made (the leader is down or unreachable): nothing left this node. */
export const NOT_CONNECTED: ReadonlySet<string> = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

function neverSent(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && NOT_CONNECTED.has(code);
}

/**
 * On the leader: run `serve` (which may throw, e.g. NotLeaderError) and turn its outcome into a
 * wire answer; an error that is not a RaftError becomes `outcome_unknown`.
 */
export async function serveForwarded(serve: () => Promise<unknown>): Promise<ClientResponse> {
  try {
    const value = await serve();
    return { ok: true, value };
  } catch (error) {
    const e = error instanceof RaftError ? error : new OutcomeUnknownError(String(error));
    return { ok: false, error: { code: e.code, message: e.message, ...(e instanceof NotLeaderError && e.leaderId ? { leaderId: e.leaderId } : {}) } };
  }
}
