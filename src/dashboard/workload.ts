/**
 * The demo's "agents": a planner posts tasks and agents claim them with compare-and-set through
 * the cluster's KV API, so the log fills with real, contended decisions. Talks HTTP to whichever
 * node answers (any node forwards to the leader); errors (a node killed mid-request, no leader
 * during an election) are expected and simply retried on the next tick.
 */
import type { DashboardWorkload } from './server.js';

export class AgentWorkload implements DashboardWorkload {
  private timers: ReturnType<typeof setTimeout>[] = [];
  private task = 0;
  private running = false;
  private stopped = false;
  claims = 0;

  constructor(
    /** Where the nodes are, asked at every request (the members may change). */
    private readonly addresses: () => readonly string[],
    private readonly log: (text: string) => void,
    private readonly agents: readonly string[] = ['agent-ada', 'agent-bob', 'agent-cy'],
    /** The nodes' client token, when they were started with one (--client-token). */
    private readonly token?: string,
  ) {}

  get state(): 'running' | 'paused' {
    return this.running ? 'running' : 'paused';
  }

  resume(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    this.every(1500, () => this.postTask());
    this.agents.forEach((agent, i) => this.every(900 + 250 * i, () => this.claim(agent)));
  }

  pause(): void {
    this.running = false;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers = [];
  }

  stop(): void {
    this.pause();
    this.stopped = true;
  }

  private every(ms: number, work: () => Promise<void>): void {
    const tick = () => {
      if (!this.running) return;
      void work().finally(() => {
        if (this.running) this.timers.push(setTimeout(tick, ms * (0.75 + Math.random() / 2)));
      });
    };
    this.timers.push(setTimeout(tick, ms * Math.random()));
  }

  private async postTask(): Promise<void> {
    const id = `task-${this.task + 1}`;
    const reply = await this.request('PUT', `/kv/${id}`, { value: 'open' });
    if (reply?.status === 200) this.task++;
  }

  private async claim(agent: string): Promise<void> {
    if (this.task === 0) return;
    const id = `task-${Math.max(1, this.task - Math.floor(Math.random() * 3))}`;
    const reply = await this.request('POST', `/kv/${id}/cas`, { from: 'open', to: agent });
    if (reply?.status === 200) {
      this.claims++;
      this.log(`${agent} claimed ${id}`);
    }
  }

  private async request(method: string, path: string, body: unknown): Promise<{ status: number } | undefined> {
    const addresses = this.addresses();
    const address = addresses[Math.floor(Math.random() * addresses.length)] as string;
    try {
      const res = await fetch(`http://${address}${path}`, {
        method,
        headers: { 'content-type': 'application/json', ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(3000),
      });
      await res.arrayBuffer();
      return { status: res.status };
    } catch {
      return undefined;
    }
  }
}
