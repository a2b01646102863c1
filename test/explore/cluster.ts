/**
 * A three-node cluster made of the real `raftNodeMachine`, as a pure value: every node's machine
 * snapshot, its pending timers and its disk, the messages in flight, and the safety checkers that
 * have watched this one schedule. `step` applies one cluster action and returns a new value (the
 * old one stays valid: RaftLog views never change, and checkers are cloned before they learn
 * anything), so a breadth-first explorer can branch from any state.
 *
 * The cluster does what the runtime (src/runtime/raft-node.ts) does with a node's effects, in the
 * durability order: `persist` goes to the node's disk (the BatchBuilder and MemoryStorage the
 * runtime and the simulator use), `send` puts the message in flight, `apply` and `restore` are seen
 * by the SafetyChecker (src/sim/safety.ts: election safety, log matching, leader completeness,
 * state machine safety, and every per-node invariant of src/sim/node-invariants.ts). Timers are
 * the machine's delayed raises (`raise(…, { delay, id })`, `cancel(id)`): a node's pending timers
 * are kept by id, and "time out a node" delivers one of them. A restart drops everything that is
 * not on disk — volatile state, timers — and starts a new machine from the disk (a crash and a
 * restart in one action: a node that is down meanwhile is one whose messages are dropped and whose
 * timers do not fire, which the explorer's other choices already cover).
 *
 * Messages in flight are a multiset. Two reductions keep it small: a message sent while an
 * identical copy is in flight joins that copy (a second copy comes from the duplicate action), and
 * a reply its receiver can no longer take is dropped at once (`isDead`).
 *
 * On top of the checker, one cluster-wide rule it does not hold: no read is served stale. A read is
 * answered against the committed history: the index a leader serves it at must include every entry
 * committed anywhere (the highest commitIndex any node reached) when the read was asked.
 */
import { createActor, type AnyActorScope } from 'xstate';
import { raftNodeMachine, type RaftEffect, type RaftEvent, type RaftNodeInput, type RaftNodeMachine, type RaftNodeSnapshot } from '../../machines/raft-node.js';
import { isConfigCommand } from '../../src/core/configuration.js';
import { canonicalJson } from '../../src/core/json.js';
import { isNoop, type LogIndex, type NodeId, type RpcMessage, type Term } from '../../src/core/types.js';
import { SafetyChecker, SafetyViolation, type WatchedNode } from '../../src/sim/safety.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { BatchBuilder, type PersistedState } from '../../src/storage/storage.js';

export const NODES: readonly NodeId[] = ['n1', 'n2', 'n3'];

/** One move of the cluster's environment. Messages are named by their content (identical copies are interchangeable). */
export type ClusterAction =
  | { readonly type: 'deliver' | 'drop' | 'duplicate'; readonly to: NodeId; readonly message: RpcMessage }
  | { readonly type: 'timeout'; readonly node: NodeId; readonly timer: string }
  | { readonly type: 'restart'; readonly node: NodeId }
  /** Propose the next command (`c1`, `c2`, …) to a node. */
  | { readonly type: 'propose'; readonly node: NodeId }
  /** Ask a node for a linearizable read (`r1`, `r2`, …). */
  | { readonly type: 'read'; readonly node: NodeId };

export interface Envelope {
  readonly to: NodeId;
  readonly message: RpcMessage;
  /** Canonical JSON of [to, message]: identifies copies of one message. */
  readonly id: string;
}

export interface NodeState {
  readonly snapshot: RaftNodeSnapshot;
  /** Pending delayed events, by timer id. */
  readonly timers: Readonly<Record<string, RaftEvent>>;
  readonly disk: PersistedState;
}

export interface ClusterState {
  readonly nodes: Readonly<Record<NodeId, NodeState>>;
  /** Messages in flight, a multiset kept sorted by id. */
  readonly inFlight: readonly Envelope[];
  readonly checker: SafetyChecker<WatchedNode>;
  readonly proposals: number;
  readonly reads: number;
  readonly restarts: number;
  readonly duplicates: number;
  /** The end of the committed history: the highest commitIndex any node has reached. */
  readonly committed: LogIndex;
  /** Reads asked and not yet answered: the committed index when each was asked. */
  readonly readFloors: Readonly<Record<string, LogIndex>>;
  readonly steps: number;
}

/** What a cluster starts from: the machine (a mutant's, maybe), options given to every node, and each node's disk. */
export interface ClusterSetup {
  readonly machine?: RaftNodeMachine;
  /** Node options other than id, peers and persisted state (preVote, checkQuorum, …). */
  readonly input?: Omit<Partial<RaftNodeInput<unknown>>, 'id' | 'peers' | 'persisted'>;
  /** Each node's disk at the start (empty if not given). */
  readonly disks?: Readonly<Partial<Record<NodeId, PersistedState>>>;
  /** Nodes cut off for the whole schedule: what is sent to them is lost, their timers never fire (a smaller space, for deep schedules). */
  readonly isolated?: readonly NodeId[];
}

export class ExploreViolation extends Error {
  constructor(
    readonly rule: string,
    readonly detail: string,
  ) {
    super(`${rule}: ${detail}`);
    this.name = 'ExploreViolation';
  }
}

const EMPTY_DISK: PersistedState = { hardState: { currentTerm: 0, votedFor: null }, entries: [] };

// ---------------------------------------------------------------- running one node's machine

type Effects = RaftEffect<unknown>[];

/**
 * The machine's own pure transition, `logic.transition(snapshot, event, scope)` — what xstate's
 * `transition()` calls — with one inert actor scope per machine that collects the executable
 * actions. xstate's `transition()` builds a throwaway actor (and the machine's initial context)
 * on every call: measured 237 µs a step against 79 µs this way. Both exist from xstate 5.20 on
 * (the peer range); so do the executable actions' shapes read here: `xstate.emit` { event },
 * `xstate.raise` { event, id, delay } and `xstate.cancel` { sendId }.
 */
class NodeRunner {
  private readonly scope: AnyActorScope;
  private actions: { type: string; params: unknown }[] = [];

  constructor(readonly machine: RaftNodeMachine) {
    const self = createActor(machine, { input: { id: 'n0', peers: [] } });
    this.scope = {
      self,
      id: '',
      sessionId: '',
      logger: () => {},
      defer: () => {},
      emit: () => {},
      system: self.system,
      stopChild: () => {},
      actionExecutor: (action) => this.actions.push(action),
    } as AnyActorScope;
  }

  start(input: RaftNodeInput<unknown>): { snapshot: RaftNodeSnapshot; effects: Effects; timers: Record<string, RaftEvent> } {
    this.actions = [];
    const snapshot = this.machine.getInitialSnapshot(this.scope, input) as RaftNodeSnapshot;
    return { snapshot, ...this.collect({}) };
  }

  send(node: NodeState, event: RaftEvent): { snapshot: RaftNodeSnapshot; effects: Effects; timers: Record<string, RaftEvent> } {
    this.actions = [];
    const snapshot = this.machine.transition(node.snapshot, event, this.scope) as RaftNodeSnapshot;
    return { snapshot, ...this.collect({ ...node.timers }) };
  }

  private collect(timers: Record<string, RaftEvent>): { effects: Effects; timers: Record<string, RaftEvent> } {
    const effects: Effects = [];
    for (const { type, params } of this.actions) {
      if (type === 'xstate.emit') effects.push((params as { event: RaftEffect<unknown> }).event);
      else if (type === 'xstate.cancel') delete timers[(params as { sendId: string }).sendId];
      else if (type === 'xstate.raise') {
        const { event, id, delay } = params as { event: RaftEvent; id?: string; delay?: number };
        // An undelayed raise (reprocessEvent) was taken within the step.
        if (typeof delay === 'number' && id !== undefined) timers[id] = event;
      }
    }
    return { effects, timers };
  }
}

const runners = new WeakMap<RaftNodeMachine, NodeRunner>();
function runnerFor(machine: RaftNodeMachine): NodeRunner {
  let runner = runners.get(machine);
  if (runner === undefined) runners.set(machine, (runner = new NodeRunner(machine)));
  return runner;
}

// ---------------------------------------------------------------- the cluster

export class Cluster {
  readonly machine: RaftNodeMachine;
  private readonly runner: NodeRunner;

  constructor(readonly setup: ClusterSetup = {}) {
    this.machine = setup.machine ?? raftNodeMachine;
    this.runner = runnerFor(this.machine);
  }

  private inputFor(id: NodeId, disk: PersistedState): RaftNodeInput<unknown> {
    return {
      ...this.setup.input,
      id,
      peers: NODES,
      persisted: { currentTerm: disk.hardState.currentTerm, votedFor: disk.hardState.votedFor, log: disk.entries, snapshot: disk.snapshot },
    };
  }

  /** Every node started from its disk; nothing in flight. */
  initial(): ClusterState {
    const checker = new SafetyChecker<WatchedNode>('test/explore replay', 0);
    const nodes: Record<NodeId, NodeState> = {};
    for (const id of NODES) {
      const disk = this.setup.disks?.[id] ?? EMPTY_DISK;
      const started = this.runner.start(this.inputFor(id, disk));
      nodes[id] = { snapshot: started.snapshot, timers: started.timers, disk };
      for (const effect of started.effects) checker.observe(id, effect);
      checker.started(id, watched(started.snapshot));
    }
    const state: ClusterState = { nodes, inFlight: [], checker, proposals: 0, reads: 0, restarts: 0, duplicates: 0, committed: 0, readFloors: {}, steps: 0 };
    return this.finishStep(state, nodes, checker, []);
  }

  /** The state after `action`; throws ExploreViolation if a rule breaks in this step. */
  step(state: ClusterState, action: ClusterAction): ClusterState {
    switch (action.type) {
      case 'drop':
      case 'duplicate': {
        const envelope = findEnvelope(state, action);
        if (action.type === 'duplicate') return { ...state, inFlight: withEnvelopes(state.inFlight, [envelope]), duplicates: state.duplicates + 1, steps: state.steps + 1 };
        return { ...state, inFlight: withoutEnvelope(state.inFlight, envelope), steps: state.steps + 1 };
      }
      case 'deliver': {
        const envelope = findEnvelope(state, action);
        return this.send({ ...state, inFlight: withoutEnvelope(state.inFlight, envelope) }, action.to, action.message as RaftEvent);
      }
      case 'timeout': {
        const node = state.nodes[action.node] as NodeState;
        const event = node.timers[action.timer];
        if (event === undefined) throw new RangeError(`${action.node} has no pending timer ${action.timer}`);
        const { [action.timer]: _fired, ...timers } = node.timers;
        return this.send({ ...state, nodes: { ...state.nodes, [action.node]: { ...node, timers } } }, action.node, event);
      }
      case 'propose':
        return this.send({ ...state, proposals: state.proposals + 1 }, action.node, {
          type: 'client.propose',
          commands: [`c${state.proposals + 1}`],
          requestId: `p${state.proposals + 1}`,
        });
      case 'read': {
        const requestId = `r${state.reads + 1}`;
        const asked = { ...state, reads: state.reads + 1, readFloors: { ...state.readFloors, [requestId]: state.committed } };
        return this.send(asked, action.node, { type: 'client.read', requestIds: [requestId] });
      }
      case 'restart':
        return this.restart(state, action.node);
    }
  }

  private send(state: ClusterState, id: NodeId, event: RaftEvent): ClusterState {
    const node = state.nodes[id] as NodeState;
    const result = machineStep(id, event.type, () => this.runner.send(node, event));
    const checker = state.checker.clone();
    for (const effect of result.effects) checker.observe(id, effect);
    const nodes = { ...state.nodes, [id]: { snapshot: result.snapshot, timers: result.timers, disk: written(node.disk, result.effects) } };
    return this.finishStep(state, nodes, checker, withSender(id, result.effects));
  }

  /** A crash and a restart from disk: only the disk survives (not the volatile state, not the timers). */
  private restart(state: ClusterState, id: NodeId): ClusterState {
    const { disk } = state.nodes[id] as NodeState;
    const checker = state.checker.clone();
    checker.crashed(id);
    const started = machineStep(id, 'restart', () => this.runner.start(this.inputFor(id, disk)));
    for (const effect of started.effects) checker.observe(id, effect);
    checker.started(id, watched(started.snapshot));
    const nodes = { ...state.nodes, [id]: { snapshot: started.snapshot, timers: started.timers, disk } };
    return this.finishStep({ ...state, restarts: state.restarts + 1 }, nodes, checker, withSender(id, started.effects));
  }

  private finishStep(state: ClusterState, nodes: Readonly<Record<NodeId, NodeState>>, checker: SafetyChecker<WatchedNode>, effects: readonly Sent[]): ClusterState {
    const isolated = this.setup.isolated ?? [];
    return finishStep(state, nodes, checker, isolated.length === 0 ? effects : effects.filter(({ effect }) => effect.type !== 'send' || !isolated.includes(effect.to)));
  }
}

/** A machine that throws (a guard or an action did) fails the step: the actor would stop with an error. */
function machineStep<T>(id: NodeId, what: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    throw new ExploreViolation('the node machine failed', `${id} on ${what}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

type Sent = { from: NodeId; effect: RaftEffect<unknown> };

function withSender(id: NodeId, effects: Effects): Sent[] {
  return effects.map((effect) => ({ from: id, effect }));
}

function watched(snapshot: RaftNodeSnapshot): WatchedNode {
  return { actor: { getSnapshot: () => snapshot } };
}

/** The node's disk after this step's persist effects, written as the runtime writes them: one batch. */
function written(disk: PersistedState, effects: Effects): PersistedState {
  const batch = new BatchBuilder<unknown>();
  for (const effect of effects) if (effect.type === 'persist') batch.add(effect);
  if (batch.empty) return disk;
  const storage = new MemoryStorage<unknown>(disk);
  storage.write(batch.take());
  return storage.load();
}

/** Sends go in flight; reads answered are checked against the committed history; then the checker looks at every node. */
function finishStep(state: ClusterState, nodes: Readonly<Record<NodeId, NodeState>>, checker: SafetyChecker<WatchedNode>, effects: readonly Sent[]): ClusterState {
  const sent: Envelope[] = [];
  let readFloors = state.readFloors;
  for (const { from, effect } of effects) {
    if (effect.type === 'send') sent.push(envelope(effect.to, effect.message));
    else if (effect.type === 'readReady' || effect.type === 'readRejected') {
      const waiting: Record<string, LogIndex> = { ...readFloors };
      for (const requestId of effect.requestIds) {
        const floor = waiting[requestId];
        if (effect.type === 'readReady' && floor !== undefined && effect.index < floor) {
          throw new ExploreViolation('no read is served stale', `${from} served read ${requestId} at index ${effect.index}, but index ${floor} was committed when it was asked`);
        }
        delete waiting[requestId];
      }
      readFloors = waiting;
    }
  }
  try {
    for (const id of NODES) {
      const snapshot = (nodes[id] as NodeState).snapshot;
      if (snapshot.status !== 'active') throw new ExploreViolation('the node machine failed', `${id}: ${String(snapshot.error)}`);
    }
    checker.afterStep(state.steps + 1, (id) => {
      const node = nodes[id];
      return node === undefined ? undefined : watched(node.snapshot);
    });
  } catch (error) {
    if (error instanceof SafetyViolation) throw new ExploreViolation(error.rule, error.detail);
    throw error;
  }
  let committed = state.committed;
  for (const id of NODES) committed = Math.max(committed, (nodes[id] as NodeState).snapshot.context.commitIndex);
  const inFlight = withEnvelopes(
    state.inFlight,
    sent.filter((e, i) => !state.inFlight.some((f) => f.id === e.id) && sent.findIndex((f) => f.id === e.id) === i),
  );
  return { ...state, nodes, checker, inFlight: inFlight.filter((e) => !isDead(e, nodes)), committed, readFloors, steps: state.steps + 1 };
}

// ---------------------------------------------------------------- messages in flight

/**
 * A reply its receiver can no longer take: of a term below the receiver's (a pre-vote grant: for a
 * term it has reached). Every role ignores such a reply (isHigherTerm, isCurrentTermVote,
 * isPreVoteGrantForUs, answersCurrentTermRequest all need the term at least equal, and terms never
 * go back), so it is taken out of flight at once, as if lost: keeping it would only multiply the
 * states by replies that change nothing. (A request of an old term is kept: its refusal tells the
 * sender of a newer term.)
 */
function isDead(e: Envelope, nodes: Readonly<Record<NodeId, NodeState>>): boolean {
  const m = e.message;
  const term = (nodes[e.to] as NodeState).snapshot.context.currentTerm;
  if (m.type === 'rpc.requestVoteResult' && m.preVote === true && m.voteGranted) return m.term <= term;
  return (m.type === 'rpc.requestVoteResult' || m.type === 'rpc.appendEntriesResult' || m.type === 'rpc.installSnapshotResult') && m.term < term;
}

/** Ids are canonical JSON (keys sorted), so a message written by hand in a replayed schedule names the one in flight. */
export function envelope(to: NodeId, message: RpcMessage): Envelope {
  const id = canonicalJson([to, message]);
  if (id === undefined) throw new TypeError(`a message to ${to} is not a JSON value: ${String(message.type)}`);
  return { to, message, id };
}

function findEnvelope(state: ClusterState, action: { to: NodeId; message: RpcMessage }): Envelope {
  const id = envelope(action.to, action.message).id;
  const found = state.inFlight.find((e) => e.id === id);
  if (found === undefined) throw new RangeError(`no such message in flight: ${id}`);
  return found;
}

function withEnvelopes(inFlight: readonly Envelope[], added: readonly Envelope[]): readonly Envelope[] {
  if (added.length === 0) return inFlight;
  return [...inFlight, ...added].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function withoutEnvelope(inFlight: readonly Envelope[], removed: Envelope): readonly Envelope[] {
  const at = inFlight.indexOf(removed);
  return [...inFlight.slice(0, at), ...inFlight.slice(at + 1)];
}

// ---------------------------------------------------------------- the abstraction

/** The six renamings of n1, n2, n3: the cluster is symmetric in its nodes, and so is the abstraction. */
const RENAMINGS: readonly Readonly<Record<NodeId, NodeId>>[] = [
  ['n1', 'n2', 'n3'],
  ['n1', 'n3', 'n2'],
  ['n2', 'n1', 'n3'],
  ['n2', 'n3', 'n1'],
  ['n3', 'n1', 'n2'],
  ['n3', 'n2', 'n1'],
].map((names) => Object.fromEntries(NODES.map((id, i) => [id, names[i] as NodeId])));

function commandId(command: unknown): string {
  if (typeof command === 'string') return command;
  if (isNoop(command)) return 'noop';
  if (isConfigCommand(command)) return 'cfg';
  return JSON.stringify(command);
}

/** A term relative to `base`; 0 (no entry: the empty log's sentinel, no conflict) stays itself. */
function relative(term: Term, base: Term): Term | null {
  return term === 0 ? null : term - base;
}

type Rename = Readonly<Record<NodeId, NodeId>>;
const renamed = (rename: Rename, id: NodeId | null): NodeId | null => (id === null ? null : (rename[id] ?? id));
const renamedSet = (rename: Rename, ids: readonly NodeId[]): NodeId[] => ids.map((id) => rename[id] ?? id).sort();

/**
 * One node, abstracted: role; term relative to the lowest; vote and leader; the log's shape (term
 * relative to the lowest, command); commit and apply indexes; whether a leader was heard from (it
 * decides pre-votes); a (pre-)candidate's votes; a leader's per-follower progress, check-quorum
 * answers (a sorted set until they make a quorum, then just `quorum`) and read rounds; the pending
 * timers. Snapshots, configuration changes and transfers are outside the alphabet and left out.
 */
function nodeKey(node: NodeState, base: Term, rename: Rename): unknown[] {
  const { snapshot, timers } = node;
  const c = snapshot.context;
  const role = snapshot.value;
  const parts: unknown[] = [
    role,
    c.currentTerm - base,
    renamed(rename, c.votedFor),
    renamed(rename, c.leaderId),
    c.log.toArray().map((entry) => [entry.term - base, commandId(entry.command)]),
    c.commitIndex,
    c.lastApplied,
    Object.keys(timers).sort(),
  ];
  if (role !== 'leader') parts.push(c.heardFromLeader);
  if (role === 'candidate' || role === 'preCandidate') parts.push(renamedSet(rename, c.votes));
  if (role === 'leader') {
    const answered = c.recentlyActive.length + 1;
    parts.push(
      c.checkQuorum ? (answered * 2 > c.config.voters.length ? 'quorum' : renamedSet(rename, c.recentlyActive)) : null,
      c.replicas
        .map((peer) => {
          const r = c.replication[peer];
          return [renamed(rename, peer), c.nextIndex[peer], c.matchIndex[peer], r?.mode, r?.probeSent, c.ackedSeq[peer] ?? 0];
        })
        .sort((a, b) => ((a[0] as string) < (b[0] as string) ? -1 : 1)),
      c.readSeq,
      c.reads.map((read) => [read.index, read.seq, read.requestIds.length]),
    );
  }
  return parts;
}

const messageKeys = new WeakMap<Envelope, { base: Term; key: string }>();

/** A message abstracted (terms relative to `base`), its node names as they are; cached per envelope (shared between states). */
function messageKey(e: Envelope, base: Term): string {
  const cached = messageKeys.get(e);
  if (cached !== undefined && cached.base === base) return cached.key;
  const m = e.message;
  const shifted: Record<string, unknown> = { ...m, term: m.term - base };
  if (m.type === 'rpc.requestVote') shifted.lastLogTerm = relative(m.lastLogTerm, base);
  if (m.type === 'rpc.appendEntries') {
    shifted.prevLogTerm = relative(m.prevLogTerm, base);
    shifted.entries = m.entries.map((entry) => [entry.index, entry.term - base, commandId(entry.command)]);
  }
  if (m.type === 'rpc.appendEntriesResult') Object.assign(shifted, { requestTerm: m.requestTerm - base, conflictTerm: relative(m.conflictTerm, base) });
  const key = JSON.stringify([e.to, shifted]);
  messageKeys.set(e, { base, key });
  return key;
}

/** Node names in a JSON text: every node name is a JSON string of its own, and nothing else is spelled like one. */
const NODE_NAME = /"(n[1-3])"/g;

/** The key under one renaming: nodes in the order of their new names, messages sorted. */
function keyUnder(state: ClusterState, base: Term, rename: Rename): string {
  const parts: string[] = [];
  const byNewName = [...NODES].sort((a, b) => ((rename[a] as string) < (rename[b] as string) ? -1 : 1));
  for (const id of byNewName) parts.push(JSON.stringify(nodeKey(state.nodes[id] as NodeState, base, rename)));
  const identity = rename.n1 === 'n1' && rename.n2 === 'n2';
  const messages = state.inFlight.map((e) => {
    const key = messageKey(e, base);
    return identity ? key : key.replace(NODE_NAME, (_, id: string) => `"${rename[id]}"`);
  });
  parts.push(messages.sort().join(' '));
  return parts.join('|');
}

/**
 * The renamings worth trying: those that name the nodes in the order of what they look like with
 * every name hidden (their own as `self`), so only nodes that look alike are tried both ways.
 */
function candidateRenamings(state: ClusterState, base: Term): readonly Rename[] {
  const hidden = Object.fromEntries(NODES.map((id) => [id, '?']));
  const looks = NODES.map((id) => JSON.stringify(nodeKey(state.nodes[id] as NodeState, base, { ...hidden, [id]: 'self' })));
  return RENAMINGS.filter((rename) => {
    for (let i = 0; i < NODES.length; i++) {
      for (let j = 0; j < NODES.length; j++) {
        if ((looks[i] as string) < (looks[j] as string) && (rename[NODES[i] as NodeId] as string) > (rename[NODES[j] as NodeId] as string)) return false;
      }
    }
    return true;
  });
}

/**
 * The abstract state that deduplicates the exploration: every node abstracted (nodeKey), the
 * messages in flight as a sorted multiset, terms relative to the lowest term in the cluster — under
 * whichever of the six renamings of the nodes gives the smallest key (symmetry); then the end of
 * the committed history and the reads waiting with the index each must reach. Left out: the
 * checkers' memory of the schedule (two schedules that reach one abstract state are taken to go on
 * alike), election delays and the generator state (the explorer fires timers itself), and what the
 * bounds count (the explorer compares those itself: explore.ts).
 */
export function stateKey(state: ClusterState): string {
  let base = Number.POSITIVE_INFINITY;
  for (const id of NODES) base = Math.min(base, (state.nodes[id] as NodeState).snapshot.context.currentTerm);
  let best: string | undefined;
  for (const rename of candidateRenamings(state, base)) {
    const key = keyUnder(state, base, rename);
    if (best === undefined || key < best) best = key;
  }
  return `${best}|${state.committed}|${JSON.stringify(state.readFloors)}`;
}
