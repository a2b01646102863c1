import type { NodeId, RpcMessage } from '../core/types.js';

/** A client request forwarded from a follower to the leader. */
export type ClientRequest = { readonly type: 'propose'; readonly command: unknown } | { readonly type: 'read'; readonly query: unknown };

export type ClientResponse =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: { readonly code: string; readonly message: string; readonly leaderId?: NodeId } };

export interface TransportHandlers {
  /** A peer's RPC, not yet validated: the node parses it at its edge. */
  onMessage(message: unknown): void;
  /** A client request forwarded by a peer. */
  onRequest(request: ClientRequest): Promise<ClientResponse>;
}

/**
 * How a node reaches its peers. `send` is fire-and-forget (Raft tolerates loss) but keeps the
 * order of messages to one peer; a slow or dead peer must not hold up the others.
 */
export interface Transport {
  /**
   * True if every message this transport hands to `onMessage` has already been parsed by
   * `parseRpcMessage` (src/core/validate.ts); the node then does not parse it again.
   */
  readonly validatesMessages?: boolean;
  start(handlers: TransportHandlers): void;
  send(to: NodeId, message: RpcMessage): void;
  request(to: NodeId, request: ClientRequest): Promise<ClientResponse>;
  /** Where a peer can be reached by clients, when the transport knows (for NotLeaderError). */
  addressOf?(id: NodeId): string | undefined;
  /**
   * For a transport that needs addresses: where a member is reached. The node calls it for every
   * address a configuration entry carries (a server added to the cluster, or moved).
   */
  setPeerAddress?(id: NodeId, address: string): void;
  stop(): void;
}

export class TransportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransportError';
  }
}
