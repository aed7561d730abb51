// The one bounded-parallelism helper: the limit holds, results keep the items' order, the first
// failure stops new work and aborts the running tasks, `settle` runs everything, an outer signal stops it.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { forEachLimited, mapLimited } from "../src/concurrency.js";

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
function wait(ms: number, signal: AbortSignal): Promise<void> {
  return sleep(ms, undefined, { signal }).catch(() => Promise.reject(signal.reason));
}

describe("mapLimited", () => {
  it("never runs more than the limit at once, and keeps the items' order", async () => {
    let running = 0;
    let peak = 0;
    const items = Array.from({ length: 20 }, (_, i) => i);
    const results = await mapLimited(items, 3, async (n, signal, index) => {
      running++;
      peak = Math.max(peak, running);
      // Later items finish sooner, so completion order is not the items' order.
      await wait(2 + ((20 - n) % 5), signal);
      running--;
      assert.equal(index, n);
      return n * 10;
    });
    assert.equal(peak, 3);
    assert.deepEqual(results, items.map((n) => n * 10));
  });

  it("uses all of the limit when there is enough work, and one worker for a limit below 1", async () => {
    for (const [limit, expected] of [[4, 4], [0, 1], [Number.NaN, 1]] as const) {
      let running = 0;
      let peak = 0;
      await mapLimited([1, 2, 3, 4, 5, 6], limit, async (_n, signal) => {
        running++;
        peak = Math.max(peak, running);
        await wait(5, signal);
        running--;
      });
      assert.equal(peak, expected, `limit ${limit}`);
    }
    assert.deepEqual(await mapLimited([], 4, async () => 1), []);
  });

  it("throws the first error, starts nothing after it, aborts the running tasks and waits for them", async () => {
    const started: number[] = [];
    const settled: number[] = [];
    const first = new Error("item 1 failed");
    const run = mapLimited([0, 1, 2, 3, 4, 5], 2, async (n, signal) => {
      started.push(n);
      try {
        if (n === 1) {
          await wait(5, signal);
          throw first;
        }
        await wait(n === 0 ? 200 : 1, signal);
        if (n >= 2) throw new Error(`item ${n} failed later`);
      } finally {
        settled.push(n);
      }
    });
    await assert.rejects(run, (error) => error === first);
    assert.deepEqual(started, [0, 1], "nothing starts after the first failure");
    // Item 0 was aborted (it would have taken 200 ms) and had settled before the run rejected.
    assert.deepEqual([...settled].sort(), [0, 1]);
  });

  it("with settle, runs every item and returns each outcome in order", async () => {
    const outcomes = await mapLimited(
      [1, 2, 3, 4],
      2,
      async (n) => {
        if (n % 2 === 0) throw new Error(`even ${n}`);
        return n;
      },
      { settle: true },
    );
    assert.deepEqual(
      outcomes.map((o) => (o.status === "fulfilled" ? o.value : (o.reason as Error).message)),
      [1, "even 2", 3, "even 4"],
    );
  });

  it("an outer signal stops new work, aborts the running tasks, and its reason is thrown", async () => {
    const outer = new AbortController();
    const started: number[] = [];
    const run = mapLimited(
      [0, 1, 2, 3],
      2,
      async (n, signal) => {
        started.push(n);
        await wait(1000, signal);
      },
      { signal: outer.signal, settle: true },
    );
    const reason = new Error("cancelled by the caller");
    setTimeout(() => outer.abort(reason), 10);
    await assert.rejects(run, (error) => error === reason);
    assert.deepEqual(started, [0, 1]);
    // Already aborted: nothing starts at all.
    let ran = false;
    await assert.rejects(
      mapLimited([1], 1, async () => {
        ran = true;
      }, { signal: outer.signal }),
      (error) => error === reason,
    );
    assert.equal(ran, false);
  });
});

describe("forEachLimited", () => {
  it("runs each item for its effect and passes the outer signal through", async () => {
    const seen: number[] = [];
    await forEachLimited([3, 1, 2], 2, async (n) => {
      seen.push(n);
    });
    assert.deepEqual([...seen].sort(), [1, 2, 3]);
    const outer = new AbortController();
    outer.abort(new Error("stop"));
    await assert.rejects(forEachLimited([1], 1, async () => undefined, outer.signal), /stop/);
  });
});
