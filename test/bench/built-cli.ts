/**
 * The `xstate-raft` CLI a benchmark runs: the built one (`dist/src/cli/main.js`, what `npm install
 * xstate-raft` gives a user — plain node, no TypeScript loader), compiled from the checkout first
 * (`tsc -p src/tsconfig.build.json`, only the node's code: no dashboard bundle). `--no-build` takes
 * the checkout's dist as it is (npm test has just built it); `--tsx` runs src/cli/main.ts under tsx
 * instead (the loader adds a per-closure cost, e.g. esbuild's __name, so figures are lower).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { flag } from './args.js';

export const THIS_CHECKOUT = join(import.meta.dirname, '..', '..');

export interface CliCommand {
  /** How it runs: 'built' (node dist/…/main.js) or 'tsx'. */
  readonly runtime: 'built' | 'tsx';
  /** node's flags and the script (the node's own arguments follow). */
  readonly args: readonly string[];
}

/** The CLI of `checkout` as --tsx / --no-build choose; exits with code 2 saying why when it cannot. */
export function benchCli(checkout: string, what = '--before'): CliCommand {
  const source = join(checkout, 'src', 'cli', 'main.ts');
  if (!existsSync(source)) {
    console.error(`${what} ${checkout}: no src/cli/main.ts there; give a checkout of this repository (git worktree add --detach /tmp/before <commit>)`);
    process.exit(2);
  }
  if (flag('tsx')) return { runtime: 'tsx', args: ['--import', 'tsx', source] };
  const built = join(checkout, 'dist', 'src', 'cli', 'main.js');
  if (!flag('no-build')) {
    process.stderr.write(`building ${checkout} (tsc -p src/tsconfig.build.json) …\n`);
    const tsc = join(checkout, 'node_modules', 'typescript', 'bin', 'tsc');
    try {
      execFileSync(process.execPath, [tsc, '-p', join(checkout, 'src', 'tsconfig.build.json')], { cwd: checkout, stdio: ['ignore', 'inherit', 'inherit'] });
    } catch {
      console.error(`building ${checkout} failed (see above); fix it, or run with --tsx`);
      process.exit(2);
    }
  }
  if (!existsSync(built)) {
    console.error(`${built} is missing: run npm run build there, or leave out --no-build`);
    process.exit(2);
  }
  return { runtime: 'built', args: [built] };
}
