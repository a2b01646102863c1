/**
 * The demo as a first-time user meets it: `xstate-raft demo` starts real node processes and the
 * dashboard; the page shows three nodes and exactly one leader; killing the leader from the page
 * brings a different leader within seconds; a command proposed from the page is committed on
 * every node. Measures the page's load time and update rate, and takes a screenshot.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { hasChromium, launchChromium } from './chromium.js';

const CLI = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const SCREENSHOT_DIR = join(import.meta.dirname, '..', '..', 'test-results');

let demo: ChildProcess | undefined;
let data: string;
let url: string;
let closeBrowser: (() => Promise<void>) | undefined;
let page: Page;

describe.skipIf(!hasChromium)('the demo dashboard in Chromium', { timeout: 120_000 }, () => {
  beforeAll(async () => {
    data = mkdtempSync(join(tmpdir(), 'xstate-raft-demo-'));
    demo = spawn(process.execPath, ['--import', 'tsx', CLI, 'demo', '--port', '0', '--data', data], { stdio: ['ignore', 'pipe', 'pipe'] });
    url = await new Promise<string>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => reject(new Error(`the demo printed no dashboard address:\n${output}`)), 30_000);
      demo?.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /Dashboard:\s+(http:\/\/\S+)/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(match[1] as string);
        }
      });
    });
    ({ page, close: closeBrowser } = await launchChromium());
  }, 60_000);

  afterAll(async () => {
    await closeBrowser?.();
    if (demo && demo.exitCode === null) {
      const exited = new Promise((resolve) => demo?.once('exit', resolve));
      demo.kill('SIGINT');
      const forced = setTimeout(() => demo?.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(forced);
    }
    rmSync(data, { recursive: true, force: true });
  });

  const leaders = () => page.locator('[data-node][data-role="leader"]');

  it('shows three nodes and exactly one leader, and measures load time and update rate', async () => {
    const started = Date.now();
    await page.goto(url);
    await page.locator('[data-node]').first().waitFor();
    await expect.poll(() => page.locator('[data-node]').count(), { timeout: 15_000 }).toBe(3);
    await expect.poll(() => leaders().count(), { timeout: 15_000 }).toBe(1);
    const loadMs = await page.evaluate(() => {
      const d = (globalThis as unknown as { __dashboard?: { firstRenderAt?: number } }).__dashboard;
      return d?.firstRenderAt ?? performance.now();
    });
    const before = await page.evaluate(() => (globalThis as unknown as { __dashboard: { eventsReceived: number } }).__dashboard.eventsReceived);
    await page.waitForTimeout(2000);
    const after = await page.evaluate(() => (globalThis as unknown as { __dashboard: { eventsReceived: number } }).__dashboard.eventsReceived);
    console.log(
      `dashboard: first render with data ${Math.round(loadMs)} ms after navigation (${Date.now() - started} ms wall to a leader); ${((after - before) / 2).toFixed(0)} events/s rendered`,
    );
    expect(after).toBeGreaterThan(before);
  });

  it('elects a different leader within seconds after "kill" on the leader', async () => {
    const leader = await leaders().first().getAttribute('data-node');
    await leaders().first().locator('[data-action="kill"]').click();
    await expect
      .poll(
        async () => {
          const ids = await leaders().evaluateAll((cards) => cards.map((c) => c.getAttribute('data-node')));
          return ids.length === 1 && ids[0] !== leader;
        },
        { timeout: 10_000 },
      )
      .toBe(true);
    await page.locator(`[data-node="${leader}"] [data-action="restart"]`).click();
  });

  it('commits a command proposed from the page on every node', async () => {
    await expect
      .poll(() => page.locator('[data-node][data-role]').evaluateAll((cards) => cards.filter((c) => c.getAttribute('data-role') !== 'down').length), { timeout: 15_000 })
      .toBe(3);
    const form = page.locator('[data-testid="propose-form"]');
    await form.locator('[name="key"]').fill('from-the-browser');
    await form.locator('[name="value"]').fill('"hello"');
    const response = page.waitForResponse((r) => r.url().endsWith('/api/propose'));
    await form.locator('button[type="submit"], [type="submit"]').first().click();
    const reply = (await (await response).json()) as { index: number };
    expect(reply.index).toBeGreaterThan(0);
    await expect
      .poll(
        async () => {
          const commits = await page.locator('[data-node] [data-field="commitIndex"]').allTextContents();
          return commits.length === 3 && commits.every((t) => Number(t.replace(/\D/g, '')) >= reply.index);
        },
        { timeout: 10_000 },
      )
      .toBe(true);
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'dashboard.png') });
  });
});
