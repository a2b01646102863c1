import { InvalidArgumentError } from 'commander';
import { ALL_FAULTS, type Fault } from '../sim/random-run.js';

/** "30s", "500ms", "2m". A bare number is refused: "5" could mean 5 ms or 5 s. */
export function parseDuration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError(`expected a duration like 30s, 500ms or 2m, got "${value}"`);
  if (match[2] === undefined) throw new InvalidArgumentError(`a duration needs a unit: ${match[1]}s, ${match[1]}ms or ${match[1]}m, not "${value}"`);
  const n = Number(match[1]);
  const unit = match[2];
  return Math.round(n * (unit === 'm' ? 60_000 : unit === 's' ? 1000 : 1));
}

export function parseInteger(min: number, max: number) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError(`expected a whole number, got "${value}"`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`expected a number from ${min} to ${max}, got ${n}`);
    return n;
  };
}

export function parseFaults(value: string): Fault[] {
  if (value === 'all') return [...ALL_FAULTS];
  if (value === 'none') return [];
  const faults = value.split(',').map((f) => f.trim());
  for (const f of faults) {
    if (!(ALL_FAULTS as readonly string[]).includes(f)) {
      throw new InvalidArgumentError(`unknown fault "${f}"; use all, none, or a list of ${ALL_FAULTS.join(', ')}`);
    }
  }
  return faults as Fault[];
}

/** "host:port" with a port from 0 to 65535. */
export function parseHostPort(value: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(value.trim());
  const port = Number(match?.[2]);
  if (!match || port > 65535) throw new InvalidArgumentError(`expected host:port (like 127.0.0.1:7001), got "${value}"`);
  return { host: (match[1] as string).replace(/^\[|\]$/g, ''), port };
}

/**
 * "n1=127.0.0.1:7001,n2=127.0.0.1:7002" → { n1: '127.0.0.1:7001', … }. An entry without an id
 * ("127.0.0.1:7003") is named by its position in the list, n1 first — the names `cluster` gives.
 */
export function parsePeers(value: string): Record<string, string> {
  const peers: Record<string, string> = {};
  const parts = value
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  for (const [position, entry] of parts.entries()) {
    const part = entry.includes('=') ? entry : `n${position + 1}=${entry}`;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`expected host:port or id=host:port in --peers, got "${part}"`);
    const id = parseNodeId(part.slice(0, eq));
    if (id in peers) {
      throw new InvalidArgumentError(
        `node id "${id}" appears twice in --peers${entry.includes('=') ? '' : ` (an entry without an id is named by its position: "${entry}" is ${id})`}`,
      );
    }
    parseHostPort(part.slice(eq + 1));
    peers[id] = part.slice(eq + 1);
  }
  if (Object.keys(peers).length === 0) throw new InvalidArgumentError('--peers needs at least one host:port or id=host:port');
  return peers;
}

/** A node id, as --peers and --id take it: 1-64 letters, digits, '.', '_' or '-'. */
export function parseNodeId(value: string): string {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(value)) throw new InvalidArgumentError(`node id "${value}" must be 1-64 letters, digits, '.', '_' or '-'`);
  return value;
}

/** "host:port", kept as text (checked as parseHostPort does). */
export function parseAddress(value: string): string {
  parseHostPort(value);
  return value.trim();
}

/** Addresses for client commands: "host:port,…" or "id=host:port,…" (read as --peers is; the ids are not needed). */
export function parseAddresses(value: string): string[] {
  return Object.values(parsePeers(value));
}

/** Is `host` an address only this machine can reach? */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** "150-300" → [150, 300] */
export function parseRange(value: string): [number, number] {
  const match = /^(\d+)-(\d+)$/.exec(value.trim());
  const min = Number(match?.[1]);
  const max = Number(match?.[2]);
  if (!match || min < 1 || max < min) throw new InvalidArgumentError(`expected a range of ms like 150-300, got "${value}"`);
  return [min, max];
}
