/**
 * The safety checker must catch a broken rule. Each mutant (RULE_MUTANTS, test/model/mutants.ts,
 * which the exploration catches too) is built from the real machine with
 * `raftNodeMachine.provide(...)` (the real code is untouched) and run through seeded random
 * simulations; the test passes only if some seed reports a violation of the expected kind.
 */
import { describe, expect, it } from 'vitest';
import type { RaftNodeMachine } from '../../machines/raft-node.js';
import { ALL_FAULTS, randomRun } from '../../src/sim/random-run.js';
import { SafetyViolation } from '../../src/sim/safety.js';
import { Simulation } from '../../src/sim/simulation.js';
import { RULE_MUTANTS } from '../model/mutants.js';
import { figure8Scenario } from './harness.js';

async function firstViolation(machine: RaftNodeMachine, seeds: number, nodes = 5, duration = 10_000) {
  for (let seed = 1; seed <= seeds; seed++) {
    const result = await randomRun({ seed, nodes, duration, faults: ALL_FAULTS, machine });
    if (!result.ok && result.failure?.rule !== 'liveness') return result;
  }
  return undefined;
}

describe('the safety checker catches broken rules (mutants)', { timeout: 120_000 }, () => {
  it('catches granting a second vote in a term', async () => {
    const found = await firstViolation(RULE_MUTANTS['grants a second vote in a term'], 50);
    expect(found, 'a seed that breaks election safety').toBeDefined();
    expect(found?.failure?.rule).toMatch(/one vote per term|leader per term|log matching|state machine safety|leader completeness/);
    expect(found?.replay).toMatch(/^npx xstate-raft sim --seed \d+/);
  });

  it('catches committing by counting replicas of an older-term entry (Figure 8)', () => {
    // Without the new leader's no-op, the only way to commit old entries is the broken rule.
    const mutant = RULE_MUTANTS['commits an entry of an earlier term by counting replicas'];
    // The scenario's steps are timed for 50 ms heartbeats and 150–300 ms election timeouts.
    const timing = { electionTimeout: [150, 300] as const, heartbeatInterval: 50 };
    expect(() => figure8Scenario(new Simulation({ nodes: 5, seed: 1, machine: mutant, ...timing }))).toThrow(SafetyViolation);
    // The real machine survives the same schedule.
    figure8Scenario(new Simulation({ nodes: 5, seed: 1, ...timing }));
  });

  it('catches accepting entries without the log matching check', async () => {
    const found = await firstViolation(RULE_MUTANTS['accepts entries without the log matching check'], 50);
    expect(found, 'a seed that breaks log matching').toBeDefined();
  });

  it('catches voting for a candidate whose log is behind', async () => {
    // Pre-vote checks the log too and would keep a stale candidate from campaigning at all: it is broken with the vote.
    const found = await firstViolation(RULE_MUTANTS['votes for a candidate whose log is behind'], 100);
    expect(found, 'a seed that loses a committed entry').toBeDefined();
    expect(found?.failure?.rule).toMatch(/leader completeness|state machine safety|log matching/);
  });

  it("catches a leader that takes a reply to another term's request for an answer to its own (issue 8, hole 1), within the CI batch of seeds", async () => {
    // The reply's term equals ours, but it answers an AppendEntries of an earlier leadership of ours.
    const mutant = RULE_MUTANTS["takes a reply to another term's request for an answer to its own"];
    // The seeds of the CI batch (test/sim/seeds.test.ts: 3 nodes, 5 s each); the real machine passes them all.
    const found = await firstViolation(mutant, 200, 3, 5000);
    expect(found, 'a seed that catches the mutant').toBeDefined();
    expect(found?.failure?.kind).toMatch(/safety|linearizability/);
    expect(found?.replay).toMatch(/^npx xstate-raft sim --seed \d+ --nodes 3/);
  });

  it("catches a leader that serves reads without confirming it still leads (stale reads), by the clients' history alone", async () => {
    // Served at once at the commit index, skipping the ReadIndex heartbeat round.
    const found = await firstViolation(RULE_MUTANTS['serves reads without confirming it still leads'], 200, 3, 5000);
    expect(found, 'a seed whose history is not linearizable').toBeDefined();
    expect(found?.failure?.kind).toBe('linearizability');
    expect(found?.failure?.detail).toMatch(/smallest counterexample/);
  });
});
