/**
 * One randomized run of a cluster, entirely determined by its seed: KV clients (src/sim/kv-workload.ts)
 * read, write, delete and compare-and-set through every node while a nemesis partitions, cuts
 * links one way, crashes and restarts nodes and degrades the network (loss, duplication,
 * reordering, and holding messages back for longer than an election timeout, so that one crosses
 * two leaderships). Safety is checked after every step (SafetyChecker). At the end the faults are
 * healed and the run must converge — one leader, every node applies the same log: a liveness check
 * that catches a cluster which stays safe by doing nothing — and the whole history the clients saw
 * must be linearizable.
 */
import type { raftNodeMachine } from '../../machines/raft-node.js';
import { SeededRandom } from '../core/random.js';
import { KvStateMachine } from '../kv/state-machine.js';
import { drain, KvWorkload, type KvOperationCounts } from './kv-workload.js';
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
}

export const DEFAULT_SNAPSHOT_THRESHOLD = 25;

/** The step of the faulty phase: the nemesis may act, then the cluster runs this long (ms). */
const STEP = 50;
/** Within a step, clients' callbacks run this often (virtual ms). */
const CLIENT_TICK = 10;

export function replayCommand(options: RandomRunOptions): string {
  const faults = options.faults.length === ALL_FAULTS.length ? 'all' : options.faults.length === 0 ? 'none' : options.faults.join(',');
  const clients = options.clients !== undefined && options.clients !== 3 ? ` --clients ${options.clients}` : '';
  const threshold = options.snapshotThreshold !== undefined && options.snapshotThreshold !== DEFAULT_SNAPSHOT_THRESHOLD ? ` --snapshot-threshold ${options.snapshotThreshold}` : '';
  return `npx xstate-raft sim --seed ${options.seed} --nodes ${options.nodes} --duration ${options.duration}ms --faults ${faults}${clients}${threshold}`;
}

export async function randomRun(options: RandomRunOptions): Promise<RandomRunResult> {
  const replay = replayCommand(options);
  const sim = new Simulation({
    nodes: options.nodes,
    seed: options.seed,
    replay,
    stateMachine: () => new KvStateMachine(),
    snapshotThreshold: options.snapshotThreshold ?? DEFAULT_SNAPSHOT_THRESHOLD,
    ...(options.machine ? { machine: options.machine } : {}),
  });
  const nemesis = new SeededRandom(options.seed * 31 + 7);
  const workload = new KvWorkload(sim, options.seed * 131 + 3, { clients: options.clients ?? 3 });
  const faults = new Set(options.faults);
  const crashed = new Set<string>();

  /** Run `ms` of virtual time, letting the clients react every CLIENT_TICK. */
  const advance = async (ms: number): Promise<void> => {
    for (let t = 0; t < ms; t += CLIENT_TICK) {
      sim.run(Math.min(CLIENT_TICK, ms - t));
      await drain();
    }
  };
  const result = (failure?: RandomRunResult['failure']): RandomRunResult => {
    void workload.stop(); // clients issue nothing more (their last waits never fire: time stops here)
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
    };
  };

  try {
    workload.start();
    for (let t = 0; t < options.duration; t += STEP) {
      if (nemesis.chance(0.05) && faults.size > 0) unleash(sim, nemesis, faults, crashed);
      await advance(STEP);
    }
    // Heal everything; the clients finish what they started; the cluster must settle on one
    // leader and one applied history.
    sim.heal();
    for (const id of crashed) sim.restart(id);
    sim.setNetwork({ drop: 0, duplicate: 0, delay: [1, 5], reorder: 0, longReorder: 0 });
    let clientsDone = false;
    void workload.stop().then(() => (clientsDone = true));
    for (let waited = 0; !clientsDone && waited < 30_000; waited += STEP) await advance(STEP);
    if (!clientsDone) return result({ kind: 'liveness', rule: 'liveness', detail: 'the clients did not finish within 30 s of the cluster healing' });
    const settled = sim.runUntil(
      () => {
        const leader = sim.leader();
        if (leader === undefined) return false;
        const target = sim.status(leader)?.lastLogIndex ?? 0;
        const term = sim.status(leader)?.term;
        return sim.ids.every((id) => {
          const s = sim.status(id);
          return s !== undefined && s.lastApplied === target && s.commitIndex === target && s.term === term;
        });
      },
      { timeout: 20_000 },
    );
    if (!settled) {
      const states = sim.ids.map((id) => JSON.stringify(sim.status(id))).join(' ');
      return result({ kind: 'liveness', rule: 'liveness', detail: `the healed cluster did not converge within 20 s: ${states}` });
    }
    const leader = sim.leader() as string;
    const index = sim.status(leader)?.lastLogIndex ?? 0;
    if (index > 0) sim.nCommitted(index); // throws if two nodes disagree at the end
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
function unleash(sim: Simulation, nemesis: SeededRandom, faults: ReadonlySet<Fault>, crashed: Set<string>): void {
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
    } else if (crashed.size < Math.floor((sim.ids.length - 1) / 2) + 1) {
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
