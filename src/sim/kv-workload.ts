/**
 * What clients see, in a simulation: several KV clients, each with one operation in flight, run
 * gets (linearizable, ReadIndex), puts, deletes and compare-and-sets on a few keys through the
 * nodes of a Simulation — each client starts at a different node, so reads and writes are also
 * forwarded from followers — while the nemesis does its worst. Every invocation and response is
 * recorded with a logical clock shared by all clients (so "before" is exact); an operation that
 * failed or timed out is recorded without a return (its outcome is unknown), never dropped. The
 * history is then checked with `checkLinearizable`.
 *
 * Writes go through KvClient, so a write retried after an unknown outcome keeps its client id and
 * sequence number and is applied at most once.
 *
 * Deterministic: the clients' choices come from a seeded generator, their waits from the
 * simulation's virtual clock, and their continuations run only where the driver lets promise
 * callbacks run (`drain`), at the same virtual instants in every replay.
 */
import { SeededRandom } from '../core/random.js';
import type { NodeId } from '../core/types.js';
import { KvClient, type KvCluster, type KvNode } from '../kv/client.js';
import { checkLinearizable, type HistoryEntry, type KvOp, type LinearizabilityResult } from './linearizability.js';
import type { Simulation } from './simulation.js';

export interface KvWorkloadOptions {
  /** Concurrent clients. Default 3. */
  clients?: number;
  /** Keys the clients work on. Default a, b, c (few keys: writes and reads meet often). */
  keys?: readonly string[];
  /** A client gives up on an operation after this many virtual ms (its outcome is then unknown). Default 3000. */
  timeout?: number;
  /** Virtual ms a client waits between its operations. Default 0–20. */
  think?: readonly [number, number];
  /**
   * Share of reads sent to a node picked at random (a follower forwards it to the leader it
   * knows) instead of the node the client last reached: how a read lands on a deposed leader that
   * does not know it yet. Default 0.7.
   */
  wanderingReads?: number;
  /**
   * Clients try the members of the configuration in force (sim.config(): voters, then learners)
   * instead of the bootstrap nodes, so they keep finding the cluster while servers are added and
   * removed. Default false.
   */
  followMembers?: boolean;
}

export interface KvOperationCounts {
  reads: number;
  writes: number;
  cas: number;
  /** Operations whose outcome stayed unknown (no return recorded). */
  unknown: number;
}

export { drain } from './simulation.js';

export class KvWorkload {
  readonly history: HistoryEntry[] = [];
  private tick = 0;
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly random: SeededRandom;
  private readonly keys: readonly string[];
  /** Values written lately, per key: what a compare-and-set names as the value it expects. */
  private readonly written = new Map<string, string[]>();

  constructor(
    private readonly sim: Simulation,
    seed: number,
    private readonly options: KvWorkloadOptions = {},
  ) {
    this.random = new SeededRandom(seed);
    this.keys = options.keys ?? ['a', 'b', 'c'];
    if (this.keys.length === 0) throw new RangeError('a KV workload needs at least one key');
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const clients = this.options.clients ?? 3;
    for (let c = 0; c < clients; c++) this.loops.push(this.client(c));
  }

  /** Stop issuing operations; resolves once every client's last operation has ended (drive the simulation meanwhile). */
  stop(): Promise<void> {
    this.running = false;
    return Promise.all(this.loops).then(() => undefined);
  }

  counts(): KvOperationCounts {
    const counts = { reads: 0, writes: 0, cas: 0, unknown: 0 };
    for (const entry of this.history) {
      if (entry.op.type === 'get') counts.reads++;
      else if (entry.op.type === 'cas') counts.cas++;
      else counts.writes++;
      if (entry.return === undefined) counts.unknown++;
    }
    return counts;
  }

  check(): LinearizabilityResult {
    return checkLinearizable(this.history);
  }

  private async client(c: number): Promise<void> {
    // Each client starts at its own node, and keeps using whichever node answered it last.
    const rotate = (ids: readonly NodeId[]) => [...ids.slice(c % ids.length), ...ids.slice(0, c % ids.length)];
    const node = (id: NodeId) => this.sim.node(id) as unknown as KvNode | undefined;
    const sim = this.sim;
    const cluster: KvCluster = this.options.followMembers
      ? {
          get ids() {
            const { voters, learners } = sim.config();
            return rotate([...voters, ...learners]);
          },
          node,
        }
      : { ids: rotate([...sim.ids]), node };
    const everyNode = [...sim.ids];
    const readTargets = this.options.followMembers ? () => cluster.ids : () => everyNode;
    const client = new KvClient(cluster, {
      clientId: `client-${c}`,
      session: `client-${c}`,
      clock: this.sim.clock,
      timeout: this.options.timeout ?? 3000,
      attemptTimeout: 300,
      retryDelay: 30,
    });
    const [thinkMin, thinkMax] = this.options.think ?? [0, 20];
    for (let i = 0; this.running; i++) {
      const op = this.nextOp(c, i);
      const call = ++this.tick;
      try {
        const wander = op.type === 'get' && this.random.chance(this.options.wanderingReads ?? 0.7);
        const output = await (wander ? this.readAt(this.random.pick(readTargets()), op.key) : perform(client, op));
        this.history.push({ clientId: `c${c}`, op, call, return: ++this.tick, output } as HistoryEntry);
      } catch {
        // Failed or timed out: it may or may not have taken effect (a read: it had none) — unknown.
        this.history.push({ clientId: `c${c}`, op, call } as HistoryEntry);
      }
      if (op.type === 'put' || op.type === 'cas') this.remember(op.key, op.type === 'put' ? (op.value as string) : (op.to as string));
      const think = this.random.int(thinkMin, thinkMax);
      if (think > 0 && this.running) await new Promise<void>((resolve) => this.sim.clock.setTimeout(() => resolve(), think));
    }
  }

  /** A linearizable read at one node (forwarded by a follower), given up after the client timeout. */
  private readAt(id: NodeId, key: string): Promise<unknown> {
    const node = this.sim.node(id) as unknown as KvNode | undefined;
    if (node === undefined) return Promise.reject(new Error(`${id} is down`));
    const timeout = this.options.timeout ?? 3000;
    return new Promise((resolve, reject) => {
      const timer = this.sim.clock.setTimeout(() => reject(new Error(`no answer from ${id} within ${timeout} ms`)), timeout);
      node.read({ type: 'get', key }).then(
        (value) => {
          this.sim.clock.clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          this.sim.clock.clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  private nextOp(c: number, i: number): KvOp {
    const key = this.random.pick(this.keys);
    const roll = this.random.next();
    const value = `${c}.${i}`;
    if (roll < 0.4) return { type: 'get', key };
    if (roll < 0.65) return { type: 'put', key, value };
    if (roll < 0.75) return { type: 'delete', key };
    const recent = this.written.get(key) ?? [];
    const from = recent.length > 0 && this.random.chance(0.8) ? (this.random.pick(recent) as string) : `${c}.${i - 1}`;
    return { type: 'cas', key, from, to: value };
  }

  private remember(key: string, value: string): void {
    const recent = this.written.get(key) ?? [];
    recent.push(value);
    if (recent.length > 4) recent.shift();
    this.written.set(key, recent);
  }
}

function perform(client: KvClient, op: KvOp): Promise<unknown> {
  switch (op.type) {
    case 'get':
      return client.get(op.key);
    case 'put':
      return client.put(op.key, op.value);
    case 'delete':
      return client.delete(op.key);
    case 'cas':
      return client.cas(op.key, op.from, op.to);
  }
}
