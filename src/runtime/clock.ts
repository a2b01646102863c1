/**
 * Everything in the runtime that decides *when* goes through a Clock: the actor's timers, the end
 * of a batch, message delivery. The system clock runs on the real event loop; the simulator's
 * VirtualClock (src/sim/clock.ts) runs the same code in virtual time.
 */
export interface Clock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Milliseconds since some fixed origin. */
  now(): number;
  /**
   * Wall-clock milliseconds since the Unix epoch, for the stamps of replicated time (see
   * StateMachine.stamp); `now()` where absent. Comparable between processes as far as their clocks agree.
   */
  wallNow?(): number;
  /** Run `fn` once the current turn is done (end of a batch): setImmediate on the real loop. */
  defer(fn: () => void): void;
}

export const systemClock: Clock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  now: () => performance.now(),
  // Monotonic within the process (performance.now), on the epoch's scale (its time origin).
  wallNow: () => performance.timeOrigin + performance.now(),
  defer: (fn) => void setImmediate(fn),
};

/** `promise`, or a rejection with `late()` once `ms` pass on `clock` (a settlement after that is ignored). */
export function within<T>(clock: Clock, promise: Promise<T>, ms: number, late: () => unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(late()), ms);
    promise.then(
      (value) => {
        clock.clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clock.clearTimeout(timer);
        reject(error);
      },
    );
  });
}
