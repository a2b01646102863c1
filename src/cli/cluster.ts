/**
 * `xstate-raft cluster`: start a local cluster of node processes, print their addresses, and
 * stop them all on Ctrl-C (SIGINT) or SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

export interface ClusterCommandOptions {
  size: number;
  data: string;
  basePort: number;
  host: string;
  secret?: string;
  electionTimeout?: string;
  heartbeat?: number;
}

/** The command line that runs this CLI again (works under tsx and from the built bin alike). */
export function selfCommand(): { command: string; args: string[] } {
  return { command: process.execPath, args: [...process.execArgv, process.argv[1] as string] };
}

export async function runCluster(opts: ClusterCommandOptions, out: (line: string) => void = console.log): Promise<number> {
  const ids = Array.from({ length: opts.size }, (_, i) => `n${i + 1}`);
  const peers = ids.map((id, i) => `${id}=${opts.host}:${opts.basePort + i}`).join(',');
  const self = selfCommand();
  const children = new Map<string, ChildProcess>();
  out(`Starting ${opts.size} nodes; data in ${resolve(opts.data)}`);
  ids.forEach((id, i) => {
    const args = [
      ...self.args,
      'node',
      '--id', id,
      '--listen', `${opts.host}:${opts.basePort + i}`,
      '--peers', peers,
      '--data', join(opts.data, id),
      ...(opts.electionTimeout ? ['--election-timeout', opts.electionTimeout] : []),
      ...(opts.heartbeat ? ['--heartbeat', String(opts.heartbeat)] : []),
    ];
    const child = spawn(self.command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...(opts.secret ? { XSTATE_RAFT_SECRET: opts.secret } : {}) },
    });
    children.set(id, child);
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', (line) => out(`[${id}] ${summarize(line)}`));
    }
    child.on('exit', (code, signal) => {
      out(`[${id}] exited (${signal ?? `code ${code}`})`);
      children.delete(id);
    });
    out(`  ${id}  http://${opts.host}:${opts.basePort + i}`);
  });
  out(`Try: curl -X PUT http://${opts.host}:${opts.basePort}/kv/hello -d '{"value":"world"}'`);
  out(`     npx xstate-raft kv get hello --peers ${ids.map((_, i) => `${opts.host}:${opts.basePort + i}`).join(',')}`);
  out('Press Ctrl-C to stop the cluster.');

  return new Promise<number>((resolvePromise) => {
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      out('Stopping the cluster…');
      for (const child of children.values()) child.kill('SIGTERM');
      const check = setInterval(() => {
        if (children.size === 0) {
          clearInterval(check);
          out(`Stopped. The data is in ${resolve(opts.data)}`);
          resolvePromise(0);
        }
      }, 50);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

/** A pino JSON line as "level message {fields}", anything else as is. */
function summarize(line: string): string {
  try {
    const { level, msg, time: _time, pid: _pid, hostname: _host, node: _node, ...rest } = JSON.parse(line) as Record<string, unknown>;
    const levels: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
    const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
    return `${levels[level as number] ?? level} ${msg}${extra}`;
  } catch {
    return line;
  }
}
