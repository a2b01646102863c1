/**
 * A batch of seeded random runs (nemesis: partitions, crashes, a lossy, duplicating, reordering
 * network). Every run checks safety after every step and must converge once healed. CI runs a
 * few hundred seeds; `npm run sim:soak` runs thousands (SIM_SEEDS, SIM_DURATION_MS).
 */
import { describe, expect, it } from 'vitest';
import { ALL_FAULTS, randomRun } from '../../src/sim/random-run.js';

const seeds = Number(process.env.SIM_SEEDS ?? 200);
const duration = Number(process.env.SIM_DURATION_MS ?? 5000);

describe(`random runs: ${seeds} seeds`, () => {
  for (const nodes of [3, 5]) {
    it(`${nodes} nodes with all faults: no violation, and the healed cluster converges`, () => {
      const failures: string[] = [];
      for (let seed = 1; seed <= seeds; seed++) {
        const result = randomRun({ seed, nodes, duration, faults: ALL_FAULTS });
        if (!result.ok) failures.push(`${result.failure?.rule}: ${result.failure?.detail}\n  replay: ${result.replay}`);
      }
      expect(failures).toEqual([]);
    }, 300_000);
  }
});
