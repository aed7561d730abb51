// OCI image layouts on disk (`oci-layout`, `index.json`, `blobs/sha256/<hex>`), readable and
// writable by skopeo's `oci:DIR:TAG` transport: the tag is the `org.opencontainers.image.ref.name`
// annotation of an index.json entry. Blobs are streamed to a temporary file, verified, then
// renamed, so a partial or corrupt blob is never visible under its digest; index.json is replaced
// the same way, under a lock (index.json.lock), so concurrent writers in one process or several
// never lose each other's entries. Reading gives file-backed Images whose blobs verify their
// digest as they stream.
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { randomUUID } from "node:crypto";
import { dirname, join, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import type { Readable } from "node:stream";
import { ImagespecError } from "../errors.js";
import { withFileLock } from "./file-lock.js";
import { DigestingStream, DigestMismatchError, isDigest, sha256, type Digest } from "./digest.js";
import { bufferBlob, isImageIndex, type Blob, type Image, type ImageIndex } from "./image.js";
import { isIndexMediaType, isManifestMediaType, MediaType } from "./media-types.js";
import { formatPlatform, parsePlatform, platformMatches, type Descriptor, type Index, type Manifest, type Platform } from "./types.js";

export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";
const LAYOUT_VERSION = "1.0.0";

export class LayoutError extends ImagespecError {
  constructor(dir: string, problem: string, hint: string, code = "LAYOUT_INVALID") {
    super(code, `OCI layout ${dir}: ${problem}`, { hint });
  }
}

/** `oci:DIR[:TAG]`, skopeo's syntax: the directory ends at the first ':' after the prefix. */
export interface LayoutReference {
  readonly dir: string;
  readonly tag?: string;
}

export const LAYOUT_PREFIX = "oci:";

export function isLayoutReference(input: string): boolean {
  return input.startsWith(LAYOUT_PREFIX);
}

export function parseLayoutReference(input: string): LayoutReference {
  if (!isLayoutReference(input)) {
    throw new ImagespecError("INVALID_REFERENCE", `${JSON.stringify(input)} is not an OCI layout reference`, { hint: "write a layout as oci:DIR or oci:DIR:TAG" });
  }
  const rest = input.slice(LAYOUT_PREFIX.length);
  const colon = rest.indexOf(":");
  const dir = colon < 0 ? rest : rest.slice(0, colon);
  const tag = colon < 0 ? undefined : rest.slice(colon + 1);
  if (dir === "") throw new ImagespecError("INVALID_REFERENCE", `${JSON.stringify(input)} names no directory`, { hint: "write a layout as oci:DIR or oci:DIR:TAG" });
  if (tag !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$/.test(tag)) {
    throw new ImagespecError("INVALID_REFERENCE", `${JSON.stringify(input)}: ${JSON.stringify(tag)} is not a valid image name in a layout`, {
      hint: "use letters, digits and . _ - : / @ + after the directory, e.g. oci:out:v1",
    });
  }
  return { dir, ...(tag !== undefined ? { tag } : {}) };
}

export function formatLayoutReference(ref: LayoutReference): string {
  return `${LAYOUT_PREFIX}${ref.dir}${ref.tag !== undefined ? `:${ref.tag}` : ""}`;
}

export function blobPath(dir: string, digest: string): string {
  const [algorithm, hex] = digest.split(":");
  if (!algorithm || !hex || !isDigest(digest)) throw new LayoutError(dir, `${JSON.stringify(digest)} is not a sha256 digest`, "the layout or image is malformed");
  return join(dir, "blobs", algorithm, hex);
}

export interface LayoutWriteResult {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  /** Blobs (layers, configs, manifests) newly written, and those already present. */
  readonly blobsWritten: number;
  readonly blobsExisting: number;
  readonly bytesWritten: number;
}

/** Writes an image or index into a layout (created if missing) and names it `tag` in index.json. */
export async function writeLayout(dir: string, image: Image | ImageIndex, options: { tag?: string } = {}): Promise<LayoutWriteResult> {
  await ensureLayout(dir);
  const images = isImageIndex(image) ? image.images : [image];
  const blobs = new Map<string, Blob>();
  for (const img of images) {
    for (const blob of [img.config, ...img.layers]) blobs.set(blob.descriptor.digest, blob);
    blobs.set(img.digest, bufferBlob(img.mediaType, img.manifestBytes));
  }
  if (isImageIndex(image)) blobs.set(image.digest, bufferBlob(image.mediaType, image.indexBytes));
  let written = 0;
  let existing = 0;
  let bytes = 0;
  // Content before the manifests that refer to it: a crash leaves unreferenced blobs, never dangling refs.
  for (const blob of blobs.values()) {
    if (await writeBlob(dir, blob)) {
      written++;
      bytes += blob.descriptor.size;
    } else {
      existing++;
    }
  }
  const topBytes = isImageIndex(image) ? image.indexBytes : image.manifestBytes;
  const entry: Descriptor = {
    mediaType: image.mediaType,
    digest: image.digest,
    size: topBytes.length,
    ...(options.tag !== undefined ? { annotations: { [REF_NAME_ANNOTATION]: options.tag } } : {}),
  };
  await updateIndex(dir, entry, options.tag);
  return { digest: image.digest, mediaType: image.mediaType, size: topBytes.length, blobsWritten: written, blobsExisting: existing, bytesWritten: bytes };
}

async function ensureLayout(dir: string): Promise<void> {
  try {
    await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  } catch (error) {
    throw cannotCreate(dir, error);
  }
  const marker = join(dir, "oci-layout");
  const current = await readFile(marker, "utf8").catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return undefined;
    throw e;
  });
  if (current === undefined) {
    await atomicWrite(marker, JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION }));
    return;
  }
  checkMarker(dir, current);
}

/**
 * Checks, before anything is read or built, that a layout can be written at `dir`: the directory
 * itself, or the nearest part of the path that exists, is a directory (`oci:/etc/passwd` is not).
 */
export async function checkLayoutDirectory(dir: string): Promise<void> {
  for (let path = resolve(dir); ; path = dirname(path)) {
    const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
      // ENOTDIR: a part further up is a file; found on the way up.
      if (error.code === "ENOENT" || error.code === "ENOTDIR") return undefined;
      throw cannotCreate(dir, error);
    });
    if (info) {
      if (!info.isDirectory()) throw notADirectory(dir, path);
      return;
    }
    if (dirname(path) === path) return;
  }
}

function notADirectory(dir: string, file: string): LayoutError {
  const where = resolve(dir) === file ? "is a file" : `goes through ${file}, which is a file`;
  return new LayoutError(dir, `${where}, not a directory`, "name a directory for the layout, e.g. oci:out or oci:out:TAG", "INVALID_LAYOUT_DIRECTORY");
}

/** Why a layout directory cannot be made, in words: a file in the way, no permission, a read-only disk. */
function cannotCreate(dir: string, error: unknown): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "ENOTDIR" || code === "EEXIST") return notADirectory(dir, resolve(dir));
  if (code === "EACCES" || code === "EPERM" || code === "EROFS") {
    return new LayoutError(dir, `cannot be created or written (${code})`, "choose a directory you can write to", "LAYOUT_NOT_WRITABLE");
  }
  return error instanceof Error ? error : new Error(String(error));
}

function checkMarker(dir: string, text: string): void {
  let version: unknown;
  try {
    version = (JSON.parse(text) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
  } catch {
    version = undefined;
  }
  if (typeof version !== "string" || !version.startsWith("1.")) {
    throw new LayoutError(dir, `oci-layout has imageLayoutVersion ${JSON.stringify(version)}, expected 1.x`, "point at an OCI image layout directory, or an empty/new one");
  }
}

/** True when written, false when the blob was already there. */
async function writeBlob(dir: string, blob: Blob): Promise<boolean> {
  const { digest, size } = blob.descriptor;
  const path = blobPath(dir, digest);
  const present = await stat(path).catch(() => undefined);
  if (present?.isFile() && present.size === size) return false;
  const temp = join(dir, "blobs", "sha256", `.tmp-${randomUUID()}`);
  try {
    const source = await blob.open();
    await pipeline(source, new DigestingStream({ digest, size, what: `blob ${digest}` }), createWriteStream(temp, { flags: "wx" }));
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  return true;
}

async function atomicWrite(path: string, text: string): Promise<void> {
  const temp = `${path}.tmp-${randomUUID()}`;
  try {
    await writeFile(temp, text, { flag: "wx" });
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

async function readIndexJson(dir: string): Promise<Index | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, "index.json"), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  let parsed: Partial<Index>;
  try {
    parsed = JSON.parse(text) as Partial<Index>;
  } catch {
    throw new LayoutError(dir, "index.json is not valid JSON", "repair or remove the layout's index.json");
  }
  if (parsed.schemaVersion !== 2 || !Array.isArray(parsed.manifests)) {
    throw new LayoutError(dir, "index.json is not a schema 2 image index", "repair or remove the layout's index.json");
  }
  return parsed as Index;
}

/** Adds the entry; a tag moves (an older entry with that name is dropped), other entries stay. */
async function updateIndex(dir: string, entry: Descriptor, tag: string | undefined): Promise<void> {
  await withFileLock(join(dir, "index.json.lock"), async () => {
    const index: Index = (await readIndexJson(dir)) ?? { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] };
    const kept = index.manifests.filter((m) => {
      const name = m.annotations?.[REF_NAME_ANNOTATION];
      if (tag !== undefined) return name !== tag;
      return !(name === undefined && m.digest === entry.digest);
    });
    await atomicWrite(join(dir, "index.json"), JSON.stringify({ ...index, manifests: [...kept, entry] }));
  });
}

export interface ReadLayoutOptions {
  /** The ref.name to read; may be omitted when the layout holds exactly one entry. */
  readonly tag?: string;
  /** Resolve an index to this platform's image. */
  readonly platform?: Platform | string;
}

/** The names (ref.name annotations) in a layout's index.json. */
export async function listLayoutTags(dir: string): Promise<string[]> {
  const index = await openIndex(dir);
  return index.manifests.flatMap((m) => (m.annotations?.[REF_NAME_ANNOTATION] !== undefined ? [m.annotations[REF_NAME_ANNOTATION]] : []));
}

async function openIndex(dir: string): Promise<Index> {
  const marker = await readFile(join(dir, "oci-layout"), "utf8").catch(() => undefined);
  if (marker === undefined) throw new LayoutError(dir, "there is no oci-layout file", "point at a directory written by imagespec, skopeo or another OCI tool", "LAYOUT_NOT_FOUND");
  checkMarker(dir, marker);
  const index = await readIndexJson(dir);
  if (!index) throw new LayoutError(dir, "there is no index.json", "the layout is incomplete; write it again", "LAYOUT_NOT_FOUND");
  return index;
}

/** What a layout holds under a name: an image, an index, or (with `platform`) the image for it. */
export async function readLayout(dir: string, options: ReadLayoutOptions = {}): Promise<Image | ImageIndex> {
  const index = await openIndex(dir);
  const entry = findEntry(dir, index, options.tag);
  if (isIndexMediaType(entry.mediaType)) {
    const imageIndex = await indexFromLayout(dir, entry);
    if (options.platform === undefined) return imageIndex;
    const wanted = typeof options.platform === "string" ? parsePlatform(options.platform) : options.platform;
    const chosen = imageIndex.index.manifests.findIndex((m) => platformMatches(wanted, m.platform));
    const image = chosen >= 0 ? imageIndex.images[chosen] : undefined;
    if (!image) {
      const have = imageIndex.index.manifests.flatMap((m) => (m.platform ? [formatPlatform(m.platform)] : []));
      throw new LayoutError(dir, `no ${formatPlatform(wanted)} image (it has: ${have.join(", ") || "no platform entries"})`, "choose a platform the image provides", "PLATFORM_NOT_FOUND");
    }
    return image;
  }
  return imageFromLayout(dir, entry);
}

export async function readLayoutImage(dir: string, options: ReadLayoutOptions = {}): Promise<Image> {
  const value = await readLayout(dir, { ...options, platform: options.platform ?? { os: "linux", architecture: "amd64" } });
  if (isImageIndex(value)) throw new LayoutError(dir, "expected an image", "pass a platform");
  return value;
}

export async function readLayoutIndex(dir: string, options: { tag?: string } = {}): Promise<ImageIndex> {
  const value = await readLayout(dir, options);
  if (!isImageIndex(value)) throw new LayoutError(dir, `${options.tag ?? "the entry"} is a single image, not an index`, "read it as an image");
  return value;
}

function findEntry(dir: string, index: Index, tag: string | undefined): Descriptor {
  const names = index.manifests.map((m) => m.annotations?.[REF_NAME_ANNOTATION]).filter((n): n is string => n !== undefined);
  if (tag === undefined) {
    const only = index.manifests.length === 1 ? index.manifests[0] : undefined;
    if (only) return only;
    throw new LayoutError(dir, index.manifests.length === 0 ? "it holds no images" : `it holds ${index.manifests.length} images; say which (${names.join(", ")})`, "write the layout as oci:DIR:TAG", "LAYOUT_TAG_REQUIRED");
  }
  const found = index.manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === tag);
  if (!found) throw new LayoutError(dir, `no image named ${JSON.stringify(tag)} (names: ${names.join(", ") || "none"})`, "check the tag after oci:DIR:", "LAYOUT_TAG_NOT_FOUND");
  return found;
}

async function readVerified(dir: string, descriptor: Descriptor): Promise<Buffer> {
  const path = blobPath(dir, descriptor.digest);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch {
    throw new LayoutError(dir, `blob ${descriptor.digest} is missing`, "the layout is incomplete; write it again", "BLOB_UNKNOWN");
  }
  const digest = sha256(bytes);
  if (digest !== descriptor.digest) throw new DigestMismatchError(`${dir}: blob ${descriptor.digest}`, descriptor.digest, digest);
  return bytes;
}

function fileBlob(dir: string, descriptor: Descriptor): Blob {
  const path = blobPath(dir, descriptor.digest);
  return {
    descriptor,
    verifiesItself: true,
    open: async (): Promise<Readable> => {
      const file = createReadStream(path, { highWaterMark: 256 << 10 }); // a fifth less CPU per pushed byte than 64 KiB reads
      // Opened lazily: report a missing blob as a layout problem, not a bare ENOENT.
      await new Promise<void>((resolve, reject) => {
        file.once("open", () => resolve());
        file.once("error", () => reject(new LayoutError(dir, `blob ${descriptor.digest} is missing`, "the layout is incomplete; write it again", "BLOB_UNKNOWN")));
      });
      const verified = new DigestingStream({ digest: descriptor.digest, size: descriptor.size, what: `${dir}: blob ${descriptor.digest}` });
      file.on("error", (error) => verified.destroy(error));
      return file.pipe(verified);
    },
  };
}

async function imageFromLayout(dir: string, descriptor: Descriptor): Promise<Image> {
  if (!isManifestMediaType(descriptor.mediaType)) {
    throw new LayoutError(dir, `entry ${descriptor.digest} is ${descriptor.mediaType}, not an image manifest`, "only image manifests and indexes are supported", "UNSUPPORTED_IMAGE");
  }
  const manifestBytes = await readVerified(dir, descriptor);
  let manifest: Manifest;
  try {
    manifest = JSON.parse(manifestBytes.toString("utf8")) as Manifest;
  } catch {
    throw new LayoutError(dir, `manifest ${descriptor.digest} is not JSON`, "the layout is damaged; write it again");
  }
  if (manifest.schemaVersion !== 2 || !manifest.config || !Array.isArray(manifest.layers)) {
    throw new LayoutError(dir, `manifest ${descriptor.digest} is not a schema 2 image manifest`, "the layout is damaged; write it again");
  }
  return {
    manifest,
    manifestBytes,
    digest: descriptor.digest as Digest,
    mediaType: descriptor.mediaType,
    config: fileBlob(dir, manifest.config),
    layers: manifest.layers.map((layer) => fileBlob(dir, layer)),
  };
}

async function indexFromLayout(dir: string, descriptor: Descriptor): Promise<ImageIndex> {
  const indexBytes = await readVerified(dir, descriptor);
  let index: Index;
  try {
    index = JSON.parse(indexBytes.toString("utf8")) as Index;
  } catch {
    throw new LayoutError(dir, `index ${descriptor.digest} is not JSON`, "the layout is damaged; write it again");
  }
  if (index.schemaVersion !== 2 || !Array.isArray(index.manifests)) {
    throw new LayoutError(dir, `index ${descriptor.digest} is not a schema 2 image index`, "the layout is damaged; write it again");
  }
  const images: Image[] = [];
  for (const entry of index.manifests) images.push(await imageFromLayout(dir, entry));
  return { index, indexBytes, digest: descriptor.digest as Digest, mediaType: descriptor.mediaType, images };
}
