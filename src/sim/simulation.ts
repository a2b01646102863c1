/**
 * Simulation: a whole cluster in virtual time, driven by one seed.
 *
 * The nodes are the real RaftNode runtime with the real machine, on an in-memory network with
 * faults and MemoryStorage standing for their disks. One VirtualClock orders every timer and
 * message; one seeded generator makes every random choice. After every step (a delivered message,
 * a timer, the end of a batch) the SafetyChecker checks Raft's safety properties, so a violation
 * points at the step that broke the rule, with the seed that replays it.
 *
 * The membership can change as the run goes (addServer, promote, removeServer, transferLeadership):
 * each goes through whichever node leads, retrying across elections, and resolves in virtual time
 * once its configuration entry is committed — so drive the simulation while waiting (`advance`,
 * `settle`). A removed server keeps running and keeps its id; a new server starts empty.
 */
import { z } from 'zod';
import type { RaftEffect, raftNodeMachine } from '../../machines/raft-node.js';
import { SeededRandom } from '../core/random.js';
import { configAt, isMember } from '../core/configuration.js';
import type { LogIndex, NodeId, Term } from '../core/types.js';
import { ConfigChangeInProgressError, InvalidRequestError, LeadershipTransferError, NotLeaderError, OutcomeUnknownError, StoppedError } from '../errors.js';
import { parseAtEdge, show } from '../edge.js';
import { createRaftNode, type Membership, type NodeStatus, type RaftNode } from '../runtime/raft-node.js';
import type { StateMachine } from '../state-machine.js';
import { MemoryStorage } from '../storage/memory.js';
import type { PersistedState } from '../storage/storage.js';
import { MemoryNetwork, networkConditionsSchema, type NetworkConditions } from '../transport/memory.js';
import type { JsonValue } from '../core/json.js';
import { decodeSnapshot, encodeSnapshot } from '../runtime/snapshot.js';
import { VirtualClock } from './clock.js';
import { type Clock, within } from '../runtime/clock.js';
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
  /**
   * Each node's wall clock (`Clock.wallNow`, what a leader stamps entries with for replicated time),
   * given the virtual time: skewed, jumping, behind or ahead. Default: the virtual time itself.
   */
  wallClock?: (id: NodeId, now: number) => number;
}

/** Who votes and who only learns, in a configuration. */
export interface SimConfiguration {
  voters: NodeId[];
  learners: NodeId[];
}

/** A committed configuration, and the index of the entry that set it. */
export interface SimMembership extends SimConfiguration {
  index: LogIndex;
}

/** Let every promise callback that is ready run (one macrotask turn drains all microtasks). */
export function drain(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
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
const settleSchema = z.object({ timeout: runMs }, { error: 'settle needs { timeout: ms }' });
/** A membership control gives up (OutcomeUnknownError) after this many virtual ms unless told otherwise. */
const DEFAULT_MEMBERSHIP_TIMEOUT = 30_000;
/** A membership control asks the leader again after this many virtual ms without an answer (the change may still commit). */
const MEMBERSHIP_ATTEMPT_MS = 3000;
/** …and waits this long between tries (no leader yet, another change in flight, a learner that lags). */
const MEMBERSHIP_RETRY_MS = 50;
/** advance() and settle() let promise callbacks run this often (virtual ms). */
const CALLBACK_TICK = 10;
const membershipTimeout = z.strictObject({ timeout: positiveMs.optional() }, { error: 'the options are { timeout?: ms }' });
const addServerOptionsSchema = z.strictObject(
  { learner: z.boolean({ error: 'learner is true or false' }).optional(), timeout: positiveMs.optional() },
  { error: 'the options are { learner?: boolean, timeout?: ms }' },
);
const newNodeId = z.string({ error: 'a node id is a string' }).min(1, { error: 'a node id is 1 to 256 characters' }).max(256, { error: 'a node id is 1 to 256 characters' });

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
      wallClock: z.custom<(id: NodeId, now: number) => number>((f) => typeof f === 'function', { error: 'wallClock is a function of the node id and the virtual time' }).optional(),
    },
    {
      error: (issue) =>
        issue.code === 'unrecognized_keys'
          ? `unknown option ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}; the options are nodes, seed, electionTimeout, heartbeatInterval, network, stateMachine, replay, machine, snapshotThreshold, wallClock`
          : 'the options are an object like { nodes: 3, seed: 1 }',
    },
  )
  .refine((o) => (o.heartbeatInterval ?? DEFAULT_HEARTBEAT_INTERVAL) < (o.electionTimeout?.[0] ?? DEFAULT_ELECTION_TIMEOUT[0]), {
    path: ['heartbeatInterval'],
    error: 'heartbeatInterval must be below the minimum election timeout, or followers start elections under a healthy leader',
  });

interface SimNode {
  node: RaftNode | undefined;
  /** Added by addServer: it boots (and restarts) as a joining server, with no configuration of its own. */
  readonly joined: boolean;
  readonly storage: MemoryStorage;
  /** index → command applied by the current incarnation (Raft no-ops are not applied). */
  applied: Map<number, unknown>;
  incarnation: number;
}

export class Simulation {
  /** The servers the cluster was bootstrapped with. */
  readonly bootstrap: readonly NodeId[];
  /** Every node of the simulation, in the order it was created: the bootstrap servers, then those addServer added (removed ones too: they keep running). */
  get ids(): readonly NodeId[] {
    return this.order;
  }
  private readonly order: NodeId[];
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
    this.bootstrap = typeof options.nodes === 'number' ? Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`) : [...options.nodes];
    this.order = [...this.bootstrap];
    this.random = new SeededRandom(options.seed);
    this.network = new MemoryNetwork(this.clock, new SeededRandom(options.seed * 7919 + 17));
    if (options.network) this.network.setConditions(options.network);
    this.checker = new SafetyChecker(options.replay ?? `npx xstate-raft sim --seed ${options.seed} --nodes ${this.ids.length}`, options.seed);
    for (const id of this.ids) {
      this.nodes.set(id, { node: undefined, joined: false, storage: new MemoryStorage(), applied: new Map(), incarnation: 0 });
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
      this.checker.afterStep(this.clock.now(), this.live, this.stored);
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
      this.checker.afterStep(this.clock.now(), this.live, this.stored);
      if (predicate()) return true;
    }
    this.clock.advanceTo(until);
    return predicate();
  }

  now(): number {
    return this.clock.now();
  }

  /**
   * Like run(ms), but lets promise callbacks (clients, membership controls, node promises) run
   * every CALLBACK_TICK virtual ms, at the same instants in every replay.
   * @throws InvalidRequestError for a negative or non-finite `ms`.
   */
  async advance(ms: number): Promise<void> {
    parseAtEdge(runSchema, { ms }, 'advance refused: ');
    for (let t = 0; t < ms; t += CALLBACK_TICK) {
      this.run(Math.min(CALLBACK_TICK, ms - t));
      await drain();
    }
  }

  /**
   * Drive the simulation (advance) until `promise` settles, for at most `timeout` virtual ms;
   * resolves or rejects as it did.
   * @throws InvalidRequestError for a negative or non-finite `timeout`; Error if it had not settled by then.
   */
  async settle<T>(promise: Promise<T>, options: { timeout: number }): Promise<T> {
    const { timeout } = parseAtEdge(settleSchema, options, 'settle refused: ');
    let settled = false;
    promise.then(
      () => (settled = true),
      () => (settled = true),
    );
    await drain();
    const until = this.clock.now() + timeout;
    while (!settled && this.clock.now() < until) await this.advance(Math.min(CALLBACK_TICK, until - this.clock.now()));
    if (!settled) throw new Error(`settle: the promise was still pending after ${timeout} virtual ms`);
    return promise;
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
        // Recorded too, so the next step fails even if a caller (a membership control) swallows this.
        this.checker.report('at most one leader per term', `${best.id} and ${id} both lead term ${s.term}`);
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

  // ------------------------------------------------------------ membership

  /**
   * Boot a fresh, empty server `id` on the network (a joining server: no configuration of its own,
   * it never campaigns until a configuration entry makes it a voter) and add it through the leader:
   * as a learner, then — unless `learner` — promote it once it has caught up (a promotion refused
   * because it lags is asked again while virtual time runs). Resolves with the committed
   * configuration that has it; rejects with OutcomeUnknownError after `timeout` virtual ms
   * (default 30 s), or with the leader's InvalidRequestError.
   * @throws InvalidRequestError for an id that is not a string of 1 to 256 characters, an id the simulation already has (a removed server keeps its id), or bad options.
   */
  addServer(id: NodeId, options: { learner?: boolean; timeout?: number } = {}): Promise<SimMembership> {
    parseAtEdge(newNodeId, id, 'addServer refused: id: ');
    if (this.nodes.has(id)) {
      throw new InvalidRequestError(
        `addServer refused: id = ${show(id)} is already a node of this simulation (${this.ids.join(', ')}); a removed server keeps its id, so a new one needs a fresh id`,
      );
    }
    const { learner = false, timeout = DEFAULT_MEMBERSHIP_TIMEOUT } = parseAtEdge(addServerOptionsSchema, options, 'addServer refused: ');
    this.order.push(id);
    this.nodes.set(id, { node: undefined, joined: true, storage: new MemoryStorage(), applied: new Map(), incarnation: 0 });
    this.boot(id);
    return this.changeMembership(`addServer(${id})`, timeout, (config) => {
      if (config.voters.includes(id)) return 'done';
      if (config.learners.includes(id)) return learner ? 'done' : (leader) => leader.promote(id);
      return (leader) => leader.addLearner(id);
    });
  }

  /**
   * Make learner `id` a voter through the leader, asking again while it lags. Resolves with the
   * committed configuration in which it votes.
   * @throws InvalidRequestError for an id that is not a node of this simulation, or bad options.
   */
  promote(id: NodeId, options: { timeout?: number } = {}): Promise<SimMembership> {
    this.entry(id, 'promote refused');
    const { timeout = DEFAULT_MEMBERSHIP_TIMEOUT } = parseAtEdge(membershipTimeout, options, 'promote refused: ');
    return this.changeMembership(`promote(${id})`, timeout, (config) => (config.voters.includes(id) ? 'done' : (leader) => leader.promote(id)));
  }

  /**
   * Remove voter or learner `id` through the leader (the leader itself too: it hands over once the
   * change commits). The removed server keeps running. Resolves with the committed configuration
   * without it; rejects with InvalidRequestError if it is not a member, or is the last voter.
   * @throws InvalidRequestError for an id that is not a node of this simulation, or bad options.
   */
  removeServer(id: NodeId, options: { timeout?: number } = {}): Promise<SimMembership> {
    this.entry(id, 'removeServer refused');
    const { timeout = DEFAULT_MEMBERSHIP_TIMEOUT } = parseAtEdge(membershipTimeout, options, 'removeServer refused: ');
    let asked = false;
    return this.changeMembership(`removeServer(${id})`, timeout, (config) => {
      if (isMember(config, id)) {
        asked = true;
        return (leader) => leader.removeServer(id);
      }
      if (!asked)
        throw new InvalidRequestError(
          `removeServer refused: ${id} is not a member of the configuration (voters ${config.voters.join(', ')}; learners ${config.learners.join(', ') || 'none'})`,
        );
      return 'done';
    });
  }

  /**
   * Hand leadership to `to` through the current leader (thesis §3.10; waits for a leader if there is
   * none). Resolves once `to` leads (at once if it already does); rejects with the leader's
   * LeadershipTransferError (abandoned after an election timeout, or another voter won) or
   * InvalidRequestError (`to` is not another voter), or LeadershipTransferError after `timeout`. A
   * leader that refuses because a configuration change is in flight is asked again.
   * @throws InvalidRequestError for an id that is not a node of this simulation, or bad options.
   */
  transferLeadership(to: NodeId, options: { timeout?: number } = {}): Promise<{ leaderId: NodeId; term: Term }> {
    this.entry(to, 'transferLeadership refused');
    const { timeout = DEFAULT_MEMBERSHIP_TIMEOUT } = parseAtEdge(membershipTimeout, options, 'transferLeadership refused: ');
    return this.transferThroughLeader(to, timeout);
  }

  private async transferThroughLeader(to: NodeId, timeout: number): Promise<{ leaderId: NodeId; term: Term }> {
    const deadline = this.clock.now() + timeout;
    let lastError: unknown;
    while (this.clock.now() < deadline) {
      const leaderId = this.leader();
      const leader = leaderId === undefined ? undefined : this.live(leaderId);
      if (leaderId === to && leader !== undefined) return { leaderId: to, term: leader.status().term };
      if (leader !== undefined) {
        try {
          return await this.within(leader.transferLeadership(to), Math.min(MEMBERSHIP_ATTEMPT_MS, Math.max(1, deadline - this.clock.now())));
        } catch (error) {
          // "That node does not lead (any more)" and "not while a configuration change (or another
          // transfer) is in flight" are worth asking again; any other refusal, or a failed transfer, is the answer.
          const transient = error instanceof ConfigChangeInProgressError;
          if (!(error instanceof NotLeaderError || error instanceof StoppedError || error instanceof AttemptTimedOut || transient)) throw error;
          lastError = error;
        }
      }
      await this.sleep(MEMBERSHIP_RETRY_MS);
    }
    throw new LeadershipTransferError(
      `transferLeadership(${to}) did not complete within ${timeout} virtual ms${lastError instanceof Error ? ` (last: ${lastError.message})` : ''}`,
    );
  }

  /**
   * The configuration in force on node `id` (its last configuration entry, committed or not); with
   * no id, the leader's, or while there is none, the latest committed one any running node knows.
   * @throws InvalidRequestError for an id that is not a node of this simulation, or one that is down.
   */
  config(id?: NodeId): SimConfiguration {
    if (id !== undefined) {
      this.entry(id, 'config refused');
      const node = this.live(id);
      if (node === undefined) throw new InvalidRequestError(`config refused: ${id} is not running`);
      const { voters, learners } = node.members();
      return { voters: [...voters], learners: [...learners] };
    }
    const leader = this.leader();
    if (leader !== undefined) return this.config(leader);
    let latest: { index: LogIndex; voters: readonly NodeId[]; learners: readonly NodeId[] } | undefined;
    for (const nodeId of this.order) {
      const node = this.live(nodeId);
      if (node === undefined) continue;
      const { configs, commitIndex } = node.actor.getSnapshot().context;
      const record = configAt(configs, commitIndex);
      // A joining server's empty base (index 0) never wins over a bootstrap server's.
      if (this.entry(nodeId).joined && record.index === 0) continue;
      if (latest === undefined || record.index > latest.index) latest = { index: record.index, ...record.config };
    }
    return latest === undefined ? { voters: [...this.bootstrap], learners: [] } : { voters: [...latest.voters], learners: [...latest.learners] };
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

  /**
   * Drive a membership change through whichever node leads until `next` says it is done in a
   * committed configuration. `next` looks at the leader's configuration in force and names the
   * one change to ask for (only once that configuration is committed: one change at a time).
   * Retries what a leader change, a change in flight, a lagging learner or a lost answer explain.
   */
  private async changeMembership(what: string, timeout: number, next: (config: Membership) => 'done' | ((leader: RaftNode) => Promise<unknown>)): Promise<SimMembership> {
    const deadline = this.clock.now() + timeout;
    let lastError: unknown;
    while (this.clock.now() < deadline) {
      const leaderId = this.leader();
      const leader = leaderId === undefined ? undefined : this.live(leaderId);
      if (leader !== undefined) {
        const config = leader.members();
        if (config.committed) {
          const step = next(config);
          if (step === 'done') return { voters: [...config.voters], learners: [...config.learners], index: config.index };
          try {
            await this.within(step(leader), Math.min(MEMBERSHIP_ATTEMPT_MS, Math.max(1, deadline - this.clock.now())));
            await this.sleep(0); // committed: look again (after a turn, so a step that changed nothing cannot spin)
            continue;
          } catch (error) {
            if (!isWorthRetrying(error)) throw error;
            lastError = error;
          }
        }
      }
      await this.sleep(MEMBERSHIP_RETRY_MS);
    }
    throw new OutcomeUnknownError(`${what} was not done within ${timeout} virtual ms${lastError instanceof Error ? ` (last: ${lastError.message})` : ''}`);
  }

  /** `promise`, or AttemptTimedOut after `ms` virtual ms (the promise may still settle later: that is ignored). */
  private within<T>(promise: Promise<T>, ms: number): Promise<T> {
    return within(this.clock, promise, ms, () => new AttemptTimedOut(ms));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.clock.setTimeout(resolve, ms));
  }

  /** @throws InvalidRequestError for an id that is not a node of this simulation (`what` names the call or field). */
  private entry(id: NodeId, what = 'unknown node'): SimNode {
    const sim = typeof id === 'string' ? this.nodes.get(id) : undefined;
    if (sim === undefined) throw new InvalidRequestError(`${what}: id = ${show(id)} is not a node of this simulation (${this.ids.join(', ')})`);
    return sim;
  }

  private readonly live = (id: NodeId): RaftNode | undefined => this.nodes.get(id)?.node;

  /** What a node's storage holds (its disk), for the checker to look at a node that is down. */
  private readonly stored = (id: NodeId): PersistedState | undefined => this.nodes.get(id)?.storage.load();

  /** The virtual clock, with this node's own wall clock when the options give one. */
  private nodeClock(id: NodeId): Clock {
    const wallClock = this.options.wallClock;
    if (wallClock === undefined) return this.clock;
    const clock = this.clock;
    return {
      setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
      clearTimeout: (handle) => clock.clearTimeout(handle),
      now: () => clock.now(),
      defer: (fn) => clock.defer(fn),
      wallNow: () => wallClock(id, clock.now()),
    };
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
      // Replicated time (StateMachine.stamp): the leader's hooks, passed through as they are.
      ...(machine.stamp ? { stamp: (command: unknown, now: number) => machine.stamp!(command, now) } : {}),
      ...(machine.nextDeadline && machine.tick ? { nextDeadline: () => machine.nextDeadline!(), tick: () => machine.tick!() } : {}),
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
      // A bootstrap server starts from the bootstrap list (until its log holds a configuration); an
      // added one, from nothing.
      peers: sim.joined ? [] : this.bootstrap,
      ...(sim.joined ? { join: true } : {}),
      transport: this.network.transport(id),
      storage: sim.storage,
      stateMachine: recording,
      clock: this.nodeClock(id),
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

/** A leader did not answer a membership request within MEMBERSHIP_ATTEMPT_MS: ask (the next leader) again. */
class AttemptTimedOut extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} virtual ms`);
    this.name = 'AttemptTimedOut';
  }
}

/** A membership request that failed for a reason the next try may not have. */
function isWorthRetrying(error: unknown): boolean {
  return (
    error instanceof NotLeaderError ||
    error instanceof ConfigChangeInProgressError ||
    error instanceof OutcomeUnknownError ||
    error instanceof StoppedError ||
    error instanceof AttemptTimedOut ||
    (error instanceof InvalidRequestError && /lags behind/.test(error.message))
  );
}
