/**
 * One randomized run of a cluster, entirely determined by its seed: a client proposes commands to
 * whoever leads while a nemesis partitions, isolates, crashes and restarts nodes and degrades the
 * network. Safety is checked after every step (SafetyChecker). At the end the faults are healed
 * and the run must converge: one leader, and every node applies the same log — a liveness check
 * that catches a cluster which stays safe by doing nothing.
 */
import type { raftNodeMachine } from '../../machines/raft-node.js';
import { SeededRandom } from '../core/random.js';
import { Simulation } from './simulation.js';
import { SafetyViolation } from './safety.js';

export type Fault = 'partition' | 'crash' | 'network';
export const ALL_FAULTS: readonly Fault[] = ['partition', 'crash', 'network'];

export interface RandomRunOptions {
  seed: number;
  nodes: number;
  /** Virtual time of the faulty phase, ms. */
  duration: number;
  faults: readonly Fault[];
  /** The statechart every node runs (default raftNodeMachine); for mutation tests. */
  machine?: typeof raftNodeMachine;
}

export interface RandomRunResult {
  seed: number;
  ok: boolean;
  /** The rule that broke, or 'liveness' when the healed cluster did not converge. */
  failure?: { rule: string; detail: string };
  replay: string;
  virtualMs: number;
  steps: number;
  proposed: number;
  committed: number;
  terms: number;
}

export function replayCommand(options: RandomRunOptions): string {
  const faults = options.faults.length === ALL_FAULTS.length ? 'all' : options.faults.length === 0 ? 'none' : options.faults.join(',');
  return `npx xstate-raft sim --seed ${options.seed} --nodes ${options.nodes} --duration ${options.duration}ms --faults ${faults}`;
}

export function randomRun(options: RandomRunOptions): RandomRunResult {
  const replay = replayCommand(options);
  const sim = new Simulation({ nodes: options.nodes, seed: options.seed, replay, ...(options.machine ? { machine: options.machine } : {}) });
  const nemesis = new SeededRandom(options.seed * 31 + 7);
  const faults = new Set(options.faults);
  let proposed = 0;
  const result = (ok: boolean, failure?: { rule: string; detail: string }): RandomRunResult => {
    sim.stop();
    const committed = Math.max(0, ...sim.ids.map((id) => sim.status(id)?.commitIndex ?? 0));
    return {
      seed: options.seed,
      ok,
      ...(failure ? { failure } : {}),
      replay,
      virtualMs: sim.now(),
      steps: sim.checker.steps,
      proposed,
      committed,
      terms: Math.max(0, ...sim.ids.map((id) => sim.status(id)?.term ?? 0)),
    };
  };

  try {
    const crashed = new Set<string>();
    for (let t = 0; t < options.duration; t += 50) {
      const leader = sim.leader();
      if (leader !== undefined && nemesis.chance(0.6)) {
        const n = nemesis.int(1, 3);
        for (let i = 0; i < n; i++) if (sim.propose(leader, `c${proposed}`).isLeader) proposed++;
      }
      if (nemesis.chance(0.04)) {
        const action = nemesis.pick(options.faults.length > 0 ? [...faults, 'heal' as const] : ['heal' as const]);
        if (action === 'partition') {
          const shuffled = nemesis.shuffle(sim.ids);
          const cut = nemesis.int(1, Math.max(1, sim.ids.length - 1));
          sim.partition([shuffled.slice(0, cut), shuffled.slice(cut)]);
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
          sim.setNetwork({
            drop: nemesis.next() * 0.2,
            duplicate: nemesis.next() * 0.1,
            delay: [1, nemesis.int(5, 40)],
            reorder: nemesis.next() * 0.3,
            longReorder: nemesis.next() * 0.02,
          });
        } else {
          sim.heal();
          for (const id of crashed) sim.restart(id);
          crashed.clear();
        }
      }
      sim.run(50);
    }
    // Heal everything; the cluster must settle on one leader and one applied history.
    sim.heal();
    for (const id of crashed) sim.restart(id);
    sim.setNetwork({ drop: 0, duplicate: 0, delay: [1, 5], reorder: 0, longReorder: 0 });
    const settled = sim.runUntil(() => {
      const leader = sim.leader();
      if (leader === undefined) return false;
      const target = sim.status(leader)?.lastLogIndex ?? 0;
      const term = sim.status(leader)?.term;
      return sim.ids.every((id) => {
        const s = sim.status(id);
        return s !== undefined && s.lastApplied === target && s.commitIndex === target && s.term === term;
      });
    }, { timeout: 20_000 });
    if (!settled) {
      const states = sim.ids.map((id) => JSON.stringify(sim.status(id))).join(' ');
      return result(false, { rule: 'liveness', detail: `the healed cluster did not converge within 20 s: ${states}` });
    }
    const leader = sim.leader() as string;
    const index = sim.status(leader)?.lastLogIndex ?? 0;
    if (index > 0) sim.nCommitted(index); // throws if two nodes disagree at the end
    return result(true);
  } catch (error) {
    if (error instanceof SafetyViolation) return result(false, { rule: error.rule, detail: `${error.detail} (step ${error.step}, virtual time ${error.time} ms)` });
    return result(false, { rule: 'crash', detail: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
}
