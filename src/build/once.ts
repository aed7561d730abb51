// Work done once per key: a second ask for the same key gets the first one's promise. The promise
// is kept after it settles, so a driver never builds (or fails to build) the same image twice.

/** Wraps `run` so that calls with the same `key` share one run. */
export function oncePerKey<A extends unknown[], T>(key: (...args: A) => string, run: (...args: A) => Promise<T>): (...args: A) => Promise<T> {
  const runs = new Map<string, Promise<T>>();
  return (...args: A) => {
    const k = key(...args);
    let running = runs.get(k);
    if (!running) {
      running = run(...args);
      runs.set(k, running);
    }
    return running;
  };
}
