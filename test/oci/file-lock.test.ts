// The layout lock: read-modify-write under withFileLock loses no update, in one process or
// several; a lock left by a dead process or an old one is broken; a live holder makes a waiter
// fail with LAYOUT_LOCKED after its timeout, naming the holder; nothing is left behind.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdir, readFile, utimes, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { withFileLock } from "../../src/oci/file-lock.js";
import { removeDir, tempDir } from "../support/tools.js";

const TSX = import.meta.resolve("tsx");
const LOCK_MODULE = new URL("../../src/oci/file-lock.ts", import.meta.url).href;

/** A read-modify-write with a pause in the middle, where an unlocked writer would lose updates. */
async function increment(file: string): Promise<void> {
  const n = Number(await readFile(file, "utf8").catch(() => "0"));
  await new Promise((r) => setTimeout(r, 1));
  await writeFile(file, String(n + 1));
}

describe("withFileLock", () => {
  let dir: string;
  before(async () => {
    dir = await tempDir();
  });
  after(async () => {
    await removeDir(dir);
  });

  it("serialises callers in one process: no update is lost, and the lock file is gone afterwards", async () => {
    const counter = join(dir, "in-process");
    await Promise.all(Array.from({ length: 40 }, () => withFileLock(join(dir, "in-process.lock"), () => increment(counter))));
    assert.equal(await readFile(counter, "utf8"), "40");
    assert.ok(!(await readdir(dir)).includes("in-process.lock"));
  });

  it("a failing caller releases the lock for the next", async () => {
    const lock = join(dir, "failing.lock");
    await assert.rejects(withFileLock(lock, () => Promise.reject(new Error("boom"))), /boom/);
    assert.equal(await withFileLock(lock, () => Promise.resolve("next")), "next");
  });

  it("serialises processes: four processes of 15 increments each give 60", async () => {
    const counter = join(dir, "cross");
    const script = `const { withFileLock } = await import(${JSON.stringify(LOCK_MODULE)});
const { readFile, writeFile } = await import("node:fs/promises");
for (let i = 0; i < 15; i++) await withFileLock(${JSON.stringify(join(dir, "cross.lock"))}, async () => {
  const n = Number(await readFile(${JSON.stringify(counter)}, "utf8").catch(() => "0"));
  await new Promise((r) => setTimeout(r, 1));
  await writeFile(${JSON.stringify(counter)}, String(n + 1));
});`;
    const codes = await Promise.all(
      Array.from({ length: 4 }, () => new Promise<number | null>((resolve) => spawn(process.execPath, ["--import", TSX, "--input-type=module", "-e", script], { stdio: "inherit" }).on("exit", resolve))),
    );
    assert.deepEqual(codes, [0, 0, 0, 0]);
    assert.equal(await readFile(counter, "utf8"), "60");
  });

  it("breaks a lock whose owner process is gone", async () => {
    const lock = join(dir, "dead.lock");
    // A PID that is not running: a child that has exited.
    const pid = await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ["-e", ""]);
      child.on("exit", () => resolve(child.pid!));
    });
    await writeFile(lock, JSON.stringify({ pid, host: hostname(), id: "left-over" }));
    assert.equal(await withFileLock(lock, () => Promise.resolve("taken"), { timeoutMs: 5_000 }), "taken");
    assert.ok(!(await readdir(dir)).some((f) => f.startsWith("dead.lock")), "the stale lock and its aside copy are gone");
  });

  it("breaks a lock older than staleMs even when its owner cannot be checked (another host)", async () => {
    const lock = join(dir, "old.lock");
    await writeFile(lock, JSON.stringify({ pid: 1, host: "some-other-host", id: "old" }));
    const old = new Date(Date.now() - 120_000);
    await utimes(lock, old, old);
    assert.equal(await withFileLock(lock, () => Promise.resolve("taken"), { timeoutMs: 5_000, staleMs: 60_000 }), "taken");
  });

  it("waits for a live holder and gives up after the timeout with LAYOUT_LOCKED naming it", async () => {
    const lock = join(dir, "live.lock");
    await writeFile(lock, JSON.stringify({ pid: process.pid, host: hostname(), id: "someone-else" }));
    await assert.rejects(withFileLock(lock, () => Promise.resolve("never"), { timeoutMs: 300 }), (error: Error & { code?: string; hint?: string }) => {
      assert.equal(error.code, "LAYOUT_LOCKED");
      assert.match(error.message, new RegExp(`held by process ${process.pid} on `));
      assert.match(error.hint ?? "", /another imagespec/);
      return true;
    });
    // The holder's lock is untouched.
    assert.match(await readFile(lock, "utf8"), /someone-else/);
  });
});
