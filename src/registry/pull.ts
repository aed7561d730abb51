// Registry-backed images: manifests and configs are fetched (and verified) up front, layers stay
// in the registry until opened and stream through a digest check that fails at the end of a
// corrupted stream. Every blob remembers its repository, so pushing the image to another
// repository of the same registry mounts instead of uploading.
import { Readable } from "node:stream";
import { ImagespecError } from "../errors.js";
import { formatReference, referenceIdentifier, type Reference } from "../reference/index.js";
import {
  formatPlatform,
  isIndexMediaType,
  isManifestMediaType,
  parsePlatform,
  platformMatches,
  type Blob,
  type Descriptor,
  type Image,
  type ImageConfig,
  type ImageIndex,
  type Index,
  type Manifest,
  type Platform,
} from "../oci/index.js";
import type { DistributionClient, FetchedManifest } from "./client.js";
import { RegistryError } from "./errors.js";

/** Used when an index must be resolved and no platform was asked for (as go-containerregistry does). */
export const DEFAULT_PLATFORM: Platform = { os: "linux", architecture: "amd64" };
const CONFIG_LIMIT = 16 << 20;

export class ImageFormatError extends ImagespecError {
  constructor(where: string, problem: string, hint = "the image is malformed or of a kind imagespec does not handle") {
    super("UNSUPPORTED_IMAGE", `${where}: ${problem}`, { hint });
  }
}

/** A manifest or index; a missing repository is reported as NAME_UNKNOWN, not as a missing tag. */
export async function fetchManifest(client: DistributionClient, ref: Reference, signal?: AbortSignal): Promise<FetchedManifest> {
  try {
    return await client.getManifest(ref.repository, referenceIdentifier(ref), signal);
  } catch (error) {
    if (!(error instanceof RegistryError) || error.code !== "MANIFEST_UNKNOWN") throw error;
    if ((await client.repositoryExists(ref.repository, signal).catch(() => undefined)) !== false) throw error;
    throw new RegistryError({
      method: error.method,
      url: error.url,
      status: error.status,
      details: [{ code: "NAME_UNKNOWN", message: `repository ${ref.repository} not known to registry` }],
      cause: error,
    });
  }
}

/** The image or index a reference names, as stored. */
export async function pullAny(client: DistributionClient, ref: Reference, signal?: AbortSignal): Promise<Image | ImageIndex> {
  const fetched = await fetchManifest(client, ref, signal);
  return isIndexMediaType(fetched.mediaType) ? indexFrom(client, ref, fetched, signal) : imageFrom(client, ref, fetched, undefined, signal);
}

/** One image; an index is resolved for `platform` (default linux/amd64). */
export async function pullImage(client: DistributionClient, ref: Reference, platform?: Platform | string, signal?: AbortSignal): Promise<Image> {
  const wanted = typeof platform === "string" ? parsePlatform(platform) : platform;
  const fetched = await fetchManifest(client, ref, signal);
  if (!isIndexMediaType(fetched.mediaType)) return imageFrom(client, ref, fetched, wanted, signal);
  const index = parseIndex(fetched.bytes, formatReference(ref));
  const entry = selectPlatform(index, wanted ?? DEFAULT_PLATFORM, formatReference(ref));
  if (isIndexMediaType(entry.mediaType)) throw new ImageFormatError(formatReference(ref), "an index inside an index is not supported");
  const child = await client.getManifest(ref.repository, entry.digest, signal);
  return imageFrom(client, ref, child, wanted, signal);
}

/** An index with every image in it; a single-platform manifest is an error. */
export async function pullIndex(client: DistributionClient, ref: Reference, signal?: AbortSignal): Promise<ImageIndex> {
  const fetched = await fetchManifest(client, ref, signal);
  if (!isIndexMediaType(fetched.mediaType)) {
    throw new ImageFormatError(formatReference(ref), `is a single image (${fetched.mediaType}), not an index`, "use getImage for a single-platform image");
  }
  return indexFrom(client, ref, fetched, signal);
}

/** The entry of an index for a platform, or an error listing the platforms it has. */
export function selectPlatform(index: Index, platform: Platform, where: string): Descriptor {
  const found = index.manifests.find((m) => platformMatches(platform, m.platform));
  if (found) return found;
  const available = index.manifests.flatMap((m) => (m.platform ? [formatPlatform(m.platform)] : [])).filter((p) => p !== "unknown/unknown");
  throw new ImagespecError("PLATFORM_NOT_FOUND", `${where} has no ${formatPlatform(platform)} image (it has: ${available.join(", ") || "no platform entries"})`, {
    hint: "choose one of the platforms the image provides, or a base image that supports yours",
  });
}

/** A config blob parsed as JSON. */
export async function readConfig(blob: Blob): Promise<ImageConfig> {
  const chunks: Buffer[] = [];
  for await (const chunk of await blob.open()) chunks.push(chunk as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8")) as ImageConfig;
  } catch {
    throw new ImageFormatError(`config ${blob.descriptor.digest}`, "is not JSON");
  }
}

export function parseManifest(bytes: Buffer, where: string): Manifest {
  const value = parseJson(bytes, where) as Partial<Manifest>;
  if (value.schemaVersion !== 2 || typeof value.config?.digest !== "string" || !Array.isArray(value.layers)) {
    throw new ImageFormatError(where, "is not a schema 2 image manifest");
  }
  return value as Manifest;
}

export function parseIndex(bytes: Buffer, where: string): Index {
  const value = parseJson(bytes, where) as Partial<Index>;
  if (value.schemaVersion !== 2 || !Array.isArray(value.manifests)) throw new ImageFormatError(where, "is not a schema 2 image index");
  return value as Index;
}

function parseJson(bytes: Buffer, where: string): unknown {
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new ImageFormatError(where, "is not valid JSON");
  }
}

async function indexFrom(client: DistributionClient, ref: Reference, fetched: FetchedManifest, signal?: AbortSignal): Promise<ImageIndex> {
  const where = formatReference(ref);
  const index = parseIndex(fetched.bytes, where);
  const images: Image[] = [];
  for (const entry of index.manifests) {
    if (!isManifestMediaType(entry.mediaType)) {
      throw new ImageFormatError(where, `index entry ${entry.digest} is ${entry.mediaType}; only image manifests are supported inside an index`);
    }
    images.push(await imageFrom(client, ref, await client.getManifest(ref.repository, entry.digest, signal), undefined, signal));
  }
  return { index, indexBytes: fetched.bytes, digest: fetched.digest as ImageIndex["digest"], mediaType: fetched.mediaType, images };
}

async function imageFrom(client: DistributionClient, ref: Reference, fetched: FetchedManifest, platform: Platform | undefined, signal?: AbortSignal): Promise<Image> {
  const where = `${ref.registry}/${ref.repository}@${fetched.digest}`;
  if (!isManifestMediaType(fetched.mediaType)) throw new ImageFormatError(where, `is ${fetched.mediaType}, not an image manifest`);
  const manifest = parseManifest(fetched.bytes, where);
  const source: Reference = { registry: ref.registry, repository: ref.repository };
  const configBytes = await client.fetchBlob(ref.repository, manifest.config, CONFIG_LIMIT, signal);
  if (platform) {
    const config = parseJson(configBytes, `config of ${where}`) as Partial<ImageConfig>;
    const actual: Platform = { os: config.os ?? "", architecture: config.architecture ?? "", ...(config.variant ? { variant: config.variant } : {}) };
    if (!platformMatches(platform, actual)) {
      throw new ImagespecError("PLATFORM_NOT_FOUND", `${where} is ${formatPlatform(actual)}, not ${formatPlatform(platform)}`, {
        hint: "use a multi-platform base image or one built for the target platform",
      });
    }
  }
  const config: Blob = { descriptor: manifest.config, sources: [source], open: async () => Readable.from([configBytes]) };
  const layers: Blob[] = manifest.layers.map((descriptor) => ({
    descriptor,
    sources: [source],
    open: () => client.openBlob(ref.repository, descriptor),
  }));
  return { manifest, manifestBytes: fetched.bytes, digest: fetched.digest as Image["digest"], mediaType: fetched.mediaType, config, layers };
}
