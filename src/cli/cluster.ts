/**
 * `xstate-raft cluster`: start a local cluster of node processes, print their addresses, and
 * stop them all on Ctrl-C (SIGINT) or SIGTERM.
 */
import { resolve } from 'node:path';
import { ProcessCluster } from '../server/process-cluster.js';

export interface ClusterCommandOptions {
  size: number;
  data: string;
  basePort: number;
  host: string;
  secret?: string;
  electionTimeout?: string;
  heartbeat?: number;
}

export async function runCluster(opts: ClusterCommandOptions, out: (line: string) => void = console.log): Promise<number> {
  const cluster = new ProcessCluster({
    size: opts.size,
    host: opts.host,
    ports: Array.from({ length: opts.size }, (_, i) => opts.basePort + i),
    dataDir: opts.data,
    ...(opts.secret ? { secret: opts.secret } : {}),
    ...(opts.electionTimeout ? { electionTimeout: opts.electionTimeout } : {}),
    ...(opts.heartbeat ? { heartbeat: opts.heartbeat } : {}),
    onLine: (id, line) => out(`[${id}] ${summarizeLogLine(line)}`),
    onExit: (id, code, signal) => out(`[${id}] exited (${signal ?? `code ${code}`})`),
  });
  out(`Starting ${opts.size} nodes; data in ${resolve(opts.data)}`);
  cluster.startAll();
  for (const id of cluster.ids) out(`  ${id}  http://${cluster.address(id)}`);
  const all = cluster.ids.map((id) => cluster.address(id)).join(',');
  out(`Try: curl -X PUT http://${cluster.address('n1')}/kv/hello -d '{"value":"world"}'`);
  out(`     npx xstate-raft kv get hello --peers ${all}`);
  out(`     npx xstate-raft status --peers ${all}`);
  out('Press Ctrl-C to stop the cluster.');

  return new Promise<number>((resolvePromise) => {
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      out('Stopping the cluster…');
      void cluster.stopAll().then(() => {
        out(`Stopped. The data is in ${resolve(opts.data)}`);
        resolvePromise(0);
      });
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

/** A pino JSON line as "level message {fields}", anything else as is. */
export function summarizeLogLine(line: string): string {
  try {
    const { level, msg, time: _time, pid: _pid, hostname: _host, node: _node, ...rest } = JSON.parse(line) as Record<string, unknown>;
    const levels: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
    const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
    return `${levels[level as number] ?? level} ${msg}${extra}`;
  } catch {
    return line;
  }
}
