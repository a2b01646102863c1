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
