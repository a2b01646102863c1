import { describe, expect, it } from 'vitest';
import { awaitLeader, cluster, one, others } from './harness.js';

describe('log agreement', () => {
  it('agrees on consecutive indexes', () => {
    const sim = cluster(3, 11);
    awaitLeader(sim);
    let previous = 0;
    for (let i = 0; i < 5; i++) {
      const index = one(sim, `cmd-${i}`, 3);
      expect(index).toBeGreaterThan(previous);
      previous = index;
    }
  });

  it('agrees with one follower down, and commits nothing without a majority', () => {
    const sim = cluster(3, 12);
    const leader = awaitLeader(sim);
    one(sim, 'a', 3);
    const [down] = others(sim, leader);
    sim.disconnect(down as string);
    one(sim, 'b', 2);
    one(sim, 'c', 2);

    // Now take the second follower away too: a proposal must not commit.
    const current = sim.leader() as string;
    const [second] = others(sim, current, down as string);
    sim.disconnect(second as string);
    const { index, isLeader } = sim.propose(current, 'no-majority');
    expect(isLeader).toBe(true);
    sim.run(2000);
    expect(sim.nCommitted(index).count).toBe(0);

    // Heal: the cluster recovers and agrees again (the lonely entry may or may not survive).
    sim.connect(down as string);
    sim.connect(second as string);
    one(sim, 'after-heal', 3);
  });

  it('sends each entry to each follower about once: bytesSent grows by ~followers × entry size', () => {
    const sim = cluster(3, 16);
    const leader = awaitLeader(sim);
    one(sim, 'warm-up', 3);
    const before = sim.bytesSent();
    const big = 'x'.repeat(10_000);
    one(sim, big, 3);
    const sent = sim.bytesSent() - before;
    expect(sent).toBeGreaterThanOrEqual(2 * 10_000); // to both followers…
    expect(sent).toBeLessThan(3 * 10_000); // …and not again with every heartbeat
    expect(sim.status(leader)?.role).toBe('leader');
  });

  it('commits concurrent proposals exactly once each', () => {
    const sim = cluster(3, 13);
    const leader = awaitLeader(sim);
    const submitted = Array.from({ length: 20 }, (_, i) => sim.propose(leader, `c${i}`));
    expect(submitted.every((s) => s.isLeader)).toBe(true);
    sim.run(1000);
    const applied = sim.applied(leader).map((a) => a.command);
    for (let i = 0; i < 20; i++) expect(applied.filter((c) => c === `c${i}`)).toHaveLength(1);
    for (const s of submitted) expect(sim.nCommitted(s.index).count).toBe(3);
  });

  it("overwrites a deposed leader's uncommitted tail when it rejoins", () => {
    const sim = cluster(3, 14);
    const old = awaitLeader(sim);
    one(sim, 'committed', 3);
    sim.disconnect(old);
    for (let i = 0; i < 3; i++) sim.propose(old, `lost-${i}`);
    const next = awaitLeader(sim);
    expect(next).not.toBe(old);
    one(sim, 'new-era', 2);
    sim.connect(old);
    one(sim, 'everyone', 3);
    const log = sim.applied(old).map((a) => a.command);
    expect(log).toContain('new-era');
    expect(log.some((c) => typeof c === 'string' && c.startsWith('lost-'))).toBe(false);
  });

  it('backs up quickly over long divergent logs (5 nodes, 50-entry tails)', () => {
    const sim = cluster(5, 15);
    awaitLeader(sim);
    one(sim, 'base', 5);
    // Leader with two followers in a minority accumulates 50 uncommitted entries.
    const leader1 = sim.leader() as string;
    const minority = [leader1, ...others(sim, leader1).slice(0, 1)];
    const majority = others(sim, ...minority);
    sim.partition([minority, majority]);
    for (let i = 0; i < 50; i++) sim.propose(leader1, `minority-${i}`);
    sim.run(500);
    // The majority elects a leader (the old one still leads its minority until check-quorum
    // deposes it) and commits 50 entries of its own.
    expect(sim.runUntil(() => majority.some((id) => sim.status(id)?.role === 'leader'), { timeout: 5000 })).toBe(true);
    const leader2 = majority.find((id) => sim.status(id)?.role === 'leader') as string;
    for (let i = 0; i < 50; i++) sim.propose(leader2, `majority-${i}`);
    sim.run(1000);
    // Now swap: the old minority plus one of the majority, with a fresh leader, diverges again.
    sim.heal();
    const started = sim.now();
    one(sim, 'converged', 5, 5000);
    expect(sim.now() - started).toBeLessThan(5000);
    const reference = JSON.stringify(sim.applied(sim.leader() as string));
    for (const id of sim.ids) expect(JSON.stringify(sim.applied(id))).toBe(reference);
  });
});
