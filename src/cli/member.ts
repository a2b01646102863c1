/**
 * `xstate-raft member list|add|promote|remove` and `xstate-raft transfer-leadership`: the
 * membership routes (src/server/admin-members.ts) for people at a terminal. A change is asked of
 * the nodes in --peers in turn; a follower answers 503 naming the leader and its address, and
 * the request goes there next (nothing happened on the follower, so that retry is safe). A
 * request that may have reached a node is never sent twice. After a change, the leader's
 * configuration is printed.
 */
import { NOT_CONNECTED } from '../runtime/forwarding.js';

export interface AdminTarget {
  addresses: string[];
  timeoutMs: number;
  /** The nodes' client token, or else the cluster secret: the admin routes want one of them. */
  token?: string;
}

export type MemberCommand =
  | { type: 'list' }
  | { type: 'add'; id: string; address: string; learner: boolean }
  | { type: 'promote'; id: string }
  | { type: 'remove'; id: string }
  | { type: 'transfer'; to?: string };

interface Reply {
  status: number;
  body: Record<string, unknown>;
  /** The address that answered. */
  address: string;
}

interface View {
  clusterId: string;
  voters: string[];
  learners: string[];
  addresses: Record<string, string>;
  index: number;
  committed: boolean;
  leaderId: string | null;
}

/** The request a command makes, and the line it prints on success. */
function requestOf(command: Exclude<MemberCommand, { type: 'list' }>): { method: string; path: string; body?: unknown; done: (body: Record<string, unknown>) => string } {
  const at = (body: Record<string, unknown>) => `at index ${String(body.index)} (term ${String(body.term)})`;
  switch (command.type) {
    case 'add':
      return {
        method: 'POST',
        path: '/admin/members',
        body: { id: command.id, address: command.address, role: command.learner ? 'learner' : 'voter' },
        done: (body) => `ok: ${command.id} added as a ${command.learner ? 'learner' : 'voter'} ${at(body)}`,
      };
    case 'promote':
      return { method: 'POST', path: '/admin/members', body: { id: command.id, role: 'voter' }, done: (body) => `ok: ${command.id} promoted to voter ${at(body)}` };
    case 'remove':
      return { method: 'DELETE', path: `/admin/members/${encodeURIComponent(command.id)}`, done: (body) => `ok: ${command.id} removed ${at(body)}` };
    case 'transfer':
      return {
        method: 'POST',
        path: '/admin/transfer-leadership',
        body: command.to !== undefined ? { to: command.to } : {},
        done: (body) => `ok: ${String(body.leaderId)} leads in term ${String(body.term)}`,
      };
  }
}

export async function runMember(command: MemberCommand, target: AdminTarget, json = false, out: (line: string) => void = console.log): Promise<number> {
  try {
    if (command.type === 'list') {
      const view = await currentView(target);
      if (json) out(JSON.stringify(view));
      else for (const line of describeView(view)) out(line);
      return 0;
    }
    const request = requestOf(command);
    const reply = await requestLeader(target, request.method, request.path, request.body);
    if (reply.status !== 200) {
      if (json) out(JSON.stringify(reply.body));
      else out(`error: ${reply.status} ${String(reply.body.error ?? '')}${reply.body.reason !== undefined ? `: ${String(reply.body.reason)}` : ''}`);
      return 1;
    }
    if (json) {
      out(JSON.stringify(reply.body));
      return 0;
    }
    out(request.done(reply.body));
    // The configuration as the node that made the change (or, after a transfer, the new leader) sees it.
    const leader = command.type === 'transfer' ? undefined : reply.address;
    const view = await currentView(leader !== undefined ? { ...target, addresses: [leader, ...target.addresses] } : target).catch(() => undefined);
    if (view !== undefined) for (const line of describeView(view)) out(line);
    return 0;
  } catch (error) {
    out(`error: ${(error as Error).message}`);
    return 1;
  }
}

export function describeView(view: View): string[] {
  const rows = [...view.voters.map((id) => [id, 'voter'] as const), ...view.learners.map((id) => [id, 'learner'] as const)];
  const width = Math.max(4, ...rows.map(([id]) => id.length));
  return [
    `cluster ${view.clusterId}: configuration at index ${view.index}${view.committed ? ' (committed)' : ' (not yet committed)'}; leader ${view.leaderId ?? 'unknown'}`,
    `${'id'.padEnd(width)}  ${'role'.padEnd(7)}  address`,
    ...rows.map(([id, role]) => `${id.padEnd(width)}  ${role.padEnd(7)}  ${view.addresses[id] ?? '-'}${id === view.leaderId ? '  (leader)' : ''}`),
  ];
}

/**
 * GET /admin/members as the leader sees it: every node in --peers is asked at once; the leader
 * the most recent configuration names is asked too if it is not among them. Without a leader,
 * the most recent configuration any node holds. A node that knows none yet (a server waiting to
 * be added) or that was removed (it keeps the configuration it last had) is passed over when a
 * leader answers.
 */
async function currentView(target: AdminTarget): Promise<View> {
  const deadline = Date.now() + target.timeoutMs;
  const ask = async (address: string): Promise<{ address: string; view?: View; error?: string; refused?: boolean }> => {
    try {
      const reply = await send(target, address, 'GET', '/admin/members', undefined, deadline);
      if (reply.status === 200 && Array.isArray(reply.body.voters)) return { address, view: reply.body as unknown as View };
      return {
        address,
        error: `${reply.status} ${String(reply.body.error ?? '')}${reply.body.reason !== undefined ? `: ${String(reply.body.reason)}` : ''}`,
        refused: reply.status === 401,
      };
    } catch (error) {
      return { address, error: (error as Error).message };
    }
  };
  const answers = await Promise.all(target.addresses.map(ask));
  const views = answers.filter((a): a is { address: string; view: View } => a.view !== undefined && a.view.voters.length > 0);
  const newest = (list: typeof views) => list.reduce<(typeof views)[number] | undefined>((best, a) => (best === undefined || a.view.index > best.view.index ? a : best), undefined);
  const named = newest(views.filter((a) => a.view.leaderId !== null));
  const leaderAddress = named !== undefined ? named.view.addresses[named.view.leaderId as string] : undefined;
  if (leaderAddress !== undefined) {
    const fromLeader = views.find((a) => a.address === leaderAddress) ?? (await ask(leaderAddress));
    if (fromLeader.view !== undefined && fromLeader.view.voters.length > 0) return fromLeader.view;
  }
  const best = newest(views);
  if (best !== undefined) return best.view;
  const failure = answers.find((a) => a.refused) ?? answers.find((a) => a.error !== undefined);
  throw new Error(`cannot read the configuration: ${failure !== undefined ? `${failure.address}: ${failure.error}` : 'no node knows one yet (servers waiting to be added only)'}`);
}

/**
 * Send a change to the leader: the nodes in turn, then wherever a follower points (503 with
 * leaderAddress), retrying while there is no leader. Only a request that never reached a node
 * (connection refused) or that a node refused without acting (503) is sent again.
 */
async function requestLeader(target: AdminTarget, method: string, path: string, body: unknown): Promise<Reply> {
  const deadline = Date.now() + target.timeoutMs;
  let last = 'no node answered';
  let hint: string | undefined;
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    const address = hint ?? (target.addresses[attempt % target.addresses.length] as string);
    hint = undefined;
    try {
      const reply = await send(target, address, method, path, body, deadline);
      if (reply.status !== 503) return reply;
      last = `${address}: ${JSON.stringify(reply.body)}`;
      if (typeof reply.body.leaderAddress === 'string' && reply.body.leaderAddress !== address) {
        hint = reply.body.leaderAddress;
        continue;
      }
    } catch (error) {
      const code = (error as { cause?: { code?: unknown } }).cause?.code;
      if (!(typeof code === 'string' && NOT_CONNECTED.has(code))) {
        throw new Error(
          `${address}: ${(error as Error).message}; the request may have reached the node: check with xstate-raft member list before trying again${(error as Error).name === 'TimeoutError' ? ' (or raise --timeout)' : ''}`,
        );
      }
      last = `${address}: ${code}`;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no leader answered within ${target.timeoutMs} ms (last: ${last})`);
}

async function send(target: AdminTarget, address: string, method: string, path: string, body: unknown, deadline: number): Promise<Reply> {
  const res = await fetch(`http://${address}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(target.token ? { authorization: `Bearer ${target.token}` } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(Math.max(100, deadline - Date.now())),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = { error: 'not_json', reason: text.slice(0, 200) };
  }
  return { status: res.status, body: (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>, address };
}
