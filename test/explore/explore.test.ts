/**
 * Every schedule of a three-node cluster of the real machine, to a bounded depth (explore.ts):
 * election safety, log matching, leader completeness, state machine safety, no stale read and every
 * per-node invariant hold in every state reached. `npm run test:explore` prints the explored line
 * of each scope; EXPLORE_DEPTH=n explores the first scope deeper (CI: 12), and EXPLORE_BOUNDS (JSON,
 * e.g. '{"maxInFlight":4}') widens its bounds (explore.ts, DEFAULT_BOUNDS).
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_BOUNDS, describeBounds, explore, exploredLine, type Bounds, type ExploreOptions } from './explore.js';
import { describeViolation } from './replay.js';
import { FIGURE_8_SCOPE } from './starts.js';

const depth = Number(process.env.EXPLORE_DEPTH ?? 12);
if (!Number.isInteger(depth) || depth < 1) throw new RangeError(`EXPLORE_DEPTH must be a positive integer, got ${process.env.EXPLORE_DEPTH}`);
const bounds: Partial<Bounds> = JSON.parse(process.env.EXPLORE_BOUNDS ?? '{}');
for (const [key, value] of Object.entries(bounds)) {
  if (!(key in DEFAULT_BOUNDS) || !Number.isInteger(value) || value < 0)
    throw new RangeError(`EXPLORE_BOUNDS: ${key} must be one of ${Object.keys(DEFAULT_BOUNDS).join(', ')}, a whole number`);
}

const SCOPES: readonly { name: string; options: ExploreOptions }[] = [
  {
    name: 'from empty disks, pre-vote and check-quorum on (the defaults)',
    options: { depth, bounds },
  },
  {
    name: 'from Figure 8 at (b): n1 and n3 each hold an entry of their own term that reached no one; pre-vote and check-quorum off',
    options: { ...FIGURE_8_SCOPE, depth: 8 },
  },
];

describe('exhaustive exploration of a three-node cluster', { timeout: 3_600_000 }, () => {
  for (const { name, options } of SCOPES) {
    it(`breaks no rule in any schedule ${name}`, () => {
      const result = explore(options);
      if (process.env.EXPLORE_REPORT === '1') console.log(`${name}\n${describeBounds(options.bounds)}\n${exploredLine(result)}`);
      expect(result.violation, describeViolation(result)).toBeUndefined();
      expect(result.depth).toBe(options.depth);
    });
  }
});
