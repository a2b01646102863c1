import { z } from 'zod';
import { entrySize } from '../core/log.js';
import type { NodeId, RpcMessage } from '../core/types.js';
import { SeededRandom } from '../core/random.js';
import { parseAtEdge } from '../edge.js';
import type { Clock } from '../runtime/clock.js';
import { TransportError, type ClientRequest, type ClientResponse, type Transport, type TransportHandlers } from './transport.js';

/** How the in-memory network misbehaves. Probabilities are per message. */
export interface NetworkConditions {
  /** Probability that a message is lost. */
  drop: number;
  /** Probability that a message is delivered twice. */
  duplicate: number;
  /** One-way delay range in ms. */
  delay: readonly [number, number];
  /** Probability that a message may overtake earlier ones to the same peer (extra delay up to 2 × max delay). */
  reorder: number;
  /** Probability that a message is held back for a long time (200–2000 ms) and delivered late. */
  longReorder: number;
}

export const RELIABLE: NetworkConditions = { drop: 0, duplicate: 0, delay: [1, 5], reorder: 0, longReorder: 0 };

const probability = z
  .number({ error: 'a probability is a finite number from 0 to 1' })
  .min(0, { error: 'a probability is a finite number from 0 to 1' })
  .max(1, { error: 'a probability is a finite number from 0 to 1' });
const delayMs = z
  .number({ error: 'a delay is a whole number of ms ≥ 0' })
  .int({ error: 'a delay is a whole number of ms ≥ 0' })
  .nonnegative({ error: 'a delay is a whole number of ms ≥ 0' });

/**
 * Any subset of NetworkConditions, each in its domain: probabilities are finite numbers in [0, 1]
 * (`true` is not "always"), `delay` is [min, max] whole ms with 0 ≤ min ≤ max. A key given as
 * undefined, or one NetworkConditions does not have, is refused rather than ignored.
 */
export const networkConditionsSchema = z.strictObject(
  {
    drop: probability.exactOptional(),
    duplicate: probability.exactOptional(),
    delay: z
      .tuple([delayMs, delayMs], { error: 'delay is [min, max] in ms' })
      .refine(([min, max]) => min <= max, { error: 'delay is [min, max] with min ≤ max' })
      .exactOptional(),
    reorder: probability.exactOptional(),
    longReorder: probability.exactOptional(),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown condition ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}; the conditions are drop, duplicate, delay, reorder, longReorder`
        : 'the network conditions are an object like { drop: 0.1, delay: [1, 20] }',
  },
);

/**
 * An in-process network between nodes, with faults: isolation, partitions, loss, delay,
 * duplication and reordering. All randomness comes from one seeded generator and all timing from
 * one clock, so a run replays exactly. Connectivity is checked when a message is sent and again
 * when it arrives: a message in flight into a partition is lost.
 */
export class MemoryNetwork {
  private readonly endpoints = new Map<NodeId, MemoryTransport>();
  private readonly isolated = new Set<NodeId>();
  private groups: Map<NodeId, number> | undefined;
  private readonly blocked = new Set<string>();
  private readonly lastDelivery = new Map<string, number>();
  private conditions: NetworkConditions = RELIABLE;
  private readonly rpcs = new Map<NodeId, number>();
  private bytes = 0;
  /** Messages handed to the network / delivered / lost. */
  readonly stats = { sent: 0, delivered: 0, dropped: 0 };

  constructor(
    readonly clock: Clock,
    private readonly random: SeededRandom = new SeededRandom(1),
  ) {}

  transport(id: NodeId): MemoryTransport {
    return new MemoryTransport(this, id);
  }

  /**
   * Change some conditions; the others stay as they are.
   * @throws InvalidRequestError for a value outside its domain or an unknown key (see networkConditionsSchema); nothing changes.
   */
  setConditions(conditions: Partial<NetworkConditions>): void {
    const checked = parseAtEdge(networkConditionsSchema, conditions, 'setConditions refused, nothing changed: ');
    this.conditions = { ...this.conditions, ...checked };
  }

  get currentConditions(): NetworkConditions {
    return this.conditions;
  }

  /** Cut a node off from everyone (both directions). */
  disconnect(id: NodeId): void {
    this.isolated.add(id);
  }

  connect(id: NodeId): void {
    this.isolated.delete(id);
  }

  isConnected(id: NodeId): boolean {
    return !this.isolated.has(id);
  }

  /** Only nodes in the same group can talk. Nodes in no group are cut off. */
  partition(groups: readonly (readonly NodeId[])[]): void {
    this.groups = new Map();
    groups.forEach((group, i) => group.forEach((id) => this.groups?.set(id, i)));
  }

  /** Undo partitions, isolations and blocked links. */
  heal(): void {
    this.groups = undefined;
    this.isolated.clear();
    this.blocked.clear();
  }

  /** Block one direction of one link. */
  block(from: NodeId, to: NodeId): void {
    this.blocked.add(`${from}>${to}`);
  }

  unblock(from: NodeId, to: NodeId): void {
    this.blocked.delete(`${from}>${to}`);
  }

  canReach(from: NodeId, to: NodeId): boolean {
    if (this.isolated.has(from) || this.isolated.has(to)) return false;
    if (this.blocked.has(`${from}>${to}`)) return false;
    if (this.groups !== undefined && (this.groups.get(from) ?? -1) !== (this.groups.get(to) ?? -2)) return false;
    return true;
  }

  /** RPC requests (RequestVote, AppendEntries) sent by `id`. */
  rpcCount(id: NodeId): number {
    return this.rpcs.get(id) ?? 0;
  }

  bytesSent(): number {
    return this.bytes;
  }

  /** @internal */
  attach(id: NodeId, endpoint: MemoryTransport): void {
    this.endpoints.set(id, endpoint);
  }

  /** @internal */
  detach(id: NodeId, endpoint: MemoryTransport): void {
    if (this.endpoints.get(id) === endpoint) this.endpoints.delete(id);
  }

  /** @internal */
  send(from: NodeId, to: NodeId, message: RpcMessage): void {
    this.stats.sent++;
    if (message.type === 'rpc.requestVote' || message.type === 'rpc.appendEntries') this.rpcs.set(from, (this.rpcs.get(from) ?? 0) + 1);
    this.bytes += approximateSize(message);
    if (!this.canReach(from, to) || this.random.chance(this.conditions.drop)) {
      this.stats.dropped++;
      return;
    }
    const copies = this.random.chance(this.conditions.duplicate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = this.delayFor(from, to);
      // No delay: deliver after the current turn (setImmediate on the real loop), in send order.
      if (delay <= 0) this.clock.defer(() => this.deliver(from, to, message));
      else this.clock.setTimeout(() => this.deliver(from, to, message), delay);
    }
  }

  /** @internal */
  async request(from: NodeId, to: NodeId, request: ClientRequest): Promise<ClientResponse> {
    if (!this.canReach(from, to)) throw new TransportError(`${to} is unreachable from ${from}`);
    await this.sleep(this.delayFor(from, to));
    const endpoint = this.endpoints.get(to);
    if (endpoint === undefined || !this.canReach(from, to)) throw new TransportError(`${to} is unreachable from ${from}`);
    const response = await endpoint.handle(request);
    await this.sleep(this.delayFor(to, from));
    if (!this.canReach(to, from)) throw new TransportError(`the answer from ${to} was lost`);
    return response;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.clock.setTimeout(resolve, ms));
  }

  private delayFor(from: NodeId, to: NodeId): number {
    const c = this.conditions;
    let delay = this.random.int(c.delay[0], c.delay[1]);
    const link = `${from}>${to}`;
    if (this.random.chance(c.longReorder)) return delay + this.random.int(200, 2000);
    if (this.random.chance(c.reorder)) return delay + this.random.int(0, 2 * c.delay[1]);
    // Without reordering, a link is FIFO: never deliver before the previous message on it.
    const at = Math.max(this.clock.now() + delay, this.lastDelivery.get(link) ?? 0);
    this.lastDelivery.set(link, at);
    delay = at - this.clock.now();
    return delay;
  }

  private deliver(from: NodeId, to: NodeId, message: RpcMessage): void {
    const endpoint = this.endpoints.get(to);
    if (endpoint === undefined || !this.canReach(from, to)) {
      this.stats.dropped++;
      return;
    }
    this.stats.delivered++;
    endpoint.receive(message);
  }
}

/** Bytes a message would take on a wire: a fixed envelope plus each entry's measured size. */
function approximateSize(message: RpcMessage): number {
  if (message.type !== 'rpc.appendEntries') return 64;
  let size = 96;
  for (const entry of message.entries) size += entrySize(entry);
  return size;
}

export class MemoryTransport implements Transport {
  private handlers: TransportHandlers | undefined;

  constructor(
    private readonly network: MemoryNetwork,
    readonly id: NodeId,
  ) {}

  start(handlers: TransportHandlers): void {
    this.handlers = handlers;
    this.network.attach(this.id, this);
  }

  send(to: NodeId, message: RpcMessage): void {
    if (this.handlers !== undefined) this.network.send(this.id, to, message);
  }

  request(to: NodeId, request: ClientRequest): Promise<ClientResponse> {
    return this.network.request(this.id, to, request);
  }

  stop(): void {
    this.handlers = undefined;
    this.network.detach(this.id, this);
  }

  /** @internal */
  receive(message: RpcMessage): void {
    this.handlers?.onMessage(message);
  }

  /** @internal */
  handle(request: ClientRequest): Promise<ClientResponse> {
    if (this.handlers === undefined) return Promise.reject(new TransportError(`${this.id} is stopped`));
    return this.handlers.onRequest(request);
  }
}
