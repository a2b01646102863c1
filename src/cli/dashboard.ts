/**
 * `xstate-raft dashboard --peers …`: the live dashboard for a cluster that runs elsewhere. Nodes
 * added later (`xstate-raft member add`) appear by themselves: the dashboard follows every member
 * at the address the configuration gives.
 */
import { DashboardServer } from '../dashboard/server.js';

export interface DashboardCommandOptions {
  peers: Record<string, string>;
  port: number;
  /** The cluster secret (default: $XSTATE_RAFT_SECRET): what the nodes' /debug and /admin routes want without a client token. */
  secret?: string;
  /** The nodes' client token (default: $XSTATE_RAFT_CLIENT_TOKEN): with one, every route wants it, in place of the secret. */
  clientToken?: string;
}

/** Runs until `stop` settles (by default the first SIGINT or SIGTERM); resolves with the exit code. */
export async function runDashboard(opts: DashboardCommandOptions, out: (line: string) => void = console.log, stop: Promise<unknown> = signalled()): Promise<number> {
  // An empty variable (as a parent process may pass one on) means none.
  const secret = opts.secret || process.env.XSTATE_RAFT_SECRET || undefined;
  const clientToken = opts.clientToken || process.env.XSTATE_RAFT_CLIENT_TOKEN || undefined;
  const dashboard = new DashboardServer({
    nodes: opts.peers,
    port: opts.port,
    ...(secret !== undefined ? { secret } : {}),
    ...(clientToken !== undefined ? { clientToken } : {}),
    // The page shows every line; a terminal gets what needs a person: a node refusing the dashboard.
    onLog: (line) => {
      if (line.level === 'error') out(`error: ${line.text}`);
    },
  });
  try {
    await dashboard.listen();
  } catch (error) {
    out(`error: cannot open the dashboard on port ${opts.port}: ${(error as Error).message}`);
    return 1;
  }
  out(`Dashboard: ${dashboard.url}  (kill, restart and add node need the demo, which owns its processes; isolate, split, heal, propose, remove and lead here work here)`);
  out(
    clientToken !== undefined
      ? 'Sending the client token to the nodes.'
      : secret !== undefined
        ? 'Sending the cluster secret to the nodes.'
        : 'Sending no credential to the nodes (see --client-token, --secret).',
  );
  out('Press Ctrl-C to stop.');
  await stop;
  await dashboard.close();
  return 0;
}

function signalled(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}
