// One writer at a time for a read-modify-write of a shared file (a layout's index.json). Inside a
// process, callers queue on a promise chain per lock path; across processes, the lock is a file
// created with O_EXCL that names its owner. A lock left by a process that died (same host, PID
// gone) or older than `staleMs` is broken, so a SIGKILLed build never leaves anything to clean
// by hand.
import { randomUUID } from "node:crypto";
import { link, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { ImagespecError } from "../errors.js";

export interface FileLockOptions {
  /** Give up waiting after this long (default 60 s). */
  readonly timeoutMs?: number;
  /** A lock file older than this is taken to be left over (default 30 s; a holder keeps it for milliseconds). */
  readonly staleMs?: number;
}

interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly id: string;
}

const queues = new Map<string, Promise<unknown>>();

/** Runs `fn` while holding `lockPath`, after every earlier caller in this process and any other process. */
export async function withFileLock<T>(lockPath: string, fn: () => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const path = resolve(lockPath);
  const previous = queues.get(path) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(async () => {
    const release = await acquire(path, options);
    try {
      return await fn();
    } finally {
      await release();
    }
  });
  const tail = run.catch(() => undefined);
  queues.set(path, tail);
  void tail.then(() => {
    if (queues.get(path) === tail) queues.delete(path);
  });
  return run;
}

async function acquire(path: string, options: FileLockOptions): Promise<() => Promise<void>> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const staleMs = options.staleMs ?? 30_000;
  const owner: LockOwner = { pid: process.pid, host: hostname(), id: randomUUID() };
  const text = JSON.stringify(owner);
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFile(path, text, { flag: "wx" });
      return async () => {
        // Only our own lock is removed: a lock broken as stale and re-taken is someone else's.
        if ((await readFile(path, "utf8").catch(() => undefined)) === text) await rm(path, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const held = await readFile(path, "utf8").catch(() => undefined);
    const broken = held !== undefined && (await isStale(path, held, staleMs)) && (await breakLock(path, held));
    // Checked after a break too: a lock that cannot be broken (no permission) must not spin forever.
    if (Date.now() >= deadline) {
      const who = parseOwner(held);
      throw new ImagespecError("LAYOUT_LOCKED", `${path} is held${who ? ` by process ${who.pid} on ${who.host}` : ""} for more than ${Math.round(timeoutMs / 1000)} s`, {
        hint: "another imagespec is writing to the same place; wait for it, or remove the lock file if no imagespec is running",
      });
    }
    if (!broken) await sleep(Math.min(5 * 2 ** Math.min(attempt, 5), 100) + Math.random() * 10);
  }
}

async function isStale(path: string, held: string, staleMs: number): Promise<boolean> {
  const owner = parseOwner(held);
  if (owner && owner.host === hostname() && !isAlive(owner.pid)) return true;
  const info = await stat(path).catch(() => undefined);
  // A lock file not yet written (created, empty) is young: its writer is between open and write.
  return info !== undefined && Date.now() - info.mtimeMs > staleMs;
}

/**
 * Moves the stale lock aside; if what was moved is not the lock judged stale (a new holder won a
 * race), it is put back. True when the stale lock is gone.
 */
async function breakLock(path: string, stale: string): Promise<boolean> {
  const aside = `${path}.stale-${randomUUID()}`;
  try {
    await rename(path, aside);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ENOENT"; // someone else broke it first
  }
  const moved = await readFile(aside, "utf8").catch(() => undefined);
  if (moved !== stale) await link(aside, path).catch(() => undefined);
  await rm(aside, { force: true });
  return moved === stale;
}

function parseOwner(text: string | undefined): LockOwner | undefined {
  if (text === undefined) return undefined;
  try {
    const value = JSON.parse(text) as Partial<LockOwner>;
    return typeof value.pid === "number" && typeof value.host === "string" && typeof value.id === "string" ? (value as LockOwner) : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
