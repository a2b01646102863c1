/**
 * The README's TypeScript blocks as tests, in one scratch project: every block is one file, all
 * are type-checked by one `tsc` run (a user's strict NodeNext config, libraries' .d.ts checked),
 * compiled to ESM and run with `node`. A block fails if it does not type-check, exits non-zero,
 * writes anything to stderr, prints other than its `// →` lines say, or has not exited in 60 s.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { expectedOutputLines, inOrder, type ReadmeBlock } from './blocks.js';
import { killStragglers, needsCluster, run, startCluster, TSC, withClusterAddresses, type ReadmeCluster, type ScratchProject } from './scratch.js';

export const EXAMPLE_TIMEOUT = 60_000;

export const fileOf = (block: ReadmeBlock): string => `block-L${block.line}.ts`;
export const title = (block: ReadmeBlock): string => `README line ${block.line} (${block.heading})`;

export interface TsBlockSuite {
  /** The scratch project, once beforeAll has made it. */
  project(): ScratchProject;
  /** tsc's diagnostics that name no block (a broken .d.ts, a missing module): must be none. */
  elsewhere(): string[];
}

/**
 * Registers beforeAll (make the project, compile every block), one `it` per block, and the
 * cleanup. Call inside a `describe`.
 */
export function tsBlockTests(blocks: readonly ReadmeBlock[], options: { makeProject: () => Promise<ScratchProject>; nodeArgs: readonly string[] }): TsBlockSuite {
  let project: ScratchProject | undefined;
  /** tsc's diagnostics, by file name. */
  const diagnostics = new Map<string, string[]>();

  beforeAll(async () => {
    project = await options.makeProject();
    for (const block of blocks) writeFileSync(join(project.dir, fileOf(block)), block.code);
    // One compile for every block (a type error in one still emits the others).
    const tsc = await run(process.execPath, [TSC, '-p', 'tsconfig.json', '--pretty', 'false', '--noEmitOnError', 'false'], { cwd: project.dir, timeoutMs: 120_000 });
    if (tsc.timedOut) throw new Error('tsc on the README blocks did not finish within 120 s');
    for (const line of tsc.stdout.split('\n').filter((l) => l.trim() !== '')) {
      const file = /^([^(]+)\(/.exec(line)?.[1] ?? '(project)';
      diagnostics.set(file, [...(diagnostics.get(file) ?? []), line]);
    }
  }, 240_000);

  afterEach(() => killStragglers());
  afterAll(() => {
    killStragglers();
    project?.remove();
  });

  for (const block of blocks) {
    it(
      `${title(block)}: type-checks and runs with plain Node`,
      async () => {
        const dir = (project as ScratchProject).dir;
        expect((diagnostics.get(fileOf(block)) ?? []).join('\n'), 'tsc').toBe('');
        let js = join('out', fileOf(block).replace(/\.ts$/, '.js'));
        // A block that names the README's cluster (127.0.0.1:700N) runs against three fresh nodes.
        let cluster: ReadmeCluster | undefined;
        if (needsCluster(block.code)) {
          cluster = await startCluster(dir, block.line);
          const compiled = readFileSync(join(dir, js), 'utf8');
          js = js.replace(/\.js$/, '.cluster.js');
          writeFileSync(join(dir, js), withClusterAddresses(compiled, cluster));
        }
        const result = await run(process.execPath, [...options.nodeArgs, js], { cwd: dir, timeoutMs: EXAMPLE_TIMEOUT, env: (project as ScratchProject).env }).finally(() =>
          cluster?.stop(),
        );
        const shown = `exit ${result.code ?? result.signal}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}${cluster ? `\n--- nodes\n${cluster.dump()}` : ''}`;
        expect(result.timedOut, `did not exit within ${EXAMPLE_TIMEOUT / 1000} s\n${shown}`).toBe(false);
        expect(result.code, shown).toBe(0);
        expect(result.stderr, shown).toBe('');
        const order = inOrder(result.stdout, expectedOutputLines(block.code));
        expect(order.ok ? '' : `expected a line "${order.missing}"`, shown).toBe('');
      },
      EXAMPLE_TIMEOUT + 60_000,
    );
  }

  return {
    project: () => {
      if (project === undefined) throw new Error('the scratch project is made in beforeAll');
      return project;
    },
    elsewhere: () => [...diagnostics].filter(([file]) => !file.startsWith('block-L')).flatMap(([, lines]) => lines),
  };
}
