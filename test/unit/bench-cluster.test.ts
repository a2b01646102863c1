/**
 * The side-by-side benchmark (test/bench/cluster.ts, `npm run bench:cluster`) keeps running on a
 * machine without etcd: --quick --no-etcd starts three node processes, measures every figure once
 * and prints the table with a row for each, then exits 0 having stopped what it started. Only the
 * table's shape is checked, never the figures: they are wall-clock times.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBenchScript } from './bench-script.js';

// The nodes run the built CLI, as a user's do; npm test has built it already (--no-build), a bare
// vitest run builds it first.
const built = existsSync(join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'main.js'));
// Past the test's timeout the script must not linger (its processes exit with it).
const runQuick = () => runBenchScript('cluster.ts', ['--quick', '--no-etcd', ...(built ? ['--no-build'] : [])], 170_000);

const FIGURE = String.raw`[\d,]+(?:\.\d+)?(?: ms)?(?: \(\d+–\d+\))?`;

describe('the cluster benchmark', () => {
  it("--quick --no-etcd prints the ceilings and a table row for every figure, etcd's column empty, and exits 0", { timeout: 180_000 }, async () => {
    const { code, stdout, stderr } = await runQuick();
    expect(code, `stderr:\n${stderr}\nstdout:\n${stdout}`).toBe(0);
    expect(stdout).toMatch(/no etcd on PATH \(or --no-etcd\): xstate-raft alone/);
    expect(stdout).toMatch(/^xstate-raft's CLI: built \(node dist\/src\/cli\/main\.js\)$/m);
    expect(stdout).toMatch(/^ceilings: bare node:http keep-alive server — 1 in flight [\d,]+ req\/s .* write 100 B \+ fdatasync [\d,]+\/s/m);
    for (const label of [
      '1 write in flight, writes/s',
      '1 write in flight, p50',
      '64 writes in flight, writes/s',
      '64 writes in flight, p99',
      '64 linearizable reads in flight, reads/s',
      String.raw`failover after kill -9, same timeouts \(1000–2000 / 100 ms\), median \(min–max\)`,
      String.raw`failover after kill -9, each with its defaults \(150–300 / 50 ms; etcd 1000 / 100 ms\)`,
    ]) {
      expect(stdout).toMatch(new RegExp(String.raw`^\| ${label} \| ${FIGURE} \| – \| – \|$`, 'm'));
    }
    expect(stdout).toMatch(/^\| elections during \d+ s of load \| \d+ \| – \| {2}\|$/m);
    expect(stdout).toMatch(/^xstate-raft: linearizable reads \d+\.\d× its writes at 64 in flight/m);
  });
});
