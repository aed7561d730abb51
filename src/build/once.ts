// Work done once per key: a second ask for the same key gets the first one's promise. A success is
// kept, so a driver never builds the same image twice; a failure is forgotten once it settles, so a
// long-lived builder (a library session) can try again after a network error instead of getting
// the old failure for as long as it lives.

/** Wraps `run` so that calls with the same `key` share one run. */
export function oncePerKey<A extends unknown[], T>(key: (...args: A) => string, run: (...args: A) => Promise<T>): (...args: A) => Promise<T> {
  const runs = new Map<string, Promise<T>>();
  return (...args: A) => {
    const k = key(...args);
    let running = runs.get(k);
    if (!running) {
      const started = run(...args);
      running = started;
      runs.set(k, started);
      started.catch(() => {
        if (runs.get(k) === started) runs.delete(k);
      });
    }
    return running;
  };
}
