// Pruning the local build cache: entries not used for a while (newest access or change time of
// their files) are removed, area by area; `all` empties every area. The Dockerfile builders' own storage
// (buildah/) is left to the tools (`buildah rmi`, `podman image prune`): their images are
// mounted and reference-counted, which only they can undo safely.
import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";

/** The cache's areas, each a folder of independent entries (a file, or a folder for unpacked .debs). */
export const CACHE_AREAS = [
  "layers",
  "steps",
  "listings",
  "base-python",
  "resolutions/python",
  "wheels/sha256",
  "apt/sha256",
  "apt/unpacked",
  "apt/base-files",
  "digests",
  "sent",
] as const;
/** Where downloads and layers are written before they are renamed into place. */
const TEMP_AREAS = ["wheels/tmp", "apt/tmp"] as const;
/** A temp file this old belongs to no running build. */
const TEMP_MAX_AGE_MS = 60 * 60 * 1000;

export interface PruneOptions {
  cacheDir: string;
  /** Remove entries unused for longer than this. */
  olderThanMs: number;
  /** Remove every entry, whatever its age. */
  all?: boolean;
  /** Count what would go, remove nothing. */
  dryRun?: boolean;
  now?: number;
}

export interface PruneResult {
  removed: number;
  removedBytes: number;
  kept: number;
  keptBytes: number;
  byArea: Record<string, { removed: number; removedBytes: number; kept: number; keptBytes: number }>;
}

interface Usage {
  bytes: number;
  lastUsed: number;
}

async function usage(path: string): Promise<Usage> {
  const info = await stat(path);
  // A folder's access time is left out: listing it (as this walk does) would count as use.
  const own = { bytes: info.isDirectory() ? 0 : info.size, lastUsed: info.isDirectory() ? info.mtimeMs : Math.max(info.atimeMs, info.mtimeMs) };
  if (!info.isDirectory()) return own;
  for (const child of await readdir(path)) {
    const inner = await usage(join(path, child)).catch(() => ({ bytes: 0, lastUsed: 0 }));
    own.bytes += inner.bytes;
    own.lastUsed = Math.max(own.lastUsed, inner.lastUsed);
  }
  return own;
}

async function entries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
}

export async function pruneCache(options: PruneOptions): Promise<PruneResult> {
  const now = options.now ?? Date.now();
  const result: PruneResult = { removed: 0, removedBytes: 0, kept: 0, keptBytes: 0, byArea: {} };
  const areas = [...CACHE_AREAS.map((a) => ({ area: a, maxAge: options.olderThanMs })), ...TEMP_AREAS.map((a) => ({ area: a, maxAge: TEMP_MAX_AGE_MS }))];
  // The layer cache also holds the compressor's temp files (.tmp-*): the temp age applies to them.
  for (const { area, maxAge } of areas) {
    const totals = { removed: 0, removedBytes: 0, kept: 0, keptBytes: 0 };
    const dir = join(options.cacheDir, area);
    for (const name of await entries(dir)) {
      const path = join(dir, name);
      const used = await usage(path).catch(() => undefined);
      if (!used) continue;
      const limit = name.startsWith(".tmp-") ? TEMP_MAX_AGE_MS : maxAge;
      if (options.all || now - used.lastUsed > limit) {
        if (!options.dryRun) await rm(path, { recursive: true, force: true });
        totals.removed++;
        totals.removedBytes += used.bytes;
      } else {
        totals.kept++;
        totals.keptBytes += used.bytes;
      }
    }
    if (totals.removed + totals.kept > 0) result.byArea[area] = totals;
    result.removed += totals.removed;
    result.removedBytes += totals.removedBytes;
    result.kept += totals.kept;
    result.keptBytes += totals.keptBytes;
  }
  return result;
}

/** `30d`, `12h`, `90m`, `0` -> milliseconds; undefined when it does not parse. */
export function parseAge(text: string): number | undefined {
  const match = /^\s*(\d+)\s*(d|h|m|s)?\s*$/.exec(text);
  if (!match) return undefined;
  const unit = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 }[(match[2] ?? "d") as "d" | "h" | "m" | "s"];
  return Number(match[1]) * unit;
}
