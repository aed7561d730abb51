// Bounded parallelism, once for the whole library: at most `limit` tasks run at a time, results come
// back in the items' order. It sits at the root (beside errors.ts and units.ts) because it is used
// from every end of the chain (spec, registry, python, apt, workflow, cli) and imports nothing, so no
// folder has to import a folder to its right to get it.
//
// Failure, by default: the first error stops new work, aborts the signal the running tasks were
// given, waits for them to settle, and is the error thrown (later ones are dropped). With
// `settle: true` every item runs and each outcome is returned, as Promise.allSettled does.
// An outer signal that aborts stops new work in either mode; its reason is thrown.

export interface LimitedOptions {
  /** Aborting it stops new work and aborts the running tasks' signal; the run throws its reason. */
  readonly signal?: AbortSignal | undefined;
  /** Run every item and return each outcome instead of stopping at the first failure. */
  readonly settle?: boolean;
}

export type LimitedTask<T, R> = (item: T, signal: AbortSignal, index: number) => Promise<R>;

export function mapLimited<T, R>(items: readonly T[], limit: number, task: LimitedTask<T, R>, options: LimitedOptions & { readonly settle: true }): Promise<PromiseSettledResult<R>[]>;
export function mapLimited<T, R>(items: readonly T[], limit: number, task: LimitedTask<T, R>, options?: LimitedOptions & { readonly settle?: false }): Promise<R[]>;
export async function mapLimited<T, R>(items: readonly T[], limit: number, task: LimitedTask<T, R>, options: LimitedOptions = {}): Promise<R[] | PromiseSettledResult<R>[]> {
  const outer = options.signal;
  if (outer?.aborted) throw outer.reason;
  const controller = new AbortController();
  const onOuterAbort = (): void => controller.abort(outer?.reason);
  outer?.addEventListener("abort", onOuterAbort, { once: true });
  const outcomes = new Array<PromiseSettledResult<R>>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && !controller.signal.aborted && next < items.length) {
      const index = next++;
      try {
        outcomes[index] = { status: "fulfilled", value: await task(items[index] as T, controller.signal, index) };
      } catch (reason) {
        outcomes[index] = { status: "rejected", reason };
        if (!options.settle && failure === undefined) {
          failure = { error: reason };
          controller.abort(reason);
        }
      }
    }
  };
  // A limit below 1 (or not a number) still makes progress, one at a time.
  const workers = Math.max(1, Math.min(Math.floor(limit) || 1, items.length));
  try {
    await Promise.all(Array.from({ length: workers }, worker));
  } finally {
    outer?.removeEventListener("abort", onOuterAbort);
  }
  if (failure) throw failure.error;
  if (outer?.aborted) throw outer.reason;
  if (options.settle) return outcomes;
  return outcomes.map((o) => (o as PromiseFulfilledResult<R>).value);
}

/** mapLimited for tasks run for their effect: stops at the first failure and throws it. */
export async function forEachLimited<T>(items: readonly T[], limit: number, task: LimitedTask<T, void>, signal?: AbortSignal): Promise<void> {
  await mapLimited(items, limit, task, { signal });
}
