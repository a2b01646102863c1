/**
 * The README is tested: every code block marked runnable is executed here, exactly as printed.
 *
 * Convention (also in the README's "Tests and benchmarks" section): a fenced block whose info
 * string is ```` ```ts run ```` or ```` ```sh run ```` runs; any other block is only shown. Lines
 * may state what they print (`console.log(x); // → text`, `curl … # → {json}`) and that is
 * checked too (see ./blocks.ts).
 *
 * - TypeScript blocks run against the **built package** (dist/; rebuilt with `npm run build`
 *   first when it is missing or older than a source file). Each block is one file of a scratch
 *   project under the OS temp dir whose node_modules/xstate-raft is a symlink to this repository
 *   (./scratch.ts). All blocks are type-checked by `tsc` against dist's .d.ts under a user's
 *   strict NodeNext config (libraries' .d.ts included), compiled to ESM and run with plain
 *   `node --conditions=development` (XState's development build, which prints its warnings).
 *   A block fails if it does not type-check, exits non-zero, writes anything to stderr, prints
 *   other than it says, or has not exited within 60 s.
 * - Shell blocks run against a fresh 3-node cluster of `xstate-raft node` processes (the built
 *   CLI) that this test starts on ports chosen at run time and waits for until it has elected a
 *   leader. Ports: every `127.0.0.1:700N` in the block's text is replaced by the address of node
 *   nN before it runs — that one substitution, nothing else. Each line runs with `bash -c` in
 *   the scratch project (so `npx xstate-raft` is the built bin) and must exit 0 within 60 s.
 *   Every process is stopped at the end of the block, also when it fails.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runnableBlocks, shellCommands } from './blocks.js';
import { ensureBuilt, linkedProject, ROOT, run, startCluster, withClusterAddresses } from './scratch.js';
import { EXAMPLE_TIMEOUT, title, tsBlockTests } from './ts-blocks.js';

/** README_UNDER_TEST=path runs another copy (to see that a broken example fails this test). */
const README = readFileSync(process.env.README_UNDER_TEST ?? join(ROOT, 'README.md'), 'utf8');
const blocks = runnableBlocks(README);
const tsBlocks = blocks.filter((b) => b.lang === 'ts');
const shBlocks = blocks.filter((b) => b.lang === 'sh');

describe('README examples', () => {
  const suite = tsBlockTests(tsBlocks, {
    makeProject: async () => {
      await ensureBuilt();
      return linkedProject();
    },
    nodeArgs: ['--conditions=development'],
  });

  it('marks the examples a newcomer runs first as runnable', () => {
    const headings = new Set(blocks.map((b) => b.heading));
    for (const h of [
      'A node of your own',
      "The seed's class",
      'The key-value client',
      "Embedding the machine in your agent's machine",
      'A simulation',
      'A cluster of processes (HTTP, SQLite)',
    ]) {
      expect(headings, `a runnable block under "${h}"`).toContain(h);
    }
    // Only errors in the blocks themselves are attributed to them; anything else fails here.
    expect(suite.elsewhere().join('\n')).toBe('');
  });

  for (const block of shBlocks) {
    it(
      `${title(block)}: runs against a cluster started on run-time ports`,
      async () => {
        const project = suite.project();
        const cluster = await startCluster(project.dir, block.line);
        try {
          const code = withClusterAddresses(block.code, cluster);
          for (const { command, expected } of shellCommands(code)) {
            const result = await run('bash', ['-c', command], { cwd: project.dir, timeoutMs: EXAMPLE_TIMEOUT, env: project.env });
            const shown = `$ ${command}\nexit ${result.code ?? result.signal}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}\n--- nodes\n${cluster.dump()}`;
            expect(result.timedOut, `did not exit within ${EXAMPLE_TIMEOUT / 1000} s\n${shown}`).toBe(false);
            expect(result.code, shown).toBe(0);
            if (expected !== undefined) expect(JSON.parse(result.stdout), shown).toEqual(expected);
          }
        } finally {
          await cluster.stop();
        }
      },
      4 * EXAMPLE_TIMEOUT,
    );
  }
});
