/**
 * Three in-process node servers (startNodeServer: SQLite in temp directories, HTTP on run-time
 * ports of 127.0.0.1) for the tests of the HTTP API and of connect(); `stopAll()` in afterEach
 * stops them and removes their data, also when a test fails.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { type NodeServer, type NodeServerOptions, startNodeServer } from '../../src/server/node-server.js';
import { freePorts } from '../../src/server/ports.js';

export class NodeServers {
  readonly servers = new Map<string, NodeServer>();
  private readonly dirs: string[] = [];

  /** n1, n2, n3 with the client token `token`; resolves with each id's address once all listen. */
  async start(token: string, prefix: string, extra: Partial<NodeServerOptions> = {}): Promise<Record<string, string>> {
    const ports = await freePorts(3);
    const peers = Object.fromEntries(ports.map((port, i) => [`n${i + 1}`, `127.0.0.1:${port}`]));
    const root = mkdtempSync(join(tmpdir(), prefix));
    this.dirs.push(root);
    for (const [i, id] of Object.keys(peers).entries()) {
      this.servers.set(
        id,
        await startNodeServer({
          id,
          listen: { host: '127.0.0.1', port: ports[i] as number },
          peers,
          dataDir: join(root, id),
          clientToken: token,
          logger: pino({ level: 'silent' }),
          ...extra,
        }),
      );
    }
    return peers;
  }

  /** The leader every running server names, once they agree (polled; generous deadline). */
  async agreedLeader(timeoutMs = 15_000): Promise<NodeServer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const servers = [...this.servers.values()];
      const leader = servers.find((s) => s.node.status().role === 'leader');
      if (leader !== undefined && servers.every((s) => s.node.status().leaderId === leader.node.id)) return leader;
      if (Date.now() > deadline) throw new Error(`no agreed leader within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.servers.values()].map((s) => s.stop()));
    this.servers.clear();
    for (const dir of this.dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}
