/**
 * Churn (after 6.824's TestReliableChurn / TestUnreliableChurn): clients keep proposing while
 * nodes are disconnected, crashed and restarted at random. Every command a client saw committed
 * must be in the final log, in one place, on every node.
 */
import { describe, expect, it } from 'vitest';
import { cluster, one } from './harness.js';

function churn(seed: number, unreliable: boolean, minAcknowledged: number): void {
  const sim = cluster(5, seed, unreliable ? { network: { drop: 0.1, duplicate: 0.05, delay: [1, 20], reorder: 0.1, longReorder: 0.01 } } : {});
  const acknowledged = new Map<string, number>(); // command → index a client saw committed
  const clients = 3;
  const pending: { command: string; index: number; term: number }[] = [];
  for (let round = 0; round < 200; round++) {
    // Clients: each proposes through whoever leads now, like Start().
    for (let c = 0; c < clients; c++) {
      const leader = sim.leader();
      if (leader === undefined) continue;
      const command = `c${c}-${round}`;
      const r = sim.propose(leader, command);
      if (r.isLeader) pending.push({ command, index: r.index, term: r.term });
    }
    // Nemesis.
    const victim = sim.random.pick(sim.ids);
    const roll = sim.random.next();
    if (roll < 0.1) sim.disconnect(victim);
    else if (roll < 0.2) sim.connect(victim);
    else if (roll < 0.25 && sim.isRunning(victim)) sim.crash(victim);
    else if (roll < 0.35 && !sim.isRunning(victim)) sim.restart(victim);
    sim.run(sim.random.int(10, 100));
    // A command is acknowledged once some node applied it at its index.
    for (let i = pending.length - 1; i >= 0; i--) {
      const p = pending[i] as { command: string; index: number };
      const { count, command } = sim.nCommitted(p.index);
      if (count > 0) {
        if (command === p.command) acknowledged.set(p.command, p.index);
        pending.splice(i, 1);
      }
    }
  }
  sim.heal();
  sim.setNetwork({ drop: 0, duplicate: 0, reorder: 0, longReorder: 0, delay: [1, 5] });
  for (const id of sim.ids) if (!sim.isRunning(id)) sim.restart(id);
  const last = one(sim, 'final', 5, 20_000);
  expect(acknowledged.size).toBeGreaterThanOrEqual(minAcknowledged);
  for (const id of sim.ids) {
    const applied = new Map(sim.applied(id).map((a) => [a.index, a.command]));
    for (const [command, index] of acknowledged) expect(applied.get(index), `${id} index ${index}`).toBe(command);
    expect(Math.max(...applied.keys())).toBe(last);
  }
}

describe('churn', () => {
  it('keeps every acknowledged command through reliable churn with concurrent clients', () => churn(51, false, 50));
  it('keeps every acknowledged command through unreliable churn with concurrent clients', () => churn(52, true, 10));
});
