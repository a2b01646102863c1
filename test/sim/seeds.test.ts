/**
 * A batch of seeded random runs (nemesis: partitions, one-way cuts, crashes, a lossy, duplicating,
 * reordering network that now and then holds messages back past an election timeout), with KV
 * clients reading (ReadIndex, at the leader and forwarded), writing, deleting and
 * compare-and-setting throughout. Every run checks safety after every step, must converge once
 * healed, and its clients' whole history must be linearizable. CI runs a few hundred seeds;
 * `npm run sim:soak` runs thousands (SIM_SEEDS, SIM_DURATION_MS).
 */
import { describe, expect, it } from 'vitest';
import { ALL_FAULTS, randomRun } from '../../src/sim/random-run.js';

const seeds = Number(process.env.SIM_SEEDS ?? 200);
const duration = Number(process.env.SIM_DURATION_MS ?? 5000);

describe(`random runs: ${seeds} seeds`, () => {
  for (const nodes of [3, 5]) {
    it(`${nodes} nodes with all faults: no violation, the healed cluster converges, and what clients saw is linearizable`, async () => {
      const failures: string[] = [];
      const checked = { reads: 0, writes: 0, cas: 0 };
      for (let seed = 1; seed <= seeds; seed++) {
        const result = await randomRun({ seed, nodes, duration, faults: ALL_FAULTS });
        if (!result.ok) failures.push(`${result.failure?.rule}: ${result.failure?.detail}\n  replay: ${result.replay}`);
        checked.reads += result.operations.reads;
        checked.writes += result.operations.writes;
        checked.cas += result.operations.cas;
      }
      expect(failures).toEqual([]);
      // Every seed checks a real history: reads, writes and compare-and-sets.
      expect(checked.reads).toBeGreaterThan(seeds * 20);
      expect(checked.writes).toBeGreaterThan(seeds * 20);
      expect(checked.cas).toBeGreaterThan(seeds * 5);
    }, 600_000);
  }
});
