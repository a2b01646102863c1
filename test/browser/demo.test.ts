/**
 * The demo as a first-time user meets it: `xstate-raft demo` starts real node processes and the
 * dashboard; the page shows three nodes and exactly one leader; killing the leader from the page
 * brings a different leader within seconds; a command proposed from the page is committed on
 * every node; "add node" starts a fourth process with --join that the page shows as a learner,
 * then a voter; "lead here" on a follower makes it the leader; "remove" takes a node out of the
 * configuration and the page marks it removed. Measures the page's load time and update rate, and
 * takes screenshots.
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

  // Membership changes take real time (a process to start, a learner to catch up): generous deadlines.
  const member = (id: string) => page.locator(`[data-node="${id}"]`).getAttribute('data-member');

  it('"add node" starts a node with --join that the page shows as a learner, then as a voter', { timeout: 180_000 }, async () => {
    await expect.poll(() => member('n1'), { timeout: 15_000 }).toBe('voter');
    // Every membership the cards go through, as they change (the learner phase may be short).
    await page.evaluate(() => {
      type El = { getAttribute(name: string): string | null };
      type Record = { target: El };
      const w = globalThis as unknown as {
        __memberships: string[];
        MutationObserver: new (cb: (records: Record[]) => void) => { observe(target: unknown, options: unknown): void };
        document: { getElementById(id: string): unknown };
      };
      w.__memberships = [];
      new w.MutationObserver((records) => {
        for (const r of records) w.__memberships.push(`${r.target.getAttribute('data-node')}=${r.target.getAttribute('data-member')}`);
      }).observe(w.document.getElementById('cards'), { subtree: true, attributes: true, attributeFilter: ['data-member'] });
    });
    const added = page.waitForResponse((r) => r.url().endsWith('/api/members/add'), { timeout: 150_000 });
    await page.locator('[data-action="add-node"]').click();
    const reply = await added;
    expect(reply.status(), await reply.text()).toBe(200);
    expect(((await reply.json()) as { id: string }).id).toBe('n4');
    await expect.poll(() => member('n4'), { timeout: 15_000 }).toBe('voter');
    const seen = await page.evaluate(() => (globalThis as unknown as { __memberships: string[] }).__memberships.filter((m) => m.startsWith('n4=')));
    expect(seen.indexOf('n4=learner'), seen.join(' ')).toBeGreaterThanOrEqual(0);
    expect(seen.lastIndexOf('n4=voter')).toBeGreaterThan(seen.indexOf('n4=learner'));
    await expect.poll(() => page.locator('[data-ring-node]').count()).toBe(4);
    expect(await page.locator('[data-ring-node="n4"]').getAttribute('data-member')).toBe('voter');
    const log = page.locator('.log-lines');
    expect(await log.textContent()).toContain('n4 added as a learner');
    expect(await log.textContent()).toContain('n4 promoted to voter');
    // The entry that made n4 a voter is marked in the strips while it is in the window.
    await expect
      .poll(() => page.locator('[data-node="n4"] .strip.log .cell.config').evaluateAll((cells) => cells.map((c) => c.getAttribute('title') ?? '')), { timeout: 15_000 })
      .toContainEqual(expect.stringMatching(/configuration: voters (n\d, )*n4\b.* · learners none/));
  });

  it('"lead here" on a follower voter makes it the leader', { timeout: 120_000 }, async () => {
    const follower = await page.locator('[data-node][data-role="follower"][data-member="voter"]').first().getAttribute('data-node');
    expect(follower).not.toBeNull();
    const transferred = page.waitForResponse((r) => r.url().endsWith(`/api/nodes/${follower}/transfer`), { timeout: 60_000 });
    await page.locator(`[data-node="${follower}"] [data-action="transfer"]`).click();
    const reply = await transferred;
    expect(reply.status(), await reply.text()).toBe(200);
    await expect.poll(async () => (await leaders().evaluateAll((cards) => cards.map((c) => c.getAttribute('data-node')))).join(), { timeout: 30_000 }).toBe(follower);
  });

  it('"remove" takes a node out of the configuration: the page marks it removed', { timeout: 120_000 }, async () => {
    const removed = page.waitForResponse((r) => r.url().endsWith('/api/nodes/n4/remove'), { timeout: 60_000 });
    await page.locator('[data-node="n4"] [data-action="remove"]').click();
    const reply = await removed;
    expect(reply.status(), await reply.text()).toBe(200);
    await expect.poll(() => member('n4'), { timeout: 15_000 }).toBe('removed');
    expect(await page.locator('[data-ring-node="n4"]').getAttribute('data-member')).toBe('removed');
    expect(await page.locator('[data-node="n4"] [data-field="membership"]').textContent()).toBe('removed');
    // The others are voters still, one of them leads.
    for (const id of ['n1', 'n2', 'n3']) expect(await member(id)).toBe('voter');
    await expect.poll(() => leaders().count(), { timeout: 15_000 }).toBe(1);
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'dashboard-membership.png') });
  });
});
