/**
 * The control endpoints. A control only asks; what it did arrives over the event stream (or, for
 * the coordination state and the agents, the next poll), so nothing here changes the picture.
 * Failures are reported in the log panel.
 */
export interface ApiResult {
  ok: boolean;
  status: number;
  data: Record<string, unknown>;
}

export type Report = (level: 'info' | 'error', text: string) => void;

export async function post(path: string, body?: unknown): Promise<ApiResult> {
  try {
    const res = await fetch(path, {
      method: 'POST',
      // Always JSON, even with no body: the server refuses any other control (415), since a page
      // of another origin can send JSON only after a CORS preflight, which it never grants.
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    let data: Record<string, unknown> = {};
    try {
      const parsed: unknown = await res.json();
      if (parsed !== null && typeof parsed === 'object') data = parsed as Record<string, unknown>;
    } catch {
      // An empty or non-JSON answer: the status says enough.
    }
    return { ok: res.ok && data['error'] === undefined, status: res.status, data };
  } catch (error) {
    return { ok: false, status: 0, data: { error: 'network', reason: error instanceof Error ? error.message : String(error) } };
  }
}

/** A GET of the server's JSON (the polled views); a failure is an ApiResult for describeError. */
export async function get(path: string): Promise<{ ok: true; body: unknown } | { ok: false; result: ApiResult }> {
  try {
    const res = await fetch(path, { cache: 'no-store' });
    const body: unknown = await res.json().catch(() => ({}));
    if (res.ok) return { ok: true, body };
    const data = body !== null && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
    return { ok: false, result: { ok: false, status: res.status, data } };
  } catch (error) {
    return { ok: false, result: { ok: false, status: 0, data: { error: 'network', reason: error instanceof Error ? error.message : String(error) } } };
  }
}

/** "kill n2: not found (no such node)" from an error answer. */
export function describeError(what: string, result: ApiResult): string {
  const error = typeof result.data['error'] === 'string' ? result.data['error'] : `HTTP ${result.status}`;
  const reason = typeof result.data['reason'] === 'string' ? ` (${result.data['reason']})` : '';
  return `${what} failed: ${error}${reason}`;
}

/** Paths are relative so the page also works behind a path prefix. */
export const api = {
  events: 'api/events',
  chart: 'api/chart.svg',
  node: (id: string, action: string) => `api/nodes/${encodeURIComponent(id)}/${action}`,
  split: 'api/split',
  heal: 'api/heal',
  propose: 'api/propose',
  addNode: 'api/members/add',
  workload: (action: 'pause' | 'resume') => `api/workload/${action}`,
  coord: 'api/coord',
  agents: 'api/agents',
  agent: (name: string, action: 'kill' | 'restart') => `api/agents/${encodeURIComponent(name)}/${action}`,
};
