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
  clientToken?: string;
  electionTimeout?: string;
  heartbeat?: number;
  /** Passed to every node (`node --snapshot-threshold`). */
  snapshotThreshold?: number;
  logLevel?: string;
  /** How long every node has to answer /health (default 60 s: generous, for a slow machine). */
  startTimeoutMs?: number;
}

/**
 * Start the nodes, wait until every one answers /health, then print the addresses. A node that
 * exits (or does not answer) before that stops the whole cluster with its error and exit code 1:
 * a cluster short of a node at birth is not what was asked for.
 */
export async function runCluster(opts: ClusterCommandOptions, out: (line: string) => void = console.log): Promise<number> {
  const lastError = new Map<string, string>();
  let onExit: (id: string, code: number | null, signal: NodeJS.Signals | null) => void = () => undefined;
  const cluster = new ProcessCluster({
    size: opts.size,
    host: opts.host,
    ports: Array.from({ length: opts.size }, (_, i) => opts.basePort + i),
    dataDir: opts.data,
    ...(opts.secret ? { secret: opts.secret } : {}),
    ...(opts.clientToken ? { clientToken: opts.clientToken } : {}),
    ...(opts.electionTimeout ? { electionTimeout: opts.electionTimeout } : {}),
    ...(opts.heartbeat ? { heartbeat: opts.heartbeat } : {}),
    ...(opts.snapshotThreshold !== undefined ? { snapshotThreshold: opts.snapshotThreshold } : {}),
    ...(opts.logLevel ? { nodeArgs: ['--log-level', opts.logLevel] } : {}),
    onLine: (id, line) => {
      const text = summarizeLogLine(line);
      if (/^(error|fatal)\b/.test(text)) lastError.set(id, text.replace(/^(error|fatal):?\s*/, ''));
      out(`[${id}] ${text}`);
    },
    onExit: (id, code, signal) => onExit(id, code, signal),
  });
  out(`Starting ${opts.size} nodes; data in ${resolve(opts.data)}`);

  let stopping = false;
  let finish: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolvePromise) => (finish = resolvePromise));
  const stop = (code: number, why?: string) => {
    if (stopping) return;
    stopping = true;
    if (why !== undefined) out(why);
    out('Stopping the cluster…');
    void cluster.stopAll().then(() => {
      out(`Stopped. The data is in ${resolve(opts.data)}`);
      finish(code);
    });
  };
  // Ctrl-C reaches the whole process group: the nodes stop by themselves too, and ignore our
  // second signal while they finish (see `node`); a repeated Ctrl-C here changes nothing.
  const onSignal = () => stop(0);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let up = false;
  onExit = (id, code, signal) => {
    const how = signal ?? `code ${code}`;
    if (stopping) return out(`[${id}] exited (${how})`);
    const reason = lastError.get(id) ?? `exited (${how})`;
    if (!up) return stop(1, `error: ${id} failed to start: ${reason}`);
    out(`warning: ${id} stopped (${how})${lastError.has(id) ? `: ${reason}` : ''}; the cluster runs on with ${cluster.running.length} of ${opts.size} nodes`);
    if (cluster.running.length === 0) stop(1, 'error: every node has stopped');
  };
  cluster.startAll();
  const waiting = await waitForHealth(cluster, opts.startTimeoutMs ?? 60_000, () => stopping);
  if (stopping) return release(await finished);
  if (waiting.length > 0) {
    stop(1, `error: ${waiting.join(', ')} did not answer /health within ${Math.round((opts.startTimeoutMs ?? 60_000) / 1000)} s`);
    return release(await finished);
  }
  up = true;
  out(`All ${opts.size} nodes are up:`);
  for (const id of cluster.ids) out(`  ${id}  http://${cluster.address(id)}`);
  const all = cluster.ids.map((id) => cluster.address(id)).join(',');
  const auth = opts.clientToken ? ` -H "Authorization: Bearer $XSTATE_RAFT_CLIENT_TOKEN"` : '';
  out(`Try: curl -X PUT${auth} http://${cluster.address('n1')}/kv/hello -d '{"value":"world"}'`);
  out(`     npx xstate-raft kv get hello --peers ${all}`);
  out(`     npx xstate-raft status --peers ${all}`);
  out('Press Ctrl-C to stop the cluster.');
  return release(await finished);

  function release(code: number): number {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    return code;
  }
}

/** Wait until every running node answers GET /health as itself; returns the ids still silent at the deadline. */
async function waitForHealth(cluster: ProcessCluster, timeoutMs: number, cancelled: () => boolean): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  const healthy = new Set<string>();
  while (!cancelled() && Date.now() < deadline) {
    await Promise.all(
      cluster.ids
        .filter((id) => !healthy.has(id))
        .map(async (id) => {
          try {
            const res = await fetch(`http://${cluster.address(id)}/health`, { signal: AbortSignal.timeout(1000) });
            const body = (await res.json()) as { id?: string };
            if (res.ok && body.id === id) healthy.add(id);
          } catch {
            // not listening yet
          }
        }),
    );
    if (healthy.size === cluster.ids.length) return [];
    await new Promise((r) => setTimeout(r, 100));
  }
  return cluster.ids.filter((id) => !healthy.has(id));
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
