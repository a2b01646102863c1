/**
 * Simulation: a whole cluster in virtual time, driven by one seed.
 *
 * The nodes are the real RaftNode runtime with the real machine, on an in-memory network with
 * faults and MemoryStorage standing for their disks. One VirtualClock orders every timer and
 * message; one seeded generator makes every random choice. After every step (a delivered message,
 * a timer, the end of a batch) the SafetyChecker checks Raft's safety properties, so a violation
 * points at the step that broke the rule, with the seed that replays it.
 */
import { z } from 'zod';
import type { RaftEffect, raftNodeMachine } from '../../machines/raft-node.js';
import { SeededRandom } from '../core/random.js';
import type { NodeId, Term } from '../core/types.js';
import { InvalidRequestError } from '../errors.js';
import { parseAtEdge, show } from '../edge.js';
import { createRaftNode, type NodeStatus, type RaftNode } from '../runtime/raft-node.js';
import type { StateMachine } from '../state-machine.js';
import { MemoryStorage } from '../storage/memory.js';
import { MemoryNetwork, networkConditionsSchema, type NetworkConditions } from '../transport/memory.js';
import type { JsonValue } from '../core/json.js';
import { decodeSnapshot, encodeSnapshot } from '../runtime/snapshot.js';
import { VirtualClock } from './clock.js';
import { SafetyChecker, SafetyViolation } from './safety.js';

export interface SimulationOptions {
  /** Number of nodes (named n1, n2, …) or their ids. */
  nodes: number | readonly NodeId[];
  seed: number;
  electionTimeout?: readonly [number, number];
  heartbeatInterval?: number;
  network?: Partial<NetworkConditions>;
  /** The replicated state machine of each node (default: one that returns each command). */
  stateMachine?: (id: NodeId) => StateMachine;
  /** How to replay this run, printed with a violation. */
  replay?: string;
  /** The statechart every node runs (default raftNodeMachine); for mutation tests. */
  machine?: typeof raftNodeMachine;
  /**
   * Each node snapshots its state machine and compacts its log once this many entries were
   * applied since its last snapshot. Default: never (only `sim.snapshot(id)`).
   */
  snapshotThreshold?: number;
}

/** The timing boot() gives the nodes when the options do not say. */
const DEFAULT_ELECTION_TIMEOUT = [300, 600] as const;
const DEFAULT_HEARTBEAT_INTERVAL = 100;
const positiveMs = z.number().int().positive({ error: 'expected a whole number of ms ≥ 1' });
/** Virtual time to run: ms ≥ 0 (fractions allowed), never negative, NaN or infinite. */
const runMs = z.number({ error: 'expected a finite number of ms ≥ 0' }).nonnegative({ error: 'expected a finite number of ms ≥ 0' });
// Built once: run() is called every few virtual ms by the drivers, and building a schema is costly.
const runSchema = z.object({ ms: runMs });
const runUntilSchema = z.object({ timeout: runMs }, { error: 'runUntil needs { timeout: ms }' });

const nodeIds = z
  .array(z.string().min(1).max(256))
  .min(1, { error: 'a simulation needs at least one node' })
  .refine((ids) => new Set(ids).size === ids.length, { error: 'node ids must be distinct' });
const nodeCount = z.number().int().min(1, { error: 'a simulation needs at least one node' });

/** SimulationOptions, each in its domain; an unknown option is refused rather than ignored. */
const simulationOptionsSchema = z
  .strictObject(
    {
      nodes: z.union([nodeCount, nodeIds], { error: 'nodes is a whole number ≥ 1 or a list of distinct node ids' }),
      seed: z.number({ error: 'the seed is an integer' }).int({ error: 'the seed is an integer' }),
      electionTimeout: z
        .tuple([positiveMs, positiveMs], { error: 'electionTimeout is [min, max] in ms' })
        .refine(([min, max]) => min <= max, { error: 'electionTimeout is [min, max] with min ≤ max' })
        .optional(),
      heartbeatInterval: positiveMs.optional(),
      network: networkConditionsSchema.optional(),
      stateMachine: z.custom<(id: NodeId) => StateMachine>((f) => typeof f === 'function', { error: 'stateMachine is a function of the node id' }).optional(),
      replay: z.string().optional(),
      machine: z.custom<typeof raftNodeMachine>((m) => typeof m === 'object' && m !== null, { error: 'machine is a state machine' }).optional(),
      snapshotThreshold: positiveMs.optional(),
    },
    {
      error: (issue) =>
        issue.code === 'unrecognized_keys'
          ? `unknown option ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}; the options are nodes, seed, electionTimeout, heartbeatInterval, network, stateMachine, replay, machine, snapshotThreshold`
          : 'the options are an object like { nodes: 3, seed: 1 }',
    },
  )
  .refine((o) => (o.heartbeatInterval ?? DEFAULT_HEARTBEAT_INTERVAL) < (o.electionTimeout?.[0] ?? DEFAULT_ELECTION_TIMEOUT[0]), {
    path: ['heartbeatInterval'],
    error: 'heartbeatInterval must be below the minimum election timeout, or followers start elections under a healthy leader',
  });

interface SimNode {
  node: RaftNode | undefined;
  readonly storage: MemoryStorage;
  /** index → command applied by the current incarnation (Raft no-ops are not applied). */
  applied: Map<number, unknown>;
  incarnation: number;
}

export class Simulation {
  readonly ids: readonly NodeId[];
  readonly clock = new VirtualClock();
  readonly random: SeededRandom;
  readonly network: MemoryNetwork;
  readonly checker: SafetyChecker;
  /** Snapshots the nodes persisted (taken by themselves, or installed from a leader), and of those the installed ones. */
  readonly snapshots = { persisted: 0, installed: 0 };
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly errors: { id: NodeId; error: unknown; context: string }[] = [];

  /** @throws InvalidRequestError for an option outside its domain (named in the message), or an unknown one. */
  constructor(private readonly options: SimulationOptions) {
    parseAtEdge(simulationOptionsSchema, options, 'new Simulation refused: ');
    this.ids = typeof options.nodes === 'number' ? Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`) : [...options.nodes];
    this.random = new SeededRandom(options.seed);
    this.network = new MemoryNetwork(this.clock, new SeededRandom(options.seed * 7919 + 17));
    if (options.network) this.network.setConditions(options.network);
    this.checker = new SafetyChecker(options.replay ?? `npx xstate-raft sim --seed ${options.seed} --nodes ${this.ids.length}`, options.seed);
    for (const id of this.ids) {
      this.nodes.set(id, { node: undefined, storage: new MemoryStorage(), applied: new Map(), incarnation: 0 });
      this.boot(id);
    }
  }

  // ------------------------------------------------------------ time

  /**
   * Advance virtual time by `ms`, checking safety after every step.
   * @throws InvalidRequestError for a negative or non-finite `ms`.
   */
  run(ms: number): void {
    parseAtEdge(runSchema, { ms }, 'run refused: ');
    const until = this.clock.now() + ms;
    for (let at = this.clock.peek(); at !== undefined && at <= until; at = this.clock.peek()) {
      this.clock.step();
      this.checker.afterStep(this.clock.now(), (id) => this.live(id));
    }
    this.clock.advanceTo(until);
  }

  /**
   * Run until `predicate` holds (checked after every step) or `timeout` ms pass; returns whether it held.
   * @throws InvalidRequestError for a predicate that is not a function, or a negative or non-finite `timeout`.
   */
  runUntil(predicate: () => boolean, options: { timeout: number }): boolean {
    if (typeof predicate !== 'function') throw new InvalidRequestError(`runUntil refused: predicate = ${show(predicate)} is not a function`);
    const { timeout } = parseAtEdge(runUntilSchema, options, 'runUntil refused: ');
    const until = this.clock.now() + timeout;
    if (predicate()) return true;
    for (let at = this.clock.peek(); at !== undefined && at <= until; at = this.clock.peek()) {
      this.clock.step();
      this.checker.afterStep(this.clock.now(), (id) => this.live(id));
      if (predicate()) return true;
    }
    this.clock.advanceTo(until);
    return predicate();
  }

  now(): number {
    return this.clock.now();
  }

  // ------------------------------------------------------------ observation

  /** The single leader of the highest term among connected, running nodes; throws if two lead one term. */
  leader(): NodeId | undefined {
    let best: { id: NodeId; term: Term } | undefined;
    for (const id of this.ids) {
      const node = this.live(id);
      if (node === undefined || !this.network.isConnected(id)) continue;
      const s = node.status();
      if (s.role !== 'leader') continue;
      if (best !== undefined && best.term === s.term) {
        throw new SafetyViolation(
          'at most one leader per term',
          `${best.id} and ${id} both lead term ${s.term}`,
          this.options.seed,
          this.clock.now(),
          this.checker.replay,
          this.checker.steps,
        );
      }
      if (best === undefined || s.term > best.term) best = { id, term: s.term };
    }
    return best?.id;
  }

  status(id: NodeId): NodeStatus | undefined {
    return this.live(id)?.status();
  }

  isRunning(id: NodeId): boolean {
    return this.live(id) !== undefined;
  }

  node(id: NodeId): RaftNode | undefined {
    return this.live(id);
  }

  /**
   * Take a snapshot on node `id` now, at its last applied index, compacting its log; resolves
   * once it is stored (drive the simulation meanwhile: it is written with the node's next batch).
   */
  snapshot(id: NodeId): Promise<{ index: number; term: number }> {
    this.entry(id, 'snapshot refused');
    const node = this.live(id);
    if (node === undefined) return Promise.reject(new InvalidRequestError(`snapshot refused: ${id} is not running`));
    return node.snapshot();
  }

  /** How many entries node `id` holds in its log (those after its snapshot); undefined while it is down. */
  logLength(id: NodeId): number | undefined {
    this.entry(id, 'logLength refused');
    const s = this.live(id)?.status();
    return s === undefined ? undefined : s.lastLogIndex - s.snapshotIndex;
  }

  /** What node `id` applied in its current incarnation, in order — including what it holds from a snapshot. */
  applied(id: NodeId): { index: number; command: unknown }[] {
    return [...this.entry(id).applied].map(([index, command]) => ({ index, command }));
  }

  /**
   * How many running nodes applied `index`, and the command; throws if two applied different
   * commands there.
   */
  nCommitted(index: number): { count: number; command: unknown } {
    let count = 0;
    let command: unknown;
    for (const id of this.ids) {
      const applied = this.entry(id).applied;
      if (!applied.has(index)) continue;
      const here = applied.get(index);
      if (count > 0 && JSON.stringify(here) !== JSON.stringify(command)) {
        throw new SafetyViolation(
          'state machine safety',
          `index ${index}: ${JSON.stringify(command)} vs ${JSON.stringify(here)}`,
          this.options.seed,
          this.clock.now(),
          this.checker.replay,
          this.checker.steps,
        );
      }
      command = here;
      count++;
    }
    return { count, command };
  }

  rpcCount(id: NodeId): number {
    return this.network.rpcCount(id);
  }

  bytesSent(): number {
    return this.network.bytesSent();
  }

  /** Errors the nodes reported (bad messages, throwing listeners); the tests assert it stays empty. */
  reportedErrors(): readonly { id: NodeId; error: unknown; context: string }[] {
    return this.errors;
  }

  // ------------------------------------------------------------ client

  /** Like Raft's Start(): append on `id` if it leads, returning at once; the entry may or may not commit. */
  propose(id: NodeId, command: unknown): { index: number; term: number; isLeader: boolean } {
    const node = this.live(id);
    if (node === undefined) return { index: -1, term: -1, isLeader: false };
    return node.submit(command);
  }

  // ------------------------------------------------------------ faults

  /** @throws InvalidRequestError for an id that is not a node of this simulation. */
  disconnect(id: NodeId): void {
    this.entry(id, 'disconnect refused');
    this.network.disconnect(id);
  }

  /** @throws InvalidRequestError for an id that is not a node of this simulation. */
  connect(id: NodeId): void {
    this.entry(id, 'connect refused');
    this.network.connect(id);
  }

  /**
   * Only nodes in the same group can talk; nodes in no group are cut off.
   * @throws InvalidRequestError for an id that is not a node of this simulation, or a node in two groups; nothing changes.
   */
  partition(groups: readonly (readonly NodeId[])[]): void {
    if (!Array.isArray(groups) || !groups.every((g) => Array.isArray(g))) {
      throw new InvalidRequestError(`partition refused, nothing changed: groups = ${show(groups)} is not a list of lists of node ids`);
    }
    const groupOf = new Map<NodeId, number>();
    groups.forEach((group, i) =>
      group.forEach((id, j) => {
        if (typeof id !== 'string' || !this.nodes.has(id)) {
          throw new InvalidRequestError(`partition refused, nothing changed: groups[${i}][${j}] = ${show(id)} is not a node of this simulation (${this.ids.join(', ')})`);
        }
        const other = groupOf.get(id);
        if (other !== undefined) {
          throw new InvalidRequestError(`partition refused, nothing changed: groups[${i}][${j}] = ${show(id)} is already in groups[${other}]; a node is in one group`);
        }
        groupOf.set(id, i);
      }),
    );
    this.network.partition(groups);
  }

  heal(): void {
    this.network.heal();
  }

  /**
   * Change some network conditions; the others stay as they are.
   * @throws InvalidRequestError for a value outside its domain or an unknown key (networkConditionsSchema); nothing changes.
   */
  setNetwork(conditions: Partial<NetworkConditions>): void {
    this.network.setConditions(parseAtEdge(networkConditionsSchema, conditions, 'setNetwork refused, nothing changed: '));
  }

  /** Crash: volatile state (actor, state machine, unflushed batch) is gone; storage keeps what was written. */
  crash(id: NodeId): void {
    const sim = this.entry(id, 'crash refused');
    sim.node?.stop();
    sim.node = undefined;
    this.checker.crashed(id);
  }

  /** Start a crashed node again from its storage. */
  restart(id: NodeId): void {
    const sim = this.entry(id, 'restart refused');
    if (sim.node !== undefined) this.crash(id);
    this.boot(id);
  }

  stop(): void {
    for (const id of this.ids) this.entry(id).node?.stop();
  }

  // ------------------------------------------------------------ internals

  /** @throws InvalidRequestError for an id that is not a node of this simulation (`what` names the call or field). */
  private entry(id: NodeId, what = 'unknown node'): SimNode {
    const sim = typeof id === 'string' ? this.nodes.get(id) : undefined;
    if (sim === undefined) throw new InvalidRequestError(`${what}: id = ${show(id)} is not a node of this simulation (${this.ids.join(', ')})`);
    return sim;
  }

  private live(id: NodeId): RaftNode | undefined {
    return this.nodes.get(id)?.node;
  }

  private boot(id: NodeId): void {
    const sim = this.entry(id);
    sim.incarnation++;
    sim.applied = new Map();
    const machine: StateMachine = this.options.stateMachine?.(id) ?? { apply: (command: unknown) => command, query: () => undefined, snapshot: () => null, restore: () => {} };
    const applied = sim.applied;
    // Records what the node applies; its snapshot carries the record too, so what arrives through
    // a snapshot is still known per index (and compared across nodes).
    const recording: StateMachine = {
      apply: (command, entry) => {
        applied.set(entry.index, command);
        return machine.apply(command, entry);
      },
      query: (q) => machine.query(q),
      ...(machine.snapshot && machine.restore
        ? {
            snapshot: () => ({ state: encodeSnapshot(machine.snapshot!()), applied: [...applied] as JsonValue }),
            restore: (snapshot: JsonValue | Uint8Array) => {
              const { state, applied: record } = snapshot as { state: string; applied: [number, unknown][] };
              machine.restore!(decodeSnapshot(state));
              applied.clear();
              for (const [index, command] of record) applied.set(index, command);
            },
          }
        : {}),
    };
    const node = createRaftNode({
      id,
      peers: this.ids,
      transport: this.network.transport(id),
      storage: sim.storage,
      stateMachine: recording,
      clock: this.clock,
      random: this.random.int(0, 2 ** 31),
      electionTimeout: this.options.electionTimeout ?? [300, 600],
      heartbeatInterval: this.options.heartbeatInterval ?? 100,
      proposalTimeout: 60_000,
      snapshotThreshold: this.options.snapshotThreshold ?? Number.MAX_SAFE_INTEGER,
      onError: (error, context) => {
        this.errors.push({ id, error, context });
        if (context.startsWith('the node machine failed') || context === 'invariant' || context.startsWith('storage')) {
          this.checker.report('node failure', `${id}: ${context}: ${error instanceof Error ? error.message : String(error)}`);
        }
      },
      observeEffect: (effect: RaftEffect) => {
        if (effect.type === 'restore') this.snapshots.installed++;
        else if (effect.type === 'persist' && effect.snapshot !== undefined) this.snapshots.persisted++;
        this.checker.observe(id, effect);
      },
      ...(this.options.machine ? { machine: this.options.machine } : {}),
    });
    sim.node = node;
    this.checker.started(id, node);
  }
}
