/**
 * The Jepsen-style test, CI length (JEPSEN_DURATION seconds of nemesis, default 45; JEPSEN_SEED
 * replays a schedule): 5 node processes in their own network namespaces, 6 clients in 3
 * processes, partitions / one-way / loss / kill -9 / SIGSTOP / restart-all / slow, then the
 * history checked linearizable and every acknowledged write read back. `npm run test:jepsen --
 * --duration 300` is the long run. Skipped, with the reason, where network namespaces are not
 * permitted.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { bitten, runJepsen, summaryLine } from './jepsen.js';
import { namespacesNamed, netnsUnavailable, removeNamespacesNamed } from './netns.js';

const unavailable = await netnsUnavailable();
if (unavailable !== undefined) console.warn(`test/jepsen/jepsen.test.ts skipped: ${unavailable}`);

const ROOT = join(import.meta.dirname, '..', '..');

describe.skipIf(unavailable !== undefined)('Jepsen-style run over network namespaces', () => {
  it('keeps the history linearizable and every acknowledged write through partitions, one-way blocks, loss, kill -9, SIGSTOP and restart-all', { timeout: 600_000 }, async () => {
    const seed = process.env.JEPSEN_SEED !== undefined ? Number(process.env.JEPSEN_SEED) : Math.floor(Math.random() * 2 ** 31);
    const durationS = Number(process.env.JEPSEN_DURATION ?? 45);
    const report = await runJepsen({ durationS, seed });
    const line = summaryLine(report);
    console.log(line);
    const replay = `replay: JEPSEN_SEED=${seed} npx vitest run test/jepsen/jepsen.test.ts (or npm run test:jepsen -- --seed ${seed} --duration ${durationS})`;
    expect(report.verdict.ok, `${line}\n${report.verdict.counterexample?.description ?? ''}\n${replay}`).toBe(true);
    expect(report.set.lost, replay).toEqual([]);
    expect(report.set.failedButPresent, replay).toEqual([]);
    // The faults bit: a cut-off leader was replaced, and no write at it was ever acknowledged.
    expect(bitten(report).length, `${line}\n${replay}`).toBeGreaterThanOrEqual(1);
    expect(
      report.bites.filter((b) => b.minorityWrite === '200'),
      replay,
    ).toEqual([]);
    // The workload did work through it all.
    for (const kind of ['read', 'write', 'cas'] as const) expect(report.ops[kind].ok, kind).toBeGreaterThan(0);
    expect(report.crashes, 'a node exited by itself').toEqual([]);
    expect(report.leftover).toEqual([]);
  });

  it('Ctrl-C of the standalone script stops its nodes and removes every namespace it made', { timeout: 300_000 }, async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join('test', 'jepsen', 'run.ts'), '--duration', '600', '--seed', '7'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const prefix = `xr-${child.pid}-`;
    const lines: string[] = [];
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the nemesis did not start within 120 s:\n${lines.join('\n')}`)), 120_000);
        for (const stream of [child.stdout, child.stderr]) {
          createInterface({ input: stream }).on('line', (text) => {
            lines.push(text);
            if (text.startsWith('nemesis:')) {
              clearTimeout(timer);
              resolve();
            }
          });
        }
        child.on('exit', () => reject(new Error(`run.ts exited before its nemesis started:\n${lines.join('\n')}`)));
      });
      expect(await namespacesNamed(prefix)).toHaveLength(6);
      child.kill('SIGINT');
      await exited;
      expect(lines.join('\n')).toContain('interrupted');
      expect(await namespacesNamed(prefix)).toEqual([]);
    } finally {
      child.kill('SIGKILL');
      // SIGKILL skips run.ts's own teardown: whatever it left (its nodes live on in their namespaces) goes here.
      await exited;
      await removeNamespacesNamed(prefix).catch(() => undefined);
    }
  });
});
