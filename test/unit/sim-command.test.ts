/**
 * `xstate-raft sim` reports a batch in one line: seeds passed, safety and linearizability
 * violations, the operations checked by kind, and the simulator's speed. Tools read this line.
 */
import { describe, expect, it } from 'vitest';
import { runSimCommand } from '../../src/cli/sim.js';

describe('xstate-raft sim output', () => {
  it('prints the batch line with violations by kind and the operations checked', async () => {
    const lines: string[] = [];
    const code = await runSimCommand({ seed: 3, seeds: 2, nodes: 3, duration: 2000, faults: ['partition', 'crash', 'network'] }, (line) => lines.push(line));
    expect(code).toBe(0);
    const last = lines.at(-1) as string;
    expect(last).toMatch(
      /^2\/2 seeds passed; 0 safety violations, 0 linearizability violations; operations checked: (\d+) reads \/ (\d+) writes \/ (\d+) cas \(\d+ of unknown outcome\); snapshots: \d+ taken, \d+ installed; 3 nodes, faults partition,crash,network; \d+ virtual s in [\d.]+ wall s \([\d.]+ virtual s per wall s\)$/,
    );
    const [, reads, writes, cas] = /(\d+) reads \/ (\d+) writes \/ (\d+) cas/.exec(last) as RegExpExecArray;
    expect(Number(reads)).toBeGreaterThan(0);
    expect(Number(writes)).toBeGreaterThan(0);
    expect(Number(cas)).toBeGreaterThan(0);
  }, 120_000);

  it('one seed prints what it checked', async () => {
    const lines: string[] = [];
    await runSimCommand({ seed: 5, seeds: 1, nodes: 3, duration: 1000, faults: [] }, (line) => lines.push(line));
    expect(lines[0]).toMatch(/^seed 5: ok — \d+ reads, \d+ writes, \d+ cas checked linearizable/);
  }, 120_000);

  it('replaying a seed gives the same run, operation for operation', async () => {
    const run = async () => {
      const lines: string[] = [];
      await runSimCommand({ seed: 11, seeds: 1, nodes: 5, duration: 3000, faults: ['partition', 'crash', 'network'] }, (line) => lines.push(line));
      return lines[0]?.replace(/, [\d.]+ s virtual$/, '');
    };
    expect(await run()).toBe(await run());
  }, 120_000);
});
