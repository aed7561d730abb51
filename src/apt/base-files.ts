// The few files of a base image the apt step needs (os-release, apt sources and keyrings, dpkg's
// database, ld.so.conf, alternatives), read out of its layers with whiteouts applied, plus every
// symlink (to map package paths through `/bin -> usr/bin` and friends). Each layer's tar is
// streamed once and only those small files are kept; the result is cached per layer digest, so a
// base is read once per machine.
import { readFile } from "node:fs/promises";
import { join, posix } from "node:path";
import { pipeline, type Readable } from "node:stream";
import { extract as tarExtract } from "tar-stream";
import { writeJsonRecord } from "../json-record.js";

/** A base layer as the apt step reads it: its digest (the cache key) and its uncompressed tar. */
export interface BaseLayerSource {
  readonly digest: string;
  openTar(): Promise<Readable>;
}

export interface BaseFiles {
  /** Contents of the wanted files, by absolute path (as stored, not through symlinks). */
  readonly files: ReadonlyMap<string, Buffer>;
  /** Every symlink of the merged file system: path -> link text. */
  readonly symlinks: ReadonlyMap<string, string>;
  /** Directories near the root (up to three levels) and under the wanted folders. */
  readonly dirs: ReadonlySet<string>;
}

interface LayerFiles {
  files: [string, Buffer][];
  symlinks: [string, string][];
  dirs: string[];
  /** Other paths of the layer that shadow what is below (files not kept, hardlinks, ...), in the near-root or wanted areas. */
  others: string[];
  whiteouts: string[];
  opaqueDirs: string[];
}

/** Bump when what is recorded changes. */
const FORMAT = 2;
const FILE_LIMIT = 64 << 20;

const WANTED_FILES = new Set([
  "/etc/os-release",
  "/usr/lib/os-release",
  "/etc/apt/sources.list",
  "/etc/apt/trusted.gpg",
  "/var/lib/dpkg/status",
  "/etc/ld.so.conf",
  "/etc/ca-certificates.conf",
  "/etc/debian_version",
  "/etc/dpkg/dpkg.cfg",
]);
const WANTED_DIRS = [
  "/etc/apt/sources.list.d",
  "/etc/apt/trusted.gpg.d",
  "/etc/apt/keyrings",
  "/usr/share/keyrings",
  "/var/lib/dpkg/status.d",
  "/etc/ld.so.conf.d",
  "/var/lib/dpkg/alternatives",
  "/etc/dpkg/dpkg.cfg.d",
];

/** Whether the apt step keeps this file's content. */
export function isWantedPath(path: string): boolean {
  if (WANTED_FILES.has(path)) return true;
  const dir = posix.dirname(path);
  return WANTED_DIRS.includes(dir);
}

function isNearRoot(path: string): boolean {
  return path.split("/").length <= 4 || WANTED_DIRS.some((d) => path.startsWith(`${d}/`));
}

function cachePath(cacheDir: string, digest: string): string {
  return join(cacheDir, "apt", "base-files", `${digest.replace(/^sha256:/, "")}.json`);
}

/** The merged wanted files of the layers (bottom first), each layer read from the cache or streamed once. */
export async function readBaseFiles(layers: readonly BaseLayerSource[], options: { cacheDir: string }): Promise<BaseFiles> {
  const listings: LayerFiles[] = [];
  for (const layer of layers) listings.push(await cachedLayerFiles(layer, options.cacheDir));
  return mergeLayerFiles(listings);
}

async function cachedLayerFiles(layer: BaseLayerSource, cacheDir: string): Promise<LayerFiles> {
  const path = cachePath(cacheDir, layer.digest);
  try {
    const record = JSON.parse(await readFile(path, "utf8")) as { format: number; digest: string; layer: Omit<LayerFiles, "files"> & { files: [string, string][] } };
    if (record.format === FORMAT && record.digest === layer.digest) {
      return { ...record.layer, files: record.layer.files.map(([p, b]) => [p, Buffer.from(b, "base64")]) };
    }
  } catch {
    // a miss
  }
  const read = await readLayerFiles(await layer.openTar());
  await writeJsonRecord(path, { format: FORMAT, digest: layer.digest, layer: { ...read, files: read.files.map(([p, b]) => [p, b.toString("base64")]) } });
  return read;
}

/** Streams one layer's tar, keeping the wanted files' contents and the symlinks. */
export async function readLayerFiles(tar: Readable): Promise<LayerFiles> {
  const out: LayerFiles = { files: [], symlinks: [], dirs: [], others: [], whiteouts: [], opaqueDirs: [] };
  const kept = new Map<string, Buffer>();
  const extract = tarExtract();
  pipeline(tar, extract, () => {});
  for await (const entry of extract) {
    const path = posix.normalize(`/${entry.header.name}`).replace(/(.)\/+$/, "$1");
    const name = posix.basename(path);
    const type = entry.header.type;
    if (name === ".wh..wh..opq") out.opaqueDirs.push(posix.dirname(path));
    else if (name.startsWith(".wh.")) out.whiteouts.push(posix.join(posix.dirname(path), name.slice(4)));
    else if (type === "symlink") out.symlinks.push([path, entry.header.linkname ?? ""]);
    else if (type === "directory") {
      if (isNearRoot(path)) out.dirs.push(path);
    } else if ((type === "file" || type === "contiguous-file") && isWantedPath(path) && (entry.header.size ?? 0) <= FILE_LIMIT) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      const content = Buffer.concat(chunks);
      kept.set(path, content);
      out.files.push([path, content]);
      continue;
    } else if (type === "link" && isWantedPath(path)) {
      const target = posix.normalize(`/${entry.header.linkname ?? ""}`);
      const content = kept.get(target);
      if (content !== undefined) out.files.push([path, content]);
      else out.others.push(path);
    } else if (isNearRoot(path)) {
      out.others.push(path);
    }
    entry.resume();
  }
  return out;
}

export function mergeLayerFiles(layers: readonly LayerFiles[]): BaseFiles {
  const files = new Map<string, Buffer>();
  const symlinks = new Map<string, string>();
  const dirs = new Set<string>();
  const removeBelow = (dir: string) => {
    const prefix = dir === "/" ? "/" : `${dir}/`;
    for (const map of [files, symlinks]) for (const p of map.keys()) if (p.startsWith(prefix)) map.delete(p);
    for (const p of dirs) if (p.startsWith(prefix)) dirs.delete(p);
  };
  const remove = (path: string) => {
    files.delete(path);
    symlinks.delete(path);
    dirs.delete(path);
    removeBelow(path);
  };
  for (const layer of layers) {
    for (const dir of layer.opaqueDirs) removeBelow(dir);
    for (const path of layer.whiteouts) remove(path);
    for (const path of layer.others) remove(path);
    for (const [path, target] of layer.symlinks) {
      remove(path);
      symlinks.set(path, target);
    }
    for (const path of layer.dirs) {
      files.delete(path);
      symlinks.delete(path);
      dirs.add(path);
    }
    for (const [path, content] of layer.files) {
      remove(path);
      files.set(path, content);
    }
  }
  return { files, symlinks, dirs };
}

/**
 * Resolves the directories of `path` through the base's symlinks (`/bin/sh` -> `/usr/bin/sh` on
 * a merged-/usr base). The last component is resolved too when `followLast` (a directory a package
 * ships where the base has a symlink). Absolute results; undefined when a link loops.
 */
export function resolveInBase(path: string, symlinks: ReadonlyMap<string, string>, followLast = false): string | undefined {
  let parts = path.split("/").filter(Boolean);
  let hops = 0;
  for (let i = 0; i < parts.length; i++) {
    if (i === parts.length - 1 && !followLast) break;
    const here = `/${parts.slice(0, i + 1).join("/")}`;
    const target = symlinks.get(here);
    if (target === undefined) continue;
    if (++hops > 40) return undefined;
    const base = target.startsWith("/") ? target : posix.join(posix.dirname(here), target);
    parts = [...posix.normalize(base).split("/").filter(Boolean), ...parts.slice(i + 1)];
    i = -1;
  }
  return `/${parts.join("/")}`;
}

/** A file's content through symlinks (`/etc/os-release -> ../usr/lib/os-release`). */
export function baseFile(base: BaseFiles, path: string): Buffer | undefined {
  const resolved = resolveInBase(path, base.symlinks, true);
  return resolved === undefined ? undefined : base.files.get(resolved);
}
