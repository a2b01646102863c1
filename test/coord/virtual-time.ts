/**
 * Driving agent-side code (timers plus promises) in virtual time: fire the VirtualClock's timers one
 * at a time and let every promise continuation run between them, so a test of minutes of TTLs
 * and heartbeats takes milliseconds and never depends on the machine's speed.
 */
import { VirtualClock } from '../../src/sim/clock.js';

export { VirtualClock };

/** Let every pending promise continuation run (a macrotask turn runs after all microtasks). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Advance `clock` by `ms`, firing each due timer and settling after each. */
export async function advance(clock: VirtualClock, ms: number): Promise<void> {
  const until = clock.now() + ms;
  await settle();
  for (let at = clock.peek(); at !== undefined && at <= until; at = clock.peek()) {
    clock.step();
    await settle();
  }
  clock.advanceTo(until);
  await settle();
}

/** Advance in steps of `stepMs` until `done()` holds, at most `limitMs` of virtual time; answers whether it held. */
export async function advanceUntil(clock: VirtualClock, done: () => boolean, limitMs: number, stepMs = 10): Promise<boolean> {
  for (let spent = 0; !done(); spent += stepMs) {
    if (spent >= limitMs) return false;
    await advance(clock, stepMs);
  }
  return true;
}
