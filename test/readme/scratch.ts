/**
 * A user's project, for running the README's examples against the built package: a scratch
 * directory under the OS temp dir whose node_modules/xstate-raft is a symlink to this repository
 * (so `import … from 'xstate-raft'` resolves through package.json's `exports` to dist/, and its
 * types to dist's .d.ts), with node_modules/.bin/xstate-raft the built CLI.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../../src/server/ports.js';
import { ProcessCluster } from '../../src/server/process-cluster.js';

export const ROOT = join(import.meta.dirname, '..', '..');
export const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/** The compiler options a user's project might well have: strict, ESM, NodeNext; libraries' .d.ts checked too. */
export const USER_TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    lib: ['ES2023'],
    types: ['node'],
    strict: true,
    skipLibCheck: false,
    noEmitOnError: true,
    outDir: 'out',
    rootDir: '.',
  },
  include: ['*.ts'],
};

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(path));
    else if (/\.(ts|css|html)$/.test(entry.name)) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** Whether dist/ is missing or older than a source file it is built from. */
export function distIsStale(): boolean {
  let built: number;
  try {
    built = Math.min(statSync(join(ROOT, 'dist', 'src', 'index.js')).mtimeMs, statSync(join(ROOT, 'dist', 'dashboard', 'app.js')).mtimeMs);
  } catch {
    return true;
  }
  return Math.max(newestMtime(join(ROOT, 'src')), newestMtime(join(ROOT, 'machines')), statSync(join(ROOT, 'package.json')).mtimeMs) > built;
}

/** `npm run build` when dist/ is missing or stale (a few seconds). */
export async function ensureBuilt(): Promise<void> {
  if (!distIsStale()) return;
  const result = await run('npm', ['run', 'build'], { cwd: ROOT, timeoutMs: 180_000 });
  if (result.code !== 0) throw new Error(`npm run build failed (${result.code}):\n${result.stdout}\n${result.stderr}`);
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

const children = new Set<ChildProcess>();

/** Run a command to its end, killed (SIGKILL, with its process group) after `timeoutMs`. */
export function run(command: string, args: string[], options: { cwd: string; timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    children.add(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, options.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      children.delete(child);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

function killGroup(child: ChildProcess): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

/** Kill whatever `run` started that is still running (afterEach/afterAll, so also on failure). */
export function killStragglers(): void {
  for (const child of children) killGroup(child);
}

export interface ScratchProject {
  dir: string;
  /** PATH with the project's node_modules/.bin first, as npm scripts and npx see it. */
  env: NodeJS.ProcessEnv;
  remove(): void;
}

/** A project depending on this repository (symlinked), with this repository's xstate and @types/node. */
export function linkedProject(prefix = 'xstate-raft-readme-'): ScratchProject {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: 'readme-examples', private: true, type: 'module' }, null, 2)}\n`);
  writeFileSync(join(dir, 'tsconfig.json'), `${JSON.stringify(USER_TSCONFIG, null, 2)}\n`);
  const modules = join(dir, 'node_modules');
  mkdirSync(join(modules, '@types'), { recursive: true });
  mkdirSync(join(modules, '.bin'));
  symlinkSync(ROOT, join(modules, 'xstate-raft'), 'dir');
  symlinkSync(join(ROOT, 'node_modules', 'xstate'), join(modules, 'xstate'), 'dir');
  symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(modules, '@types', 'node'), 'dir');
  symlinkSync(join(ROOT, 'dist', 'src', 'cli', 'main.js'), join(modules, '.bin', 'xstate-raft'));
  return {
    dir,
    env: { ...process.env, PATH: `${join(modules, '.bin')}:${process.env.PATH ?? ''}`, npm_config_update_notifier: 'false', NODE_ENV: 'development' },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Which xstate the user's project has: this repository's (the newest we test) or the lowest 5.x we claim. */
export type XstateFlavour = 'newest' | 'lowest';
const XSTATE_DIRS: Record<XstateFlavour, string> = { newest: 'xstate', lowest: 'xstate-5.20' };

export interface PackedProject extends ScratchProject {
  /** The paths inside the tarball, as `npm pack` listed them (without the leading `package/`). */
  files: string[];
  /** The xstate version the project has. */
  xstate: string;
}

/**
 * A project that installed the packed tarball, as a user's would: `npm pack` (of the built dist/,
 * without running prepare) unpacked into node_modules/xstate-raft, with the package's own
 * dependencies beside it (links to this repository's installed copies, so no network is needed)
 * and the project's own xstate — the newest, or the lowest 5.x the peer dependency claims.
 */
export async function packedProject(xstate: XstateFlavour, prefix = 'xstate-raft-packed-'): Promise<PackedProject> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    const pack = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, timeoutMs: 120_000 });
    if (pack.code !== 0) throw new Error(`npm pack failed (${pack.code}):\n${pack.stderr}`);
    const [packed] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
    if (packed === undefined) throw new Error(`npm pack printed no package:\n${pack.stdout}`);
    const modules = join(dir, 'node_modules');
    const target = join(modules, 'xstate-raft');
    mkdirSync(target, { recursive: true });
    mkdirSync(join(modules, '@types'));
    mkdirSync(join(modules, '.bin'));
    const untar = await run('tar', ['-xzf', join(dir, packed.filename), '-C', target, '--strip-components=1'], { cwd: dir, timeoutMs: 60_000 });
    if (untar.code !== 0) throw new Error(`tar failed (${untar.code}):\n${untar.stderr}`);
    const manifest = JSON.parse(readFileSync(join(target, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const name of Object.keys(manifest.dependencies ?? {})) {
      mkdirSync(join(modules, name, '..'), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules', name), join(modules, name), 'dir');
    }
    symlinkSync(join(ROOT, 'node_modules', XSTATE_DIRS[xstate]), join(modules, 'xstate'), 'dir');
    symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(modules, '@types', 'node'), 'dir');
    symlinkSync(join(target, 'dist', 'src', 'cli', 'main.js'), join(modules, '.bin', 'xstate-raft'));
    writeFileSync(
      join(dir, 'package.json'),
      `${JSON.stringify({ name: 'packed-examples', private: true, type: 'module', dependencies: { 'xstate-raft': '*', xstate: '*' } }, null, 2)}\n`,
    );
    writeFileSync(join(dir, 'tsconfig.json'), `${JSON.stringify(USER_TSCONFIG, null, 2)}\n`);
    const version = (JSON.parse(readFileSync(join(modules, 'xstate', 'package.json'), 'utf8')) as { version: string }).version;
    return {
      dir,
      files: packed.files.map((f) => f.path),
      xstate: version,
      env: { ...process.env, PATH: `${join(modules, '.bin')}:${process.env.PATH ?? ''}`, npm_config_update_notifier: 'false' },
      remove: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

export interface ReadmeCluster {
  address(id: string): string;
  /** The nodes' last lines of output, for a failure message. */
  dump(): string;
  stop(): Promise<void>;
}

/** Every `127.0.0.1:700N` in `text` replaced by the address of node nN (the README's one substitution). */
export function withClusterAddresses(text: string, cluster: Pick<ReadmeCluster, 'address'>): string {
  return text.replace(/127\.0\.0\.1:700(\d)/g, (_, n: string) => cluster.address(`n${n}`));
}

/** Whether a block talks to the README's cluster (names one of its addresses). */
export const needsCluster = (code: string): boolean => /127\.0\.0\.1:700\d/.test(code);

/** Three `xstate-raft node` processes of the built CLI, on free ports, with a leader elected. */
export async function startCluster(dir: string, line: number): Promise<ReadmeCluster> {
  const output: string[] = [];
  const cluster = new ProcessCluster({
    size: 3,
    host: '127.0.0.1',
    ports: await freePorts(3),
    dataDir: join(dir, `cluster-L${line}`),
    command: { command: process.execPath, args: [join(ROOT, 'dist', 'src', 'cli', 'main.js')] },
    onLine: (id, text) => output.push(`${id}: ${text}`),
  });
  const dump = () => output.slice(-30).join('\n');
  cluster.startAll();
  const deadline = performance.now() + 30_000;
  for (;;) {
    const statuses = await Promise.all(
      cluster.ids.map((id) =>
        fetch(`http://${cluster.address(id)}/status`, { signal: AbortSignal.timeout(500) })
          .then((r) => r.json() as Promise<{ role?: string; leaderId?: string | null; term?: number }>)
          .catch(() => undefined),
      ),
    );
    const leader = statuses.find((s) => s?.role === 'leader');
    if (leader && statuses.every((s) => s?.leaderId === leader.leaderId && s?.term === leader.term)) break;
    if (performance.now() > deadline) {
      await cluster.killAll();
      throw new Error(`the cluster elected no leader within 30 s\n${dump()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    address: (id: string) => cluster.address(id),
    dump,
    stop: async () => {
      await cluster.stopAll(5000).catch(() => undefined);
      await cluster.killAll();
    },
  };
}
