/**
 * `xstate-raft demo` (what `npm start` runs): a real cluster of durable node processes on
 * 127.0.0.1, a team of agents (src/dashboard/workload.ts: agent machines taking tasks from a
 * queue through the coordination API) working through it, and the live dashboard. Ctrl-C stops everything.
 * The dashboard's "add node" starts one more process here (`node --join`, on a free port) before
 * it asks the leader to add it.
 *
 * The nodes keep their ports from one run to the next (ports.json beside their data): the
 * configuration entries in their logs name every member's address, so a cluster restarted on new
 * ports would look for itself at the old ones.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { DashboardServer } from '../dashboard/server.js';
import { AgentWorkload } from '../dashboard/workload.js';
import { freePorts } from '../server/ports.js';
import { ProcessCluster } from '../server/process-cluster.js';
import { summarizeLogLine } from './cluster.js';

export interface DemoOptions {
  nodes: number;
  port: number;
  workload: boolean;
  data: string;
  inspect: boolean;
  verbose: boolean;
  /** The nodes' log level (default info). */
  logLevel?: string;
}

export async function runDemo(opts: DemoOptions, out: (line: string) => void = console.log): Promise<number> {
  const dataDir = resolve(opts.data, `cluster-of-${opts.nodes}`);
  const ports = await demoPorts(dataDir, opts.nodes, out);
  const cluster = new ProcessCluster({
    size: opts.nodes,
    host: '127.0.0.1',
    ports,
    dataDir,
    nodeArgs: [...(opts.inspect ? ['--inspect'] : []), ...(opts.logLevel ? ['--log-level', opts.logLevel] : [])],
    onLine: (id, line) => {
      const text = summarizeLogLine(line);
      if (opts.verbose || /^(error|fatal)|inspector/i.test(text)) out(`[${id}] ${text}`);
    },
  });
  // The nodes take XSTATE_RAFT_SECRET / XSTATE_RAFT_CLIENT_TOKEN from the environment (ProcessCluster
  // passes it on); the demo's own dashboard and agents must then present them too.
  const secret = process.env.XSTATE_RAFT_SECRET || undefined;
  const clientToken = process.env.XSTATE_RAFT_CLIENT_TOKEN || undefined;
  // The agents go to the voters of the day (the members change from the dashboard).
  const workload = opts.workload
    ? new AgentWorkload({
        addresses: () => dashboard.memberAddresses(),
        log: (text, level) => dashboard.log(text, level),
        ...(clientToken ? { token: clientToken } : {}),
      })
    : undefined;
  const dashboard: DashboardServer = new DashboardServer({
    nodes: cluster.addresses,
    ...(secret ? { secret } : {}),
    ...(clientToken ? { clientToken } : {}),
    port: opts.port,
    control: {
      kill: (id) => cluster.signal(id, 'SIGKILL'),
      restart: async (id) => {
        if (cluster.allIds.includes(id)) return cluster.restart(id);
        // A server added in an earlier run of the demo (its data is here): started again from it.
        const port = Number(/:(\d+)$/.exec(dashboard.addressOf(id) ?? '')?.[1]);
        const via = dashboard.memberAddresses().find((address) => !address.endsWith(`:${port}`));
        if (!Number.isInteger(port) || via === undefined) throw new Error(`${id} was not started by this demo and its address is unknown`);
        cluster.join(id, port, via);
      },
      startJoining: async (id, via) => {
        const [port] = await freePorts(1);
        cluster.join(id, port as number, via);
        return { address: cluster.address(id) };
      },
      forget: (id) => cluster.forget(id),
    },
    ...(workload ? { workload, agents: workload } : {}),
  });
  try {
    await dashboard.listen();
  } catch (error) {
    out(`error: cannot open the dashboard on port ${opts.port}: ${(error as Error).message} (try --port 0)`);
    return 1;
  }
  cluster.startAll();
  workload?.resume();
  out(`xstate-raft demo: ${opts.nodes} Raft nodes, each an XState actor in its own process, with durable storage.`);
  out('');
  out(`  Dashboard:  ${dashboard.url}`);
  out('');
  for (const id of cluster.ids) out(`  ${id}  http://${cluster.address(id)}   (data: ${cluster.dataDir(id)})`);
  out('');
  out(`  Try: curl -X PUT http://${cluster.address('n1')}/kv/hello -d '{"value":"world"}'`);
  out(
    workload
      ? '  Agents agent-ada, agent-bob and agent-cy take tasks from queue "tasks" through the cluster (pause, kill or restart them on the dashboard).'
      : '  No workload (--no-workload).',
  );
  if (opts.inspect) out('  Inspection is on: see the Stately inspector lines from each node above/below.');
  out('  Press Ctrl-C to stop.');

  return new Promise<number>((resolvePromise) => {
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      out('Stopping…');
      // The agents first, while the cluster still answers their goodbyes (lease released, claims handed back).
      void Promise.resolve(workload?.stop())
        .then(() => dashboard.close())
        .then(() => cluster.stopAll())
        .then(() => {
          out(`Stopped. The cluster's data is in ${dataDir} (run the demo again to continue from it).`);
          resolvePromise(0);
        });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/**
 * The ports the nodes had last time (ports.json in the cluster's data), if every one is free;
 * otherwise free ones, said when the cluster has data that names the old ones.
 */
async function demoPorts(dataDir: string, size: number, out: (line: string) => void): Promise<number[]> {
  const file = join(dataDir, 'ports.json');
  let stored: number[] | undefined;
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (Array.isArray(parsed) && parsed.length === size && parsed.every((p) => Number.isInteger(p) && p > 0 && p < 65536)) stored = parsed as number[];
  } catch {
    // a new cluster (or a file from elsewhere): new ports
  }
  if (stored !== undefined && (await Promise.all(stored.map((port) => isFree(port)))).every(Boolean)) return stored;
  if (stored !== undefined) {
    out(
      `warning: the ports this cluster had (${stored.join(', ')}) are not all free; starting on new ones, which its logs do not name (stop what holds them, or use another --data)`,
    );
  }
  const ports = await freePorts(size);
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, `${JSON.stringify(ports)}\n`);
  return ports;
}

function isFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once('error', () => resolvePromise(false));
    server.listen(port, host, () => server.close(() => resolvePromise(true)));
  });
}
