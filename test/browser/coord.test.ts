/**
 * The Agents and Coordination panels in Chromium, against real nodes: three node servers in this
 * process, the demo's AgentWorkload (agent machines over connect()) and a DashboardServer serving
 * a freshly built page (buildDashboard into a temp folder). The page shows the `tasks` queue with
 * its counts and claimed tasks (worker, token), the coordinator lease with its time left counting
 * down, and the three agents; "Kill" on a working agent turns it killed, "Restart" brings it back.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDashboard } from '../../src/dashboard/build.js';
import { DashboardServer } from '../../src/dashboard/server.js';
import { AgentWorkload } from '../../src/dashboard/workload.js';
import { startNodeServer } from '../../src/server/node-server.js';
import { freePorts } from '../integration/processes.js';
import { hasChromium, launchChromium } from './chromium.js';

const TOKEN = 'browser-coord-token';
/** Generous: the machine running this may be slow and busy. */
const DEADLINE_MS = 60_000;
const SCREENSHOT = join(import.meta.dirname, '..', '..', 'test-results', 'dashboard-coord.png');

const cleanups: (() => Promise<void> | void)[] = [];
let page: Page;
let url: string;
const pageErrors: string[] = [];

describe.skipIf(!hasChromium)('the Agents and Coordination panels in Chromium', { timeout: 120_000 }, () => {
  beforeAll(async () => {
    const assets = mkdtempSync(join(tmpdir(), 'xstate-raft-coord-page-'));
    cleanups.push(() => rmSync(assets, { recursive: true, force: true }));
    await buildDashboard(assets);
    const ports = await freePorts(3);
    const peers = Object.fromEntries(ports.map((port, i) => [`n${i + 1}`, `127.0.0.1:${port}`]));
    for (const [i, id] of Object.keys(peers).entries()) {
      const dataDir = mkdtempSync(join(tmpdir(), 'xstate-raft-coord-page-node-'));
      const server = await startNodeServer({ id, listen: { host: '127.0.0.1', port: ports[i] as number }, peers, dataDir, clientToken: TOKEN, logger: pino({ level: 'silent' }) });
      cleanups.push(async () => {
        await server.stop().catch(() => undefined);
        rmSync(dataDir, { recursive: true, force: true });
      });
    }
    const workload = new AgentWorkload({ addresses: () => Object.values(peers), log: () => undefined, token: TOKEN, workMs: [2500, 4000], postEveryMs: 700 });
    const dashboard = new DashboardServer({ nodes: peers, clientToken: TOKEN, port: 0, workload, agents: workload, assetsDir: assets });
    await dashboard.listen();
    cleanups.push(() => dashboard.close());
    cleanups.push(() => workload.stop());
    workload.resume();
    url = dashboard.url;
    const browser = await launchChromium();
    cleanups.push(browser.close);
    page = browser.page;
    page.on('pageerror', (error) => pageErrors.push(error.message));
  }, 90_000);

  afterAll(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  }, 90_000);

  const agent = (name: string) => page.locator(`[data-agent="${name}"]`);

  it('shows the tasks queue with its counts and claims, the coordinator lease counting down, and every agent', async () => {
    await page.goto(url);
    await expect.poll(() => page.locator('[data-agent]').count(), { timeout: DEADLINE_MS }).toBe(3);
    const queue = page.locator('[data-queue="tasks"]');
    await expect.poll(() => queue.count(), { timeout: DEADLINE_MS }).toBe(1);
    await expect.poll(async () => Number(await queue.locator('[data-count="done"] .count').textContent()), { timeout: DEADLINE_MS }).toBeGreaterThan(0);
    // A claimed task, with its worker and token.
    const claimed = queue.locator('tr[data-state="claimed"]').first();
    await expect.poll(() => claimed.count(), { timeout: DEADLINE_MS }).toBe(1);
    expect(await claimed.locator('[data-field="worker"]').textContent()).toMatch(/^agent-(ada|bob|cy)$/);
    expect(await claimed.locator('[data-field="token"]').textContent()).toMatch(/^\d+$/);
    // The lease: held by the coordinator, its time left changing as the page watches.
    const lease = page.locator('[data-lease="coordinator"]');
    await expect.poll(() => lease.count(), { timeout: DEADLINE_MS }).toBe(1);
    expect(await lease.locator('[data-field="holder"]').textContent()).toBe('agent-ada');
    const left = lease.locator('[data-field="time-left"]');
    const first = await left.textContent();
    expect(first).toMatch(/^\d+(\.\d)? s$|^expired$/);
    await expect.poll(() => left.textContent(), { timeout: 10_000 }).not.toBe(first);
    expect(await agent('agent-ada').locator('[data-field="lease"]').textContent()).toMatch(/^coordinator lease (held · token \d+|seeking)$/);
  });

  it('"Kill" on a working agent turns it killed; "Restart" brings it back', async () => {
    const working = page.locator('[data-agent][data-state="working"]').first();
    await expect.poll(() => working.count(), { timeout: DEADLINE_MS }).toBe(1);
    const name = (await working.getAttribute('data-agent')) as string;
    expect(await agent(name).locator('[data-field="claim"]').textContent()).toMatch(/^task-\d+ · token \d+$/);
    await agent(name).locator('[data-action="kill"]').click();
    await expect.poll(() => agent(name).getAttribute('data-state'), { timeout: DEADLINE_MS }).toBe('killed');
    expect(await agent(name).getAttribute('data-alive')).toBe('false');
    expect(await agent(name).locator('[data-action="kill"]').isDisabled()).toBe(true);
    // Its claim is left to expire: the queue marks it, until another agent has the task.
    const orphan = page.locator(`[data-queue="tasks"] tr[data-orphaned] [data-field="worker"]`);
    if ((await orphan.count()) > 0) expect(await orphan.first().textContent()).toBe(`${name} killed`);
    mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    await agent(name).locator('[data-action="restart"]').click();
    await expect.poll(() => agent(name).getAttribute('data-alive'), { timeout: DEADLINE_MS }).toBe('true');
    expect(pageErrors).toEqual([]);
  });
});
