import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { oncePerKey } from "../../src/build/once.js";

describe("oncePerKey", () => {
  it("shares one run per key while it runs and after it succeeds", async () => {
    let runs = 0;
    const once = oncePerKey((key: string) => key, async (key: string) => `${key}:${++runs}`);
    assert.deepEqual(await Promise.all([once("a"), once("a"), once("b")]), ["a:1", "a:1", "b:2"]);
    assert.equal(await once("a"), "a:1");
    assert.equal(runs, 2);
  });

  it("shares a failure with the callers waiting on it, then forgets it so a later call runs again", async () => {
    let runs = 0;
    const once = oncePerKey(
      (key: string) => key,
      async (key: string) => {
        runs++;
        if (runs === 1) throw new Error("registry unreachable");
        return key;
      },
    );
    const [first, second] = await Promise.allSettled([once("a"), once("a")]);
    assert.equal(first.status, "rejected");
    assert.equal(second.status, "rejected");
    assert.equal(runs, 1);
    assert.equal(await once("a"), "a");
    assert.equal(runs, 2);
  });
});
