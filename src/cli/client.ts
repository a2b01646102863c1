/**
 * `xstate-raft kv …` and `xstate-raft status`: small clients for people at a terminal. They try
 * the given nodes in turn (any node forwards to the leader) and retry briefly while there is no
 * leader.
 */
export interface ClientTarget {
  addresses: string[];
  timeoutMs: number;
  /** The nodes' client token (sent as Authorization: Bearer). */
  token?: string;
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
        headers: headersFor(target),
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

function headersFor(target: ClientTarget): Record<string, string> {
  return { 'content-type': 'application/json', ...(target.token ? { authorization: `Bearer ${target.token}` } : {}) };
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
  op: 'get' | 'put' | 'delete' | 'cas' | 'list',
  key: string,
  values: string[],
  target: ClientTarget,
  json = false,
  out: (line: string) => void = console.log,
): Promise<number> {
  const path = `/kv/${encodeURIComponent(key)}`;
  let reply: Reply;
  try {
    if (op === 'get') reply = await requestAny(target, 'GET', path);
    else if (op === 'put') reply = await requestAny(target, 'PUT', path, { value: parseValue(values[0] as string) });
    else if (op === 'delete') reply = await requestAny(target, 'DELETE', path);
    else if (op === 'cas') reply = await requestAny(target, 'POST', `${path}/cas`, { from: parseValue(values[0] as string), to: parseValue(values[1] as string) });
    else reply = await listAll(target, key);
  } catch (error) {
    out(`error: ${(error as Error).message}`);
    return 1;
  }
  const ok = reply.status >= 200 && reply.status < 300;
  if (json) {
    out(JSON.stringify(reply.body));
    return ok ? 0 : 1;
  }
  const body = reply.body;
  const text = (value: unknown) => JSON.stringify(value);
  if (reply.status === 404) out(`not found: ${text(key)}`);
  else if (reply.status === 409) out(`precondition failed: ${text(key)} holds ${text(body.value)}`);
  else if (!ok) out(`error: ${reply.status} ${String(body.error ?? '')}${body.reason !== undefined ? `: ${String(body.reason)}` : ''}`);
  else if (op === 'get') out(text(body.value));
  else if (op === 'put') out(`ok: ${text(key)} written at index ${String(body.index)}`);
  else if (op === 'delete') out(body.existed ? `ok: ${text(key)} deleted` : `ok: ${text(key)} did not exist`);
  else if (op === 'cas') out(`ok: ${text(key)} is now ${values[1] === undefined ? '' : text(parseValue(values[1]))}`);
  else for (const entry of body.entries as { key: string; value: unknown }[]) out(`${entry.key}\t${text(entry.value)}`);
  return ok ? 0 : 1;
}

/** Every page of GET /kv?prefix=…, as one answer `{ entries }` (or the first failing page's answer). */
async function listAll(target: ClientTarget, prefix: string): Promise<Reply> {
  const entries: unknown[] = [];
  let after: string | undefined;
  for (;;) {
    const query = new URLSearchParams({ prefix, limit: '1000', ...(after !== undefined ? { after } : {}) });
    const page = await requestAny(target, 'GET', `/kv?${query}`);
    if (page.status !== 200) return page;
    entries.push(...(page.body.entries as unknown[]));
    if (!page.body.more) return { status: 200, body: { entries } };
    after = page.body.next as string;
  }
}

export async function runStatus(target: ClientTarget, out: (line: string) => void = console.log, json = false): Promise<number> {
  let ok = true;
  const rows: Record<string, unknown>[] = [];
  if (!json) {
    out(
      `${'address'.padEnd(22)} ${'id'.padEnd(6)} ${'role'.padEnd(10)} ${'term'.padStart(5)} ${'leader'.padEnd(7)} ${'commit'.padStart(7)} ${'applied'.padStart(7)} ${'last'.padStart(7)} ${'snapshot'.padStart(8)}`,
    );
  }
  for (const address of target.addresses) {
    try {
      const res = await fetch(`http://${address}/status`, { headers: headersFor(target), signal: AbortSignal.timeout(target.timeoutMs) });
      const s = (await res.json()) as Record<string, unknown>;
      if (!res.ok) throw new Error(`refused: HTTP ${res.status} ${String(s.error)}${s.reason ? ` (${String(s.reason)})` : ''}`);
      rows.push({ address, ...s });
      if (!json) {
        out(
          `${address.padEnd(22)} ${String(s.id).padEnd(6)} ${String(s.role).padEnd(10)} ${String(s.term).padStart(5)} ${String(s.leaderId ?? '-').padEnd(7)} ${String(s.commitIndex).padStart(7)} ${String(s.lastApplied).padStart(7)} ${String(s.lastLogIndex).padStart(7)} ${String(s.snapshotIndex ?? '-').padStart(8)}`,
        );
      }
    } catch (error) {
      ok = false;
      rows.push({ address, error: (error as Error).message });
      const message = (error as Error).message;
      if (!json) out(`${address.padEnd(22)} ${message.startsWith('refused:') ? message : `unreachable: ${message}`}`);
    }
  }
  if (json) out(JSON.stringify(rows));
  return ok ? 0 : 1;
}
