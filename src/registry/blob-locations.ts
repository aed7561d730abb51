// Which repositories of a registry are known to hold a blob, remembered across runs so a push can
// mount a layer from where it already is instead of sending it again (go-containerregistry mounts
// only from the sources of the image in hand; this also remembers what earlier pushes and pulls
// of this tool saw). One small JSON file under the cache dir: bounded (the least recently seen
// digests are dropped), written to a temp name and renamed (a crash leaves the old file), merged
// with what another process wrote meanwhile. A wrong entry costs one declined mount, never a
// wrong image: the registry checks that the source holds the blob.
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";

/** Repositories remembered per blob: the most recently seen first. */
export const REPOSITORIES_PER_BLOB = 4;
/** Blobs remembered in all, over every registry. */
export const MAX_REMEMBERED_BLOBS = 8192;

const FORMAT = 1;

interface Entry {
  /** Most recently seen first. */
  repositories: string[];
  /** When a repository was last added (ms since the epoch): the oldest entries go first. */
  seen: number;
}

interface StoredFile {
  readonly format: number;
  /** `registry host` + space + `sha256:...` -> entry. */
  readonly blobs: Record<string, Entry>;
}

export class BlobLocations {
  private loaded: Promise<Map<string, Entry>> | undefined;
  /** Changes since the last save, replayed over the file's newer content when saving. */
  private readonly added = new Map<string, { repository: string; seen: number }[]>();
  private readonly forgotten = new Map<string, Set<string>>();
  private saving: Promise<void> = Promise.resolve();

  /** `file`: the JSON file (created on the first save). */
  constructor(
    readonly file: string,
    private readonly limits: { readonly blobs?: number; readonly repositoriesPerBlob?: number } = {},
  ) {}

  /** Repositories of `registry` that held `digest` when last seen, most recent first. */
  async repositories(registry: string, digest: string): Promise<string[]> {
    const entry = (await this.load()).get(key(registry, digest));
    return entry ? [...entry.repositories] : [];
  }

  /** `repository` of `registry` holds `digest` (it was pushed, mounted, found or pulled there). */
  async add(registry: string, digest: string, repository: string, now = Date.now()): Promise<void> {
    const map = await this.load();
    const k = key(registry, digest);
    apply(map, k, repository, now, this.perBlob);
    const list = this.added.get(k) ?? [];
    list.push({ repository, seen: now });
    this.added.set(k, list);
    this.forgotten.get(k)?.delete(repository);
  }

  /** `repository` turned out not to hold `digest` (a mount from it was declined). */
  async forget(registry: string, digest: string, repository: string): Promise<void> {
    const map = await this.load();
    const k = key(registry, digest);
    drop(map, k, repository);
    const set = this.forgotten.get(k) ?? new Set<string>();
    set.add(repository);
    this.forgotten.set(k, set);
    const added = this.added.get(k)?.filter((a) => a.repository !== repository);
    if (added) this.added.set(k, added);
  }

  /**
   * Writes what was learned, merged over the file as it is now (another build may have saved
   * since this one read it). Failures are swallowed: the store is a shortcut, never a reason to
   * fail a push.
   */
  save(): Promise<void> {
    this.saving = this.saving.then(() => this.write().catch(() => undefined));
    return this.saving;
  }

  private async write(): Promise<void> {
    if (this.added.size === 0 && this.forgotten.size === 0) return;
    // Taken before the first await: what is learned while writing goes into the next save.
    const added = [...this.added];
    const forgotten = [...this.forgotten];
    this.added.clear();
    this.forgotten.clear();
    const map = await readStore(this.file);
    for (const [k, list] of added) for (const { repository, seen } of list) apply(map, k, repository, seen, this.perBlob);
    for (const [k, set] of forgotten) for (const repository of set) drop(map, k, repository);
    const limit = this.limits.blobs ?? MAX_REMEMBERED_BLOBS;
    const entries = [...map.entries()].sort((a, b) => b[1].seen - a[1].seen).slice(0, limit);
    const stored: StoredFile = { format: FORMAT, blobs: Object.fromEntries(entries) };
    await mkdir(dirname(this.file), { recursive: true });
    const temp = `${this.file}.${randomBytes(6).toString("hex")}.tmp`;
    try {
      await writeFile(temp, JSON.stringify(stored));
      await rename(temp, this.file);
    } finally {
      await rm(temp, { force: true });
    }
  }

  private get perBlob(): number {
    return this.limits.repositoriesPerBlob ?? REPOSITORIES_PER_BLOB;
  }

  private load(): Promise<Map<string, Entry>> {
    this.loaded ??= readStore(this.file);
    return this.loaded;
  }
}

function key(registry: string, digest: string): string {
  return `${registry} ${digest}`;
}

function apply(map: Map<string, Entry>, k: string, repository: string, seen: number, perBlob: number): void {
  const entry = map.get(k);
  const others = entry ? entry.repositories.filter((r) => r !== repository) : [];
  map.set(k, { repositories: [repository, ...others].slice(0, perBlob), seen: Math.max(seen, entry?.seen ?? 0) });
}

function drop(map: Map<string, Entry>, k: string, repository: string): void {
  const entry = map.get(k);
  if (!entry) return;
  const repositories = entry.repositories.filter((r) => r !== repository);
  if (repositories.length === 0) map.delete(k);
  else map.set(k, { ...entry, repositories });
}

/** The file's entries; an absent, unreadable or foreign file is an empty store. */
async function readStore(file: string): Promise<Map<string, Entry>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, "utf8"));
  } catch {
    return new Map();
  }
  const map = new Map<string, Entry>();
  const stored = parsed as Partial<StoredFile> | null;
  if (stored?.format !== FORMAT || typeof stored.blobs !== "object" || stored.blobs === null) return map;
  for (const [k, value] of Object.entries(stored.blobs)) {
    const entry = value as Partial<Entry> | null;
    if (!/^\S+ sha256:[a-f0-9]{64}$/.test(k) || !Array.isArray(entry?.repositories) || typeof entry.seen !== "number") continue;
    const repositories = entry.repositories.filter((r): r is string => typeof r === "string" && r !== "");
    if (repositories.length > 0) map.set(k, { repositories, seen: entry.seen });
  }
  return map;
}
