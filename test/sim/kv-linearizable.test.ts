/**
 * KV histories under faults, checked linearizable. Several clients run get / put / delete / cas
 * on a few keys through any node while the nemesis partitions and heals the cluster and crashes
 * nodes; every invocation and response is recorded (with a logical clock, so "before" is exact),
 * operations that timed out are recorded as indeterminate, and the whole history must be
 * linearizable (Wing–Gong / Porcupine search, per key).
 */
import { describe, expect, it } from 'vitest';
import { describeEntry, checkLinearizable, type HistoryEntry, type KvOp } from '../../src/sim/linearizability.js';
import { KvClient, type KvCluster, type KvNode } from '../../src/kv/client.js';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import { Simulation } from '../../src/sim/simulation.js';

async function run(seed: number, faults: boolean): Promise<{ history: HistoryEntry[]; completed: number }> {
  const sim = new Simulation({ nodes: 5, seed, stateMachine: () => new KvStateMachine() });
  const cluster: KvCluster = { ids: sim.ids, node: (id) => sim.node(id) as unknown as KvNode | undefined };
  const history: HistoryEntry[] = [];
  let tick = 0;
  let running = true;
  let completed = 0;
  const keys = ['a', 'b', 'c'];

  const clientLoop = async (c: number) => {
    const client = new KvClient(cluster, { clientId: `client-${c}`, clock: sim.clock, timeout: 1500, retryDelay: 30 });
    for (let i = 0; running; i++) {
      const key = sim.random.pick(keys);
      const roll = sim.random.next();
      const value = `${c}.${i}`;
      const from = `${sim.random.int(0, 3)}.${sim.random.int(0, i)}`;
      const op: KvOp = roll < 0.4 ? { type: 'get', key } : roll < 0.7 ? { type: 'put', key, value } : roll < 0.8 ? { type: 'delete', key } : { type: 'cas', key, from, to: value };
      const call = ++tick;
      try {
        const output =
          op.type === 'get'
            ? await client.get(key)
            : op.type === 'put'
              ? await client.put(key, value)
              : op.type === 'delete'
                ? await client.delete(key)
                : await client.cas(key, from, value);
        history.push({ clientId: `c${c}`, op, call, return: ++tick, output } as HistoryEntry);
        completed++;
      } catch {
        // Timed out: a write may or may not have happened — record it as indeterminate.
        // A read that failed had no effect and is left out.
        if (op.type !== 'get') history.push({ clientId: `c${c}`, op, call } as HistoryEntry);
      }
    }
  };

  const clients = Array.from({ length: 4 }, (_, c) => clientLoop(c));
  for (let t = 0; t < 6000; t += 10) {
    if (faults && t % 500 === 0 && t > 0) {
      const roll = sim.random.next();
      if (roll < 0.4) {
        const shuffled = sim.random.shuffle(sim.ids);
        sim.partition([shuffled.slice(0, 2), shuffled.slice(2)]);
      } else if (roll < 0.6) {
        const victim = sim.random.pick(sim.ids);
        sim.crash(victim);
        sim.run(100);
        sim.restart(victim);
      } else {
        sim.heal();
      }
    }
    sim.run(10);
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  }
  sim.heal();
  running = false;
  for (let t = 0; t < 3000; t += 10) {
    sim.run(10);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(clients);
  sim.stop();
  return { history, completed };
}

describe('KV histories', () => {
  it('are linearizable with a healthy cluster', async () => {
    const { history, completed } = await run(61, false);
    expect(completed).toBeGreaterThan(100);
    const result = checkLinearizable(history);
    expect(result.ok, result.counterexample ? JSON.stringify(result.counterexample).slice(0, 2000) : '').toBe(true);
  }, 120_000);

  it('are linearizable under partitions and crashes, with indeterminate writes', async () => {
    for (const seed of [62, 63, 64]) {
      const { history, completed } = await run(seed, true);
      expect(completed).toBeGreaterThan(50);
      const result = checkLinearizable(history);
      const detail = result.counterexample ? `${JSON.stringify(result.counterexample).slice(0, 3000)}` : '';
      expect(result.timedOut ?? false).toBe(false);
      expect(result.ok, `seed ${seed}: ${detail}`).toBe(true);
    }
  }, 120_000);

  it('the checker rejects a history with a stale read (so the test above can fail)', () => {
    const history: HistoryEntry[] = [
      { clientId: 'c1', op: { type: 'put', key: 'a', value: 1 }, call: 1, return: 2, output: { ok: true } },
      { clientId: 'c2', op: { type: 'put', key: 'a', value: 2 }, call: 3, return: 4, output: { ok: true } },
      { clientId: 'c3', op: { type: 'get', key: 'a' }, call: 5, return: 6, output: { found: true, value: 1 } },
    ];
    const result = checkLinearizable(history);
    expect(result.ok).toBe(false);
    expect(describeEntry(history[2] as HistoryEntry)).toContain('get');
  });
});
