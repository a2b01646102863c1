/**
 * `xstate-raft demo` (what `npm start` runs): a real cluster of durable node processes on
 * 127.0.0.1, agents claiming tasks through it, and the live dashboard. Ctrl-C stops everything.
 */
import { resolve } from 'node:path';
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
  const cluster = new ProcessCluster({
    size: opts.nodes,
    host: '127.0.0.1',
    ports: await freePorts(opts.nodes),
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
  const workload = opts.workload ? new AgentWorkload(Object.values(cluster.addresses), (text) => dashboard.log(text), undefined, clientToken) : undefined;
  const dashboard: DashboardServer = new DashboardServer({
    nodes: cluster.addresses,
    ...(secret ? { secret } : {}),
    ...(clientToken ? { clientToken } : {}),
    port: opts.port,
    control: {
      kill: (id) => cluster.signal(id, 'SIGKILL'),
      restart: async (id) => {
        await cluster.restart(id);
      },
    },
    ...(workload ? { workload } : {}),
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
  out(workload ? '  Agents are claiming tasks through the cluster (pause them on the dashboard).' : '  No workload (--no-workload).');
  if (opts.inspect) out('  Inspection is on: see the Stately inspector lines from each node above/below.');
  out('  Press Ctrl-C to stop.');

  return new Promise<number>((resolvePromise) => {
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      out('Stopping…');
      workload?.stop();
      void dashboard
        .close()
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
