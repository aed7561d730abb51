// The base image's file system as the Python step needs to see it: which paths exist, what type
// they are and where links point, with the layers merged the way a container runtime stacks them
// (OCI whiteouts and opaque directories applied). Each layer's tar is streamed once and nothing
// but its listing is kept; the listing is cached by the layer's digest, so a base is read once per
// machine, and a layer shared by several bases once in all. The layers themselves are never
// stored or uploaded again.
import { posix, join } from "node:path";
import { pipeline } from "node:stream";
import { extract as tarExtract, type Header } from "tar-stream";
import type { Blob } from "../oci/index.js";
import type { BaseImagePath } from "../python/index.js";
import { DEFAULT_MUSL, type Libc } from "../python/index.js";
import { readJsonRecord, writeJsonRecord } from "../json-record.js";
import { digestHex } from "./cache-dir.js";
import { openLayerTar } from "./layer-stream.js";

/** What one layer adds and removes. */
export interface LayerListing {
  readonly entries: readonly BaseImagePath[];
  /** Paths a `.wh.<name>` file deletes from the layers below. */
  readonly whiteouts: readonly string[];
  /** Directories a `.wh..wh..opq` file empties of what the layers below put there. */
  readonly opaqueDirs: readonly string[];
  /** The C library, when this layer carries a package database that names it. */
  readonly libc?: Libc;
}

export interface BaseListing {
  readonly paths: readonly BaseImagePath[];
  /** From the topmost package database that names it; undefined when none does. */
  readonly libc?: Libc;
}

/** Bump when what a listing records changes, so old cache files are read again. */
const LISTING_FORMAT = 1;
const WHITEOUT_PREFIX = ".wh.";
const OPAQUE_MARKER = ".wh..wh..opq";
/** Package databases are read into memory to find the libc version; bigger ones are skipped. */
const PACKAGE_DB_LIMIT = 32 << 20;
const DPKG_STATUS = "/var/lib/dpkg/status";
const APK_INSTALLED = "/lib/apk/db/installed";

export function listingCachePath(cacheDir: string, layerDigest: string): string {
  return join(cacheDir, "listings", `${digestHex(layerDigest)}.json`);
}

/** The merged listing of an image's layers (bottom first), each read from the cache or streamed once. */
export async function readBaseListing(layers: readonly Blob[], options: { cacheDir: string }): Promise<BaseListing> {
  const listings: LayerListing[] = [];
  for (const layer of layers) listings.push(await cachedLayerListing(layer, options.cacheDir));
  return mergeLayerListings(listings);
}

/** Whether every layer's listing is in the cache already (reading the base then costs no download). */
export async function baseListingCached(layers: readonly Blob[], options: { cacheDir: string }): Promise<boolean> {
  for (const layer of layers) {
    if (parseCachedListing(await readJsonRecord(listingCachePath(options.cacheDir, layer.descriptor.digest)), layer.descriptor.digest) === undefined) return false;
  }
  return true;
}

async function cachedLayerListing(layer: Blob, cacheDir: string): Promise<LayerListing> {
  const path = listingCachePath(cacheDir, layer.descriptor.digest);
  const cached = parseCachedListing(await readJsonRecord(path), layer.descriptor.digest);
  if (cached !== undefined) return cached;
  const listing = await listLayer(layer);
  await writeJsonRecord(path, {
    format: LISTING_FORMAT,
    digest: layer.descriptor.digest,
    entries: listing.entries.map((e) => (e.linkTarget === undefined ? [e.path, e.type] : [e.path, e.type, e.linkTarget])),
    whiteouts: listing.whiteouts,
    opaqueDirs: listing.opaqueDirs,
    ...(listing.libc !== undefined ? { libc: listing.libc } : {}),
  });
  return listing;
}

function parseCachedListing(value: unknown, digest: string): LayerListing | undefined {
  const record = value as { format?: unknown; digest?: unknown; entries?: unknown; whiteouts?: unknown; opaqueDirs?: unknown; libc?: Libc } | undefined;
  if (record?.format !== LISTING_FORMAT || record.digest !== digest) return undefined;
  if (!Array.isArray(record.entries) || !Array.isArray(record.whiteouts) || !Array.isArray(record.opaqueDirs)) return undefined;
  const entries: BaseImagePath[] = [];
  for (const item of record.entries as unknown[]) {
    if (!Array.isArray(item) || typeof item[0] !== "string" || typeof item[1] !== "string") return undefined;
    entries.push(typeof item[2] === "string" ? { path: item[0], type: item[1], linkTarget: item[2] } : { path: item[0], type: item[1] });
  }
  return {
    entries,
    whiteouts: record.whiteouts as string[],
    opaqueDirs: record.opaqueDirs as string[],
    ...(record.libc !== undefined ? { libc: record.libc } : {}),
  };
}

/** Streams one layer's tar and records its entries; file contents are skipped, not stored. */
export async function listLayer(layer: Blob): Promise<LayerListing> {
  const entries: BaseImagePath[] = [];
  const whiteouts: string[] = [];
  const opaqueDirs: string[] = [];
  let libc: Libc | undefined;
  let musl = false;
  const extract = tarExtract();
  // pipeline carries a failure of the blob stream (a digest mismatch at its end) into the loop below.
  pipeline(await openLayerTar(layer), extract, () => {});
  for await (const entry of extract) {
    const path = imagePath(entry.header.name);
    if (path === "/") {
      entry.resume();
      continue;
    }
    const name = posix.basename(path);
    if (name === OPAQUE_MARKER) opaqueDirs.push(posix.dirname(path));
    else if (name.startsWith(WHITEOUT_PREFIX)) whiteouts.push(posix.join(posix.dirname(path), name.slice(WHITEOUT_PREFIX.length)));
    else entries.push(listedPath(path, entry.header));

    if (/^\/(usr\/)?lib\/ld-musl-[^/]+\.so\.1$/.test(path)) musl = true;
    if ((path === DPKG_STATUS || path === APK_INSTALLED) && entry.header.type === "file" && (entry.header.size ?? 0) <= PACKAGE_DB_LIMIT) {
      const text = (await readAll(entry)).toString("utf8");
      libc = (path === DPKG_STATUS ? glibcFromDpkgStatus(text) : muslFromApkInstalled(text)) ?? libc;
    } else {
      entry.resume();
    }
  }
  if (libc === undefined && musl) libc = DEFAULT_MUSL;
  return { entries, whiteouts, opaqueDirs, ...(libc !== undefined ? { libc } : {}) };
}

/** Stacks layer listings bottom to top: whiteouts remove from the layers below, then the layer's entries land. */
export function mergeLayerListings(listings: readonly LayerListing[]): BaseListing {
  const tree = new Map<string, BaseImagePath>();
  let libc: Libc | undefined;
  for (const listing of listings) {
    for (const dir of listing.opaqueDirs) removeBelow(tree, dir);
    for (const path of listing.whiteouts) {
      tree.delete(path);
      removeBelow(tree, path);
    }
    for (const entry of listing.entries) {
      const previous = tree.get(entry.path);
      // A file or link that replaces a directory takes the directory's contents with it.
      if (previous?.type === "dir" && entry.type !== "dir") removeBelow(tree, entry.path);
      tree.set(entry.path, entry);
    }
    if (listing.libc !== undefined) libc = listing.libc;
  }
  return { paths: [...tree.values()], ...(libc !== undefined ? { libc } : {}) };
}

function removeBelow(tree: Map<string, BaseImagePath>, dir: string): void {
  const prefix = dir === "/" ? "/" : `${dir}/`;
  for (const path of tree.keys()) if (path.startsWith(prefix)) tree.delete(path);
}

/** `./usr/bin/` -> `/usr/bin`. */
function imagePath(name: string): string {
  return posix.normalize(`/${name}`).replace(/(.)\/+$/, "$1");
}

function listedPath(path: string, header: Header): BaseImagePath {
  switch (header.type) {
    case "directory":
      return { path, type: "dir" };
    case "symlink":
      return { path, type: "symlink", linkTarget: header.linkname ?? "" };
    case "link":
      // A hardlink names another path of the archive, written from its root.
      return { path, type: "hardlink", linkTarget: imagePath(header.linkname ?? "") };
    case "file":
    case "contiguous-file":
      return { path, type: "file" };
    default:
      return { path, type: header.type };
  }
}

async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** `Version: 2.36-9+deb12u4` of the `libc6` paragraph -> glibc 2.36. */
export function glibcFromDpkgStatus(status: string): Libc | undefined {
  for (const paragraph of status.split(/\n\s*\n/)) {
    if (!/^Package: libc6$/m.test(paragraph) || !/^Status: .* installed$/m.test(paragraph)) continue;
    const version = /^Version: (?:\d+:)?(\d+)\.(\d+)/m.exec(paragraph);
    if (version) return { family: "glibc", version: `${version[1]}.${version[2]}` };
  }
  return undefined;
}

/** `V:1.2.4-r2` of the `P:musl` record -> musl 1.2. */
export function muslFromApkInstalled(installed: string): Libc | undefined {
  for (const record of installed.split(/\n\s*\n/)) {
    if (!/^P:musl$/m.test(record)) continue;
    const version = /^V:(\d+)\.(\d+)/m.exec(record);
    if (version) return { family: "musl", version: `${version[1]}.${version[2]}` };
  }
  return undefined;
}
