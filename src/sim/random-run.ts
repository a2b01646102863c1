/**
 * One randomized run of a cluster, entirely determined by its seed: KV clients (src/sim/kv-workload.ts)
 * read, write, delete and compare-and-set through every node while a nemesis partitions, cuts
 * links one way, crashes and restarts nodes and degrades the network (loss, duplication,
 * reordering, and holding messages back for longer than an election timeout, so that one crosses
 * two leaderships). Safety is checked after every step (SafetyChecker). At the end the faults are
 * healed and the run must converge — one leader, every node applies the same log: a liveness check
 * that catches a cluster which stays safe by doing nothing — and the whole history the clients saw
 * must be linearizable.
 *
 * With `membership`, a second nemesis changes the cluster as it runs (one change at a time, each
 * through whichever node leads): it adds a fresh server (as a voter, or now and then as a learner),
 * removes a voter or a learner (the leader too, never the last voter), promotes a learner,
 * transfers leadership, and replaces a crashed server (removes it, adds a fresh one, which catches
 * up through InstallSnapshot). Removed servers keep running (a crashed one restarts at the heal)
 * and the clients follow the configuration. Convergence is then asked of the members of the
 * final, committed configuration.
 */
import type { raftNodeMachine } from '../../machines/raft-node.js';
import { SeededRandom } from '../core/random.js';
import type { NodeId } from '../core/types.js';
import { CoordStateMachine } from '../coord/state-machine.js';
import type { StateMachine } from '../state-machine.js';
import { AgentWorkload, type AgentCounts } from './agent-workload.js';
import { CoordAudit } from './coord-audit.js';
import { KvWorkload, type KvOperationCounts } from './kv-workload.js';
import { SafetyViolation } from './safety.js';
import { Simulation } from './simulation.js';

export type Fault = 'partition' | 'crash' | 'network';
export const ALL_FAULTS: readonly Fault[] = ['partition', 'crash', 'network'];

export interface RandomRunOptions {
  seed: number;
  nodes: number;
  /** Virtual time of the faulty phase, ms. */
  duration: number;
  faults: readonly Fault[];
  /** Concurrent KV clients. Default 3. */
  clients?: number;
  /**
   * Each node snapshots and compacts its log after this many applied entries. Default 25: small,
   * so that snapshots, compaction and InstallSnapshot happen in every seed, under every fault.
   */
  snapshotThreshold?: number;
  /** The statechart every node runs (default raftNodeMachine); for mutation tests. */
  machine?: typeof raftNodeMachine;
  /** Also change the membership as the run goes (the membership nemesis). Default false. */
  membership?: boolean;
  /**
   * Agents working a task queue (src/sim/agent-workload.ts), with crashes and pauses of their own.
   * Default 0. With agents the run also fails when a task is completed twice, a fenced write is
   * accepted with a stale token, or a posted task is neither done nor dead-lettered at the end.
   */
  agents?: number;
  /** Wrap each node's state machine (for mutation tests of the coordination rules). */
  wrapStateMachine?: (machine: CoordStateMachine) => StateMachine;
}

/** What the membership nemesis did: changes that completed, and those that failed (by error name). */
export interface MembershipCounts {
  added: number;
  /** Of which as a learner (never promoted by this change). */
  addedAsLearner: number;
  removed: number;
  /** Of which the leader removing itself. */
  removedLeader: number;
  promoted: number;
  transferred: number;
  /** A crashed server removed and a fresh one added in its place. */
  replaced: number;
  failed: Record<string, number>;
}

export interface RandomRunResult {
  seed: number;
  ok: boolean;
  /**
   * The rule that broke: a safety rule (checked after every step), 'linearizability' when the
   * clients' history is not linearizable, or 'liveness' when the healed cluster did not converge.
   */
  failure?: { rule: string; detail: string; kind: 'safety' | 'linearizability' | 'liveness' };
  replay: string;
  virtualMs: number;
  steps: number;
  /** Operations the clients completed or left unknown, by kind; all of them were checked. */
  operations: KvOperationCounts;
  /** Snapshots the nodes took (compacting their logs) and installed from a leader (InstallSnapshot). */
  snapshots: { taken: number; installed: number };
  committed: number;
  terms: number;
  /** With `membership`: what the membership nemesis did, and the configuration the run ended with. */
  membership?: MembershipCounts & { final: { voters: NodeId[]; learners: NodeId[] } };
  /** With `agents`: what the agents did, and what the replicas' history shows (CoordAudit). */
  agents?: AgentCounts & { history: CoordAudit['counts'] };
}

export const DEFAULT_SNAPSHOT_THRESHOLD = 25;

/** The step of the faulty phase: the nemesis may act, then the cluster runs this long (ms). */
const STEP = 50;

export function replayCommand(options: RandomRunOptions): string {
  const faults = options.faults.length === ALL_FAULTS.length ? 'all' : options.faults.length === 0 ? 'none' : options.faults.join(',');
  const clients = options.clients !== undefined && options.clients !== 3 ? ` --clients ${options.clients}` : '';
  const threshold = options.snapshotThreshold !== undefined && options.snapshotThreshold !== DEFAULT_SNAPSHOT_THRESHOLD ? ` --snapshot-threshold ${options.snapshotThreshold}` : '';
  const membership = options.membership ? ' --membership' : '';
  const agents = options.agents ? ` --agents ${options.agents}` : '';
  return `npx xstate-raft sim --seed ${options.seed} --nodes ${options.nodes} --duration ${options.duration}ms --faults ${faults}${clients}${threshold}${membership}${agents}`;
}

/** A node's wall-clock skew in a seed, −60 to +60 ms. */
function clockSkew(seed: number, id: NodeId): number {
  let h = seed * 2654435761;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619);
  return (Math.abs(h) % 121) - 60;
}

export async function randomRun(options: RandomRunOptions): Promise<RandomRunResult> {
  const replay = replayCommand(options);
  const audit = new CoordAudit();
  /** Each node's state machine now (a restart makes a new one). */
  const machines = new Map<NodeId, CoordStateMachine>();
  const sim = new Simulation({
    nodes: options.nodes,
    seed: options.seed,
    replay,
    stateMachine: (id) => {
      const machine = new CoordStateMachine();
      machines.set(id, machine);
      audit.attach(machine);
      return options.wrapStateMachine?.(machine) ?? machine;
    },
    snapshotThreshold: options.snapshotThreshold ?? DEFAULT_SNAPSHOT_THRESHOLD,
    ...(options.machine ? { machine: options.machine } : {}),
    // With agents, every node's wall clock is off by its own few tens of ms (drawn from the seed,
    // not from the run's generator): leaders stamp entries with clocks that disagree, and time in
    // the log must still never run backwards.
    ...(options.agents ? { wallClock: (id: NodeId, now: number) => now + clockSkew(options.seed, id) } : {}),
  });
  const nemesis = new SeededRandom(options.seed * 31 + 7);
  const workload = new KvWorkload(sim, options.seed * 131 + 3, { clients: options.clients ?? 3, ...(options.membership ? { followMembers: true } : {}) });
  const faults = new Set(options.faults);
  const crashed = new Set<string>();
  // Its own generator: a run without it draws exactly what it drew before membership changes existed.
  const changes = options.membership ? new MembershipNemesis(sim, new SeededRandom(options.seed * 53 + 11), options.nodes) : undefined;
  const agents = options.agents ? new AgentWorkload(sim, options.seed * 71 + 5, audit, { agents: options.agents }) : undefined;

  /** Run `ms` of virtual time, letting the clients (and the membership controls) react every 10 virtual ms. */
  const advance = (ms: number): Promise<void> => sim.advance(ms);
  const result = (failure?: RandomRunResult['failure']): RandomRunResult => {
    void workload.stop(); // clients issue nothing more (their last waits never fire: time stops here)
    agents?.stop();
    sim.stop();
    const committed = Math.max(0, ...sim.ids.map((id) => sim.status(id)?.commitIndex ?? 0));
    return {
      seed: options.seed,
      ok: failure === undefined,
      ...(failure ? { failure } : {}),
      replay,
      virtualMs: sim.now(),
      steps: sim.checker.steps,
      operations: workload.counts(),
      snapshots: { taken: sim.snapshots.persisted - sim.snapshots.installed, installed: sim.snapshots.installed },
      committed,
      terms: Math.max(0, ...sim.ids.map((id) => sim.status(id)?.term ?? 0)),
      ...(changes ? { membership: { ...changes.counts, final: finalConfig() } } : {}),
      ...(agents ? { agents: { ...agents.counts(), history: { ...audit.counts } } } : {}),
    };
  };
  const finalConfig = () => {
    try {
      return sim.config();
    } catch {
      return { voters: [], learners: [] }; // two leaders in a term: the failure says so
    }
  };
  /** Who must have converged at the end: every node, or with membership changes the members of the committed configuration. */
  const mustConverge = (leader: NodeId): readonly NodeId[] | undefined => {
    if (changes === undefined) return sim.ids;
    const members = sim.node(leader)?.members();
    return members?.committed ? [...members.voters, ...members.learners] : undefined;
  };

  try {
    workload.start();
    agents?.start();
    for (let t = 0; t < options.duration; t += STEP) {
      if (nemesis.chance(0.05) && faults.size > 0) unleash(sim, nemesis, faults, crashed, changes !== undefined);
      changes?.maybeAct();
      await advance(STEP);
    }
    // Heal everything; the clients finish what they started; the cluster must settle on one
    // leader and one applied history.
    sim.heal();
    for (const id of crashed) sim.restart(id);
    sim.setNetwork({ drop: 0, duplicate: 0, delay: [1, 5], reorder: 0, longReorder: 0 });
    let clientsDone = false;
    void Promise.all([workload.stop(), changes?.idle(), agents?.finish()]).then(() => (clientsDone = true));
    for (let waited = 0; !clientsDone && waited < 30_000; waited += STEP) await advance(STEP);
    if (!clientsDone)
      return result({ kind: 'liveness', rule: 'liveness', detail: 'the clients (or a membership change, or the agents) did not finish within 30 s of the cluster healing' });
    const settled = sim.runUntil(
      () => {
        const leader = sim.leader();
        if (leader === undefined) return false;
        const target = sim.status(leader)?.lastLogIndex ?? 0;
        const term = sim.status(leader)?.term;
        return (
          mustConverge(leader)?.every((id) => {
            const s = sim.status(id);
            return s !== undefined && s.lastApplied === target && s.commitIndex === target && s.term === term;
          }) === true
        );
      },
      { timeout: 20_000 },
    );
    if (!settled) {
      const states = sim.ids.map((id) => `${id}: ${JSON.stringify(sim.status(id))}`).join(' ');
      return result({ kind: 'liveness', rule: 'liveness', detail: `the healed cluster did not converge within 20 s: ${states}` });
    }
    const leader = sim.leader() as string;
    const index = sim.status(leader)?.lastLogIndex ?? 0;
    if (index > 0) sim.nCommitted(index); // throws if two nodes disagree at the end
    // Every replica that converged holds the same state, byte for byte: leases, tasks, sessions, time, the KV.
    const converged = mustConverge(leader) ?? [];
    const states = converged.map((id) => [id, (machines.get(id)?.snapshot() ?? {}) as Record<string, unknown>] as const);
    const [first, firstState] = states[0] ?? ['', {}];
    for (const [id, state] of states) {
      const field = Object.keys(firstState).find((key) => JSON.stringify(state[key]) !== JSON.stringify(firstState[key]));
      if (field === undefined) continue;
      const show = (value: unknown) => JSON.stringify(value).slice(0, 400);
      return result({
        kind: 'safety',
        rule: 'replicas-agree',
        detail: `${id} and ${first} applied the same log to different states: ${field} is ${show(state[field])} on ${id}, ${show(firstState[field])} on ${first}`,
      });
    }
    const coordination = (await agents?.check()) ?? audit.violation;
    if (coordination !== undefined) return result({ kind: 'safety', rule: coordination.rule, detail: coordination.detail });
    const verdict = workload.check();
    if (!verdict.ok) {
      const detail = verdict.counterexample
        ? `the clients' history is not linearizable; smallest counterexample:\n${verdict.counterexample.description}`
        : `the linearizability search ran out of budget after ${verdict.states} states (${workload.history.length} operations): nothing proven`;
      return result({ kind: 'linearizability', rule: 'linearizability', detail });
    }
    return result();
  } catch (error) {
    if (error instanceof SafetyViolation) {
      return result({ kind: 'safety', rule: error.rule, detail: `${error.detail} (step ${error.step}, virtual time ${error.time} ms)` });
    }
    return result({ kind: 'safety', rule: 'crash', detail: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
}

/** One act of the nemesis. */
function unleash(sim: Simulation, nemesis: SeededRandom, faults: ReadonlySet<Fault>, crashed: Set<string>, membership: boolean): void {
  const action = nemesis.pick([...faults, 'heal' as const]);
  if (action === 'partition') {
    const shuffled = nemesis.shuffle(sim.ids);
    if (nemesis.chance(0.3)) {
      // One-way cuts: a node still hears some peers that no longer hear it (or the reverse).
      const [from, ...rest] = shuffled as [string, ...string[]];
      for (const to of rest) if (nemesis.chance(0.5)) nemesis.chance(0.5) ? sim.network.block(from, to) : sim.network.block(to, from);
    } else {
      const cut = nemesis.int(1, Math.max(1, sim.ids.length - 1));
      sim.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
    }
  } else if (action === 'crash') {
    const victim = nemesis.pick(sim.ids);
    if (crashed.has(victim)) {
      sim.restart(victim);
      crashed.delete(victim);
    } else if (mayCrash(sim, crashed, victim, membership)) {
      sim.crash(victim);
      crashed.add(victim);
    }
  } else if (action === 'network') {
    // Now and then a storm: many messages held back past an election timeout, crossing leaderships.
    const storm = nemesis.chance(0.3);
    sim.setNetwork({
      drop: nemesis.next() * 0.2,
      duplicate: nemesis.next() * 0.1,
      delay: [1, nemesis.int(5, 40)],
      reorder: nemesis.next() * 0.3,
      longReorder: storm ? 0.2 + nemesis.next() * 0.3 : nemesis.next() * 0.05,
    });
  } else {
    sim.heal();
    for (const id of crashed) sim.restart(id);
    crashed.clear();
  }
}

/**
 * Crash one more node? Up to a bare majority of the voters may be down at once (the cluster may
 * stall until the heal; it must never lose what it committed). Without membership changes every
 * node is a voter; with them, the voters are those of the configuration in force.
 */
function mayCrash(sim: Simulation, crashed: ReadonlySet<string>, victim: NodeId, membership: boolean): boolean {
  if (!membership) return crashed.size < Math.floor((sim.ids.length - 1) / 2) + 1;
  const { voters } = sim.config();
  if (!voters.includes(victim)) return true;
  return voters.filter((id) => crashed.has(id)).length < Math.floor((voters.length - 1) / 2) + 1;
}

/** A membership change gives up after this long in the faulty phase (it may still commit later). */
const CHANGE_TIMEOUT = 10_000;

/**
 * The membership nemesis: now and then, one change to the cluster through the Simulation's
 * controls (which go through the leader, retrying across elections). One change at a time; a
 * change that fails under the faults is counted by its error, never retried by hand.
 */
class MembershipNemesis {
  readonly counts: MembershipCounts = { added: 0, addedAsLearner: 0, removed: 0, removedLeader: 0, promoted: 0, transferred: 0, replaced: 0, failed: {} };
  private pending: Promise<void> | undefined;
  private nextId: number;

  constructor(
    private readonly sim: Simulation,
    private readonly random: SeededRandom,
    /** The cluster's size at start: the membership wanders around it (at most two more members). */
    private readonly size: number,
  ) {
    this.nextId = size;
  }

  /** Resolves once the change in flight (if any) is over. */
  idle(): Promise<void> {
    return this.pending ?? Promise.resolve();
  }

  maybeAct(): void {
    if (this.pending !== undefined || !this.random.chance(0.05)) return;
    const leader = this.sim.leader();
    if (leader === undefined) return;
    const change = this.pick(leader);
    if (change === undefined) return;
    const [kind, run] = change;
    this.pending = run().then(
      () => undefined,
      (error: unknown) => {
        const name = `${kind}: ${error instanceof Error ? error.name : 'error'}`;
        this.counts.failed[name] = (this.counts.failed[name] ?? 0) + 1;
      },
    );
    void this.pending.then(() => (this.pending = undefined));
  }

  private pick(leader: NodeId): [string, () => Promise<unknown>] | undefined {
    const { sim, random, counts } = this;
    const { voters, learners } = sim.config(leader);
    const members = [...voters, ...learners];
    const crashed = members.filter((id) => !sim.isRunning(id));
    const choices: string[] = [];
    // Weighted by repetition: grow back toward the starting size, shrink when above it.
    if (members.length < this.size + 2) choices.push('add', ...(voters.length < this.size ? ['add', 'add'] : []));
    if (voters.length > 1) choices.push('remove', 'transfer', ...(voters.length > this.size ? ['remove'] : []));
    if (learners.length > 0) choices.push('promote', 'promote', 'remove');
    if (crashed.length > 0) choices.push('replace', 'replace', 'replace');
    if (choices.length === 0) return undefined;
    const options = { timeout: CHANGE_TIMEOUT };
    switch (random.pick(choices)) {
      case 'add': {
        const id = this.freshId();
        const learner = random.chance(0.25);
        return ['add', () => sim.addServer(id, { learner, ...options }).then(() => (counts.added++, learner && counts.addedAsLearner++))];
      }
      case 'remove': {
        // Now and then the leader itself (it hands over once the change commits); never the last voter.
        const removable = members.filter((id) => learners.includes(id) || voters.length > 1);
        const victim = voters.length > 1 && random.chance(0.3) ? leader : random.pick(removable);
        return ['remove', () => sim.removeServer(victim, options).then(() => (counts.removed++, victim === leader && counts.removedLeader++))];
      }
      case 'promote': {
        const learner = random.pick(learners);
        return ['promote', () => sim.promote(learner, options).then(() => counts.promoted++)];
      }
      case 'transfer': {
        const to = random.pick(voters.filter((id) => id !== leader));
        return ['transfer', () => sim.transferLeadership(to, options).then(() => counts.transferred++)];
      }
      default: {
        const victim = random.pick(crashed);
        const id = this.freshId();
        return [
          'replace',
          () =>
            sim
              .removeServer(victim, options)
              .then(() => sim.addServer(id, options))
              .then(() => counts.replaced++),
        ];
      }
    }
  }

  private freshId(): NodeId {
    return `n${++this.nextId}`;
  }
}
