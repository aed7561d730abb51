// ECR registry tokens kept between uses: in memory, and on disk so that the next process (the
// next CLI run, a CI step) does not call GetAuthorizationToken again. A token is reused until half
// its lifetime has passed (ECR's live 12 hours), so a cached one never expires mid-push.
//
// On disk: one JSON file per region, account and identity, mode 0600 in a 0700 folder under the
// user's cache dir ($XDG_CACHE_HOME/imagespec/ecr-tokens). The identity part of the name is a
// sha256 of the access key id, never the key itself; the files hold registry passwords, which is
// exactly what `docker login` writes to ~/.docker/config.json, with tighter permissions.
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";

export interface CachedToken {
  /** The registry password (the part after `AWS:`). */
  readonly password: string;
  /** Milliseconds since the epoch. */
  readonly fetchedAt: number;
  readonly expiresAt: number;
}

export interface EcrTokenCacheOptions {
  /** Folder for the files; false keeps tokens in memory only. Default defaultTokenCacheDir(). */
  readonly dir?: string | false;
  /** The clock (tests inject one). */
  readonly now?: () => number;
}

/** `$XDG_CACHE_HOME/imagespec/ecr-tokens`, else `~/.cache/imagespec/ecr-tokens`. */
export function defaultTokenCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME || join(env.HOME || homedir(), ".cache");
  return join(base, "imagespec", "ecr-tokens");
}

/** The cache key of one registry token: region, account (or `public`) and a hash of the signing identity. */
export function tokenCacheKey(region: string, account: string, accessKeyId: string): string {
  const identity = createHash("sha256").update(accessKeyId, "utf8").digest("hex").slice(0, 32);
  return `${region}_${account}_${identity}`;
}

/** True while a token is within the first half of its lifetime. */
export function tokenFresh(token: CachedToken, now: number): boolean {
  return now < token.fetchedAt + (token.expiresAt - token.fetchedAt) / 2;
}

const KEY = /^[a-z0-9-]+_[a-z0-9]+_[0-9a-f]{32}$/;

export class EcrTokenCache {
  private readonly memory = new Map<string, CachedToken>();
  readonly dir: string | undefined;
  private readonly now: () => number;

  constructor(options: EcrTokenCacheOptions = {}) {
    this.dir = options.dir === false ? undefined : (options.dir ?? defaultTokenCacheDir());
    this.now = options.now ?? Date.now;
  }

  /** The file a key is stored in (undefined without a disk cache). */
  file(key: string): string | undefined {
    if (!KEY.test(key)) throw new Error(`invalid ECR token cache key ${key}`);
    return this.dir === undefined ? undefined : join(this.dir, `${key}.json`);
  }

  /** A token still in the first half of its life, from memory or disk. */
  async get(key: string): Promise<CachedToken | undefined> {
    const now = this.now();
    const inMemory = this.memory.get(key);
    if (inMemory && tokenFresh(inMemory, now)) return inMemory;
    const onDisk = await this.read(key);
    if (onDisk && tokenFresh(onDisk, now)) {
      this.memory.set(key, onDisk);
      return onDisk;
    }
    return undefined;
  }

  async set(key: string, token: CachedToken): Promise<void> {
    this.memory.set(key, token);
    const file = this.file(key);
    if (file === undefined || this.dir === undefined) return;
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      // Written under a random name with 0600 from the start, then renamed: never readable by others, never half-written.
      const temp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
      await writeFile(temp, `${JSON.stringify({ version: 1, ...token })}\n`, { mode: 0o600, flag: "wx" });
      await rename(temp, file);
      await this.prune(key);
    } catch {
      // A read-only or full disk only costs the next process a GetAuthorizationToken call.
    }
  }

  /** Forgets a token (memory and disk): the registry refused it. */
  async delete(key: string): Promise<void> {
    this.memory.delete(key);
    const file = this.file(key);
    if (file !== undefined) await rm(file, { force: true }).catch(() => undefined);
  }

  /** Removes other entries whose token has expired (old identities, temporary keys). */
  private async prune(keep: string): Promise<void> {
    if (this.dir === undefined) return;
    const now = this.now();
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      const key = name.replace(/\.json$/, "");
      if (key === keep || key === name || !KEY.test(key)) continue;
      const token = await this.read(key);
      if (token !== undefined && token.expiresAt <= now) await rm(join(this.dir, name), { force: true }).catch(() => undefined);
    }
  }

  private async read(key: string): Promise<CachedToken | undefined> {
    const file = this.file(key);
    if (file === undefined) return undefined;
    try {
      const info = await stat(file);
      // A file others can read or write is not one we wrote; do not trust (or use) it.
      if ((info.mode & 0o077) !== 0 || (typeof process.getuid === "function" && info.uid !== process.getuid())) return undefined;
      const parsed = JSON.parse(await readFile(file, "utf8")) as Partial<CachedToken> & { version?: unknown };
      if (parsed.version !== 1 || typeof parsed.password !== "string" || typeof parsed.fetchedAt !== "number" || typeof parsed.expiresAt !== "number") return undefined;
      return { password: parsed.password, fetchedAt: parsed.fetchedAt, expiresAt: parsed.expiresAt };
    } catch {
      return undefined;
    }
  }
}
