/** `xstate-raft dashboard --peers …`: the live dashboard for a cluster that runs elsewhere. */
import { DashboardServer } from '../dashboard/server.js';

export async function runDashboard(opts: { peers: Record<string, string>; port: number; secret?: string }, out: (line: string) => void = console.log): Promise<number> {
  const secret = opts.secret ?? process.env.XSTATE_RAFT_SECRET;
  const dashboard = new DashboardServer({ nodes: opts.peers, port: opts.port, ...(secret ? { secret } : {}) });
  try {
    await dashboard.listen();
  } catch (error) {
    out(`error: cannot open the dashboard on port ${opts.port}: ${(error as Error).message}`);
    return 1;
  }
  out(`Dashboard: ${dashboard.url}  (kill/restart need the demo, which owns its processes; isolate, split, heal and propose work here)`);
  out('Press Ctrl-C to stop.');
  return new Promise<number>((resolve) => {
    const stop = () => void dashboard.close().then(() => resolve(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
