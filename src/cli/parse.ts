import { InvalidArgumentError } from 'commander';
import { ALL_FAULTS, type Fault } from '../sim/random-run.js';

/** "30s", "500ms", "2m", or a plain number of milliseconds. */
export function parseDuration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError(`expected a duration like 30s, 500ms or 2m, got "${value}"`);
  const n = Number(match[1]);
  const unit = match[2] ?? 'ms';
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

/** "n1=127.0.0.1:7001,n2=127.0.0.1:7002" → { n1: '127.0.0.1:7001', … } */
export function parsePeers(value: string): Record<string, string> {
  const peers: Record<string, string> = {};
  for (const part of value.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`expected id=host:port in --peers, got "${part}"`);
    const id = part.slice(0, eq);
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) throw new InvalidArgumentError(`node id "${id}" must be 1-64 letters, digits, '.', '_' or '-'`);
    if (id in peers) throw new InvalidArgumentError(`node id "${id}" appears twice in --peers`);
    parseHostPort(part.slice(eq + 1));
    peers[id] = part.slice(eq + 1);
  }
  if (Object.keys(peers).length === 0) throw new InvalidArgumentError('--peers needs at least one id=host:port');
  return peers;
}

/** Addresses for client commands: "host:port,…" or "id=host:port,…". */
export function parseAddresses(value: string): string[] {
  const out = value.split(',').map((p) => p.trim()).filter(Boolean).map((p) => (p.includes('=') ? p.slice(p.indexOf('=') + 1) : p));
  for (const address of out) parseHostPort(address);
  if (out.length === 0) throw new InvalidArgumentError('expected at least one host:port');
  return out;
}

/** "150-300" → [150, 300] */
export function parseRange(value: string): [number, number] {
  const match = /^(\d+)-(\d+)$/.exec(value.trim());
  const min = Number(match?.[1]);
  const max = Number(match?.[2]);
  if (!match || min < 1 || max < min) throw new InvalidArgumentError(`expected a range of ms like 150-300, got "${value}"`);
  return [min, max];
}
