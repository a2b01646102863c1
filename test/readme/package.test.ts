/**
 * The package as a user installs it: the packed tarball (what `npm publish` would upload) is lean,
 * and the README's TypeScript examples type-check and run against it with plain Node ESM, under
 * the project's own xstate — the lowest 5.x the peer dependency claims and the newest we test.
 * (test/readme/readme.test.ts runs the same blocks against the repository itself, and the shell
 * blocks against a cluster.)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runnableBlocks } from './blocks.js';
import { ensureBuilt, packedProject, ROOT, type PackedProject, type XstateFlavour } from './scratch.js';
import { tsBlockTests } from './ts-blocks.js';

const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  peerDependencies?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
};
const tsBlocks = runnableBlocks(readFileSync(join(ROOT, 'README.md'), 'utf8')).filter((b) => b.lang === 'ts');

describe('the package.json a user installs', () => {
  it('has xstate as a peer dependency from 5.20, and runtime dependencies only of what dist imports', () => {
    expect(manifest.peerDependencies).toEqual({ xstate: '^5.20.0' });
    expect(manifest.devDependencies?.['xstate-5.20'], 'the lowest claimed xstate is installed for this test').toBe('npm:xstate@5.20.0');
    for (const tool of ['xstate', 'tsx', 'esbuild', '@xstate/graph', 'typescript', 'vitest']) expect(Object.keys(manifest.dependencies ?? {})).not.toContain(tool);
  });
});

for (const flavour of ['lowest', 'newest'] as XstateFlavour[]) {
  describe(`the packed tarball, in a project with the ${flavour} xstate`, () => {
    let packed: PackedProject | undefined;
    const suite = tsBlockTests(tsBlocks, {
      makeProject: async () => {
        await ensureBuilt();
        packed = await packedProject(flavour);
        return packed;
      },
      nodeArgs: [],
    });

    it('holds dist, the README and the licence, not the sources nor the screenshot; its xstate is the one asked for', () => {
      const files = (packed as PackedProject).files;
      expect(files).toContain('LICENSE');
      expect(files).toContain('README.md');
      expect(files).toContain('dist/src/index.js');
      expect(files).toContain('dist/src/index.d.ts');
      expect(files).toContain('dist/machines/raft-node.js');
      expect(files).toContain('dist/dashboard/app.js');
      expect(files).toContain('dist/src/cli/main.js');
      expect(files.filter((f) => !f.startsWith('dist/') && !['LICENSE', 'README.md', 'package.json'].includes(f))).toEqual([]);
      expect(files.filter((f) => /\.(map|png|tsbuildinfo)$/.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')))).toEqual([]);
      expect((packed as PackedProject).xstate).toMatch(flavour === 'lowest' ? /^5\.20\./ : /^5\./);
      expect(suite.elsewhere().join('\n'), 'tsc outside the blocks (the package .d.ts against this xstate)').toBe('');
    });
  });
}
