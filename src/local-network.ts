/**
 * LocalNetwork: the in-process network that ConsensusProtocol instances share when a test or a
 * script wants whole RPC exchanges to happen inside one method call.
 *
 * Delivery is synchronous and deterministic: messages go through one FIFO queue and are delivered
 * one at a time, in the order they were sent, until the queue is empty; whatever a delivery makes
 * a node send joins the back of the same queue. No clock, no randomness: the same calls always
 * produce the same exchange. (For delays, loss, duplication and reordering in virtual time, use the
 * simulator's MemoryNetwork in src/transport/memory.ts.)
 *
 * `disconnect(id)` cuts a node off in both directions. Connectivity is checked when a message is
 * sent and again when it would be delivered; a message that meets a cut link is lost, not kept for
 * later — exactly what Raft is built to tolerate. Reconnecting does not resend anything: the next
 * heartbeat or request does.
 */
import type { NodeId, RpcMessage } from './core/types.js';
import { InvalidRequestError, RaftError } from './errors.js';

/** A message and the node it is addressed to — what a node hands to its network. */
export interface Envelope<M extends RpcMessage = RpcMessage> {
  readonly to: NodeId;
  readonly message: M;
}

/** What a node attaches to a LocalNetwork: one message in, the messages it sends in response out. */
export interface NetworkEndpoint {
  /** Handle one message. May throw a RaftError to refuse it (the network records the refusal). */
  deliver(message: RpcMessage): readonly Envelope[];
}

export interface Delivery {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly message: RpcMessage;
}

/** A message the recipient refused (it failed validation, or broke a rule the node reports). */
export interface RefusedDelivery extends Delivery {
  readonly error: RaftError;
}

export interface LocalNetworkOptions {
  /**
   * Most deliveries in one flush before the network gives up and throws: Raft's message exchanges
   * end when no timer fires, so reaching this means a livelock bug, not a busy cluster. Default 100 000.
   */
  maxDeliveriesPerFlush?: number;
}

export class LocalNetwork {
  private readonly endpoints = new Map<NodeId, NetworkEndpoint>();
  private readonly disconnected = new Set<NodeId>();
  private queue: Delivery[] = [];
  private head = 0;
  private flushing = false;
  private readonly maxDeliveriesPerFlush: number;
  /** Counters since the network was made. */
  readonly stats = { sent: 0, delivered: 0, dropped: 0 };
  /** Every delivery a recipient refused, in order (tests assert this stays empty). */
  readonly refused: RefusedDelivery[] = [];

  constructor(options: LocalNetworkOptions = {}) {
    const max = options.maxDeliveriesPerFlush ?? 100_000;
    if (!Number.isInteger(max) || max < 1) {
      throw new InvalidRequestError(`maxDeliveriesPerFlush must be a positive integer, got ${String(max)}`);
    }
    this.maxDeliveriesPerFlush = max;
  }

  /** Attach a node under `id`. Each id may be attached once at a time. */
  attach(id: NodeId, endpoint: NetworkEndpoint): void {
    if (this.endpoints.has(id)) {
      throw new InvalidRequestError(`a node with id ${JSON.stringify(id)} is already attached to this network; stop() it first`);
    }
    this.endpoints.set(id, endpoint);
  }

  /** Remove a node (ConsensusProtocol.stop() does this). Messages to it are lost from now on. */
  detach(id: NodeId): void {
    this.endpoints.delete(id);
    this.disconnected.delete(id);
  }

  /** The ids of the attached nodes, in the order they were attached. */
  get nodes(): NodeId[] {
    return [...this.endpoints.keys()];
  }

  /** Cut `id` off from every other node, both directions, until `connect(id)`. */
  disconnect(id: NodeId): void {
    this.assertAttached(id);
    this.disconnected.add(id);
  }

  connect(id: NodeId): void {
    this.assertAttached(id);
    this.disconnected.delete(id);
  }

  isConnected(id: NodeId): boolean {
    return this.endpoints.has(id) && !this.disconnected.has(id);
  }

  /** Messages sent but not yet delivered. */
  get pending(): number {
    return this.queue.length - this.head;
  }

  /**
   * Queue messages from `from` without delivering them yet. A message from a disconnected sender
   * never leaves it. ConsensusProtocol posts and then flushes; timer-driven sends (a clock you
   * advance yourself) are only posted — call `flush()` after advancing the clock.
   */
  post(from: NodeId, envelopes: readonly Envelope[]): void {
    for (const { to, message } of envelopes) {
      this.stats.sent++;
      if (this.isConnected(from)) this.queue.push({ from, to, message });
      else this.stats.dropped++;
    }
  }

  /**
   * Deliver queued messages, and everything they cause, until nothing is left. Returns how many
   * were delivered. Re-entrant calls (from inside a delivery) return 0: the outer flush finishes the job.
   */
  flush(): number {
    if (this.flushing) return 0;
    this.flushing = true;
    let delivered = 0;
    try {
      for (let next = this.take(); next !== undefined; next = this.take()) {
        const endpoint = this.endpoints.get(next.to);
        if (endpoint === undefined || !this.isConnected(next.from) || !this.isConnected(next.to)) {
          this.stats.dropped++;
          continue;
        }
        if (++delivered > this.maxDeliveriesPerFlush) {
          throw new RaftError(
            'network_livelock',
            `LocalNetwork delivered more than ${this.maxDeliveriesPerFlush} messages in one flush without going quiet; ` + `this is a livelock in the nodes, not a busy cluster`,
          );
        }
        this.stats.delivered++;
        let replies: readonly Envelope[];
        try {
          replies = endpoint.deliver(next.message);
        } catch (error) {
          // A refusal is the recipient's answer to a bad message; anything else is a bug and must be loud.
          if (!(error instanceof RaftError)) throw error;
          this.refused.push({ ...next, error });
          continue;
        }
        this.post(next.to, replies);
      }
    } finally {
      this.flushing = false;
    }
    return delivered;
  }

  private take(): Delivery | undefined {
    const next = this.queue[this.head];
    if (next === undefined) {
      this.queue = [];
      this.head = 0;
      return undefined;
    }
    this.head++;
    return next;
  }

  private assertAttached(id: NodeId): void {
    if (!this.endpoints.has(id)) {
      const known = this.nodes.map((n) => JSON.stringify(n)).join(', ') || 'none';
      throw new InvalidRequestError(`no node ${JSON.stringify(id)} is attached to this network (attached: ${known})`);
    }
  }
}
