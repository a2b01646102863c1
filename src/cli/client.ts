/**
 * `xstate-raft kv …` and `xstate-raft status`: small clients for people at a terminal. They try
 * the given nodes in turn (any node forwards to the leader) and retry briefly while there is no
 * leader.
 */
export interface ClientTarget {
  addresses: string[];
  timeoutMs: number;
}

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

async function requestAny(target: ClientTarget, method: string, path: string, body?: unknown): Promise<Reply> {
  const deadline = Date.now() + target.timeoutMs;
  let last: string = 'no node answered';
  for (let attempt = 0; Date.now() < deadline; attempt++) {
    const address = target.addresses[attempt % target.addresses.length] as string;
    try {
      const res = await fetch(`http://${address}${path}`, {
        method,
        headers: { 'content-type': 'application/json' },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(Math.max(100, deadline - Date.now())),
      });
      const reply = { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
      if (reply.status === 503) {
        last = `${address}: ${JSON.stringify(reply.body)}`;
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      return reply;
    } catch (error) {
      last = `${address}: ${(error as Error).message}`;
      if ((attempt + 1) % target.addresses.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`no answer: ${last}`);
}

/** A value on the command line: JSON if it parses, otherwise the string itself. */
export function parseValue(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export async function runKv(
  op: 'get' | 'put' | 'delete' | 'cas',
  key: string,
  values: string[],
  target: ClientTarget,
  out: (line: string) => void = console.log,
): Promise<number> {
  const path = `/kv/${encodeURIComponent(key)}`;
  let reply: Reply;
  try {
    if (op === 'get') reply = await requestAny(target, 'GET', path);
    else if (op === 'put') reply = await requestAny(target, 'PUT', path, { value: parseValue(values[0] as string) });
    else if (op === 'delete') reply = await requestAny(target, 'DELETE', path);
    else reply = await requestAny(target, 'POST', `${path}/cas`, { from: parseValue(values[0] as string), to: parseValue(values[1] as string) });
  } catch (error) {
    out(`error: ${(error as Error).message}`);
    return 1;
  }
  out(JSON.stringify(reply.body));
  return reply.status >= 200 && reply.status < 300 ? 0 : 1;
}

export async function runStatus(target: ClientTarget, out: (line: string) => void = console.log): Promise<number> {
  let ok = true;
  out(`${'address'.padEnd(22)} ${'id'.padEnd(6)} ${'role'.padEnd(10)} ${'term'.padStart(5)} ${'leader'.padEnd(7)} ${'commit'.padStart(7)} ${'applied'.padStart(7)} ${'last'.padStart(7)}`);
  for (const address of target.addresses) {
    try {
      const res = await fetch(`http://${address}/status`, { signal: AbortSignal.timeout(target.timeoutMs) });
      const s = (await res.json()) as Record<string, unknown>;
      out(`${address.padEnd(22)} ${String(s.id).padEnd(6)} ${String(s.role).padEnd(10)} ${String(s.term).padStart(5)} ${String(s.leaderId ?? '-').padEnd(7)} ${String(s.commitIndex).padStart(7)} ${String(s.lastApplied).padStart(7)} ${String(s.lastLogIndex).padStart(7)}`);
    } catch (error) {
      ok = false;
      out(`${address.padEnd(22)} unreachable: ${(error as Error).message}`);
    }
  }
  return ok ? 0 : 1;
}
