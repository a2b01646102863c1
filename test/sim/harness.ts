import { expect } from 'vitest';
import { Simulation, type SimulationOptions } from '../../src/sim/simulation.js';

export function cluster(nodes: number, seed: number, extra: Partial<SimulationOptions> = {}): Simulation {
  return new Simulation({ nodes, seed, ...extra });
}

/** Run until a leader exists (within `timeout` virtual ms) and return it. */
export function awaitLeader(sim: Simulation, timeout = 5000): string {
  expect(
    sim.runUntil(() => sim.leader() !== undefined, { timeout }),
    `a leader within ${timeout} ms`,
  ).toBe(true);
  return sim.leader() as string;
}

/**
 * Like the 6.824 `one()`: submit `command` to whoever leads (retrying across elections) until at
 * least `expected` nodes applied it, within `timeout` virtual ms; returns its index.
 */
export function one(sim: Simulation, command: unknown, expected: number, timeout = 10_000): number {
  const deadline = sim.now() + timeout;
  while (sim.now() < deadline) {
    const leader = sim.leader();
    const submitted = leader !== undefined ? sim.propose(leader, command) : undefined;
    if (submitted?.isLeader) {
      const applied = sim.runUntil(
        () => {
          const { count, command: got } = sim.nCommitted(submitted.index);
          return count >= expected && JSON.stringify(got) === JSON.stringify(command);
        },
        { timeout: 2000 },
      );
      if (applied) return submitted.index;
    } else {
      sim.run(50);
    }
  }
  throw new Error(`one(${JSON.stringify(command)}) was not applied by ${expected} nodes within ${timeout} ms`);
}

/** Node ids other than `id`. */
export function others(sim: Simulation, ...ids: string[]): string[] {
  return sim.ids.filter((x) => !ids.includes(x));
}

/**
 * The 6.824 "Figure 8 with crashes" workload: every round, every running node is asked to append;
 * then a short (or now and then a long) pause, then the leader crashes; crashed nodes come back
 * while fewer than three run. Ends with all nodes running and one command committed by all.
 */
export function figure8Crashes(sim: Simulation, rounds: number): void {
  awaitLeader(sim);
  one(sim, 'start', 1);
  let up = sim.ids.length;
  for (let i = 0; i < rounds; i++) {
    let leader: string | undefined;
    for (const id of sim.ids) if (sim.isRunning(id) && sim.propose(id, `r${i}`).isLeader) leader = id;
    sim.run(sim.random.chance(0.1) ? sim.random.int(0, 500) : sim.random.int(0, 13));
    if (leader !== undefined) {
      sim.crash(leader);
      up--;
    }
    if (up < 3) {
      const s = sim.random.pick(sim.ids);
      if (!sim.isRunning(s)) {
        sim.restart(s);
        up++;
      }
    }
  }
  for (const id of sim.ids) if (!sim.isRunning(id)) sim.restart(id);
  one(sim, 'end', sim.ids.length, 20_000);
}

/** Make `id` stand for election now (as if its timer fired) until it leads; false after 10 tries. */
export function tryElect(sim: Simulation, id: string): boolean {
  for (let attempt = 0; attempt < 10; attempt++) {
    sim.node(id)?.actor.send({ type: 'timeout.election' });
    sim.run(20);
    if (sim.status(id)?.role === 'leader') return true;
  }
  return false;
}

export function elect(sim: Simulation, id: string): void {
  if (!tryElect(sim, id)) throw new Error(`${id} could not win an election`);
}

/**
 * Figure 8 of the Raft paper, step by step, on five nodes. If the leader of term 3 commits an
 * entry of term 1 because a majority holds it (the broken rule), the node elected next lacks a
 * committed entry and the checker reports a violation. With the real rules it cannot happen.
 */
export function figure8Scenario(sim: Simulation): void {
  const [s1, s2, s3, s4, s5] = sim.ids as [string, string, string, string, string];
  elect(sim, s1);
  one(sim, 'base', 5);
  // (a) s1 replicates X to s2 only.
  for (const id of [s3, s4, s5]) sim.crash(id);
  const x = sim.propose(s1, 'X');
  expect(x.isLeader).toBe(true);
  sim.run(30);
  sim.crash(s1);
  sim.crash(s2);
  // (b) s5 leads the next term with votes from s3 and s4 and appends Y, which it keeps to itself.
  for (const id of [s3, s4, s5]) sim.restart(id);
  elect(sim, s5);
  for (const id of sim.ids) sim.network.block(s5, id);
  sim.propose(s5, 'Y');
  sim.run(20);
  sim.crash(s5);
  for (const id of sim.ids) sim.network.unblock(s5, id);
  // (c) s1 comes back, leads a later term, and copies X to s3 and s4: now a majority holds X.
  // (With the real rules s5's no-op of term 2 reached s3 and s4, so s1 cannot win here.)
  sim.restart(s1);
  sim.restart(s2);
  tryElect(sim, s1);
  sim.run(60);
  // (d) s1 crashes; s5, whose last term is higher than X's, asks for votes. With the broken
  // rule it wins without X, which was committed: the checker reports leader completeness.
  sim.crash(s1);
  sim.restart(s5);
  tryElect(sim, s5);
  sim.restart(s1);
  one(sim, 'after', 5);
}

/**
 * Await `promise` while the simulation runs, 5 virtual ms at a time with a turn of the event loop
 * between (so the clients' continuations run); throws when it has not settled within `limitMs` of
 * virtual time (default 20 s), instead of waiting for ever.
 */
export async function drive<T>(sim: Simulation, promise: Promise<T>, limitMs = 20_000): Promise<T> {
  let done = false;
  void promise.finally(() => (done = true)).catch(() => undefined);
  for (let waited = 0; waited < limitMs && !done; waited += 5) {
    sim.run(5);
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (!done) throw new Error(`did not settle within ${limitMs} ms of virtual time`);
  return promise;
}
