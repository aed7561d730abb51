// The values every part of imagespec passes around, after go-containerregistry's v1.Image,
// v1.ImageIndex and v1.Layer: small immutable interfaces whose content is opened on demand,
// so a layer is streamed from wherever it lives (a file, a registry, a generator) and never
// held in memory whole.
import { Readable } from "node:stream";
import type { Reference } from "../reference/index.js";
import { sha256, type Digest } from "./digest.js";
import { MediaType } from "./media-types.js";
import type { Descriptor, ImageConfig, Index, Manifest, Platform } from "./types.js";

/** A piece of content addressed by its descriptor. */
export interface Blob {
  readonly descriptor: Descriptor;
  /** A fresh stream of the content; each call starts from the beginning. */
  open(): Promise<Readable>;
  /** Repositories known to hold this blob, tried for a cross-repository mount before uploading. */
  readonly sources?: readonly Reference[];
  /**
   * True when open()'s stream checks itself: it fails before its end unless the bytes match the
   * descriptor's digest and size (a cached layer file, a layout blob). A push then counts the
   * bytes instead of hashing them a second time.
   */
  readonly verifiesItself?: boolean;
}

/** A single-platform image: manifest, config and layers. */
export interface Image {
  readonly manifest: Manifest;
  /** The exact bytes whose digest is the image digest. */
  readonly manifestBytes: Buffer;
  readonly digest: Digest;
  readonly mediaType: string;
  readonly config: Blob;
  readonly layers: readonly Blob[];
}

/** A multi-platform image: an index over images. */
export interface ImageIndex {
  readonly index: Index;
  readonly indexBytes: Buffer;
  readonly digest: Digest;
  readonly mediaType: string;
  readonly images: readonly Image[];
}

export function isImageIndex(value: Image | ImageIndex): value is ImageIndex {
  return "images" in value;
}

/** A blob held in memory: configs and manifests, which are small. */
export function bufferBlob(mediaType: string, data: Buffer, extra: Partial<Descriptor> = {}): Blob {
  const descriptor: Descriptor = { mediaType, digest: sha256(data), size: data.length, ...extra };
  return { descriptor, open: async () => Readable.from([data]) };
}

/** Manifest and index JSON are written once, compactly, and those bytes are what is pushed. */
export function encodeJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), "utf8");
}

export interface ImageOptions {
  /** Use Docker schema 2 media types instead of OCI (for registries or tools that need them). */
  docker?: boolean;
  annotations?: Record<string, string>;
}

/** Assembles an image from a config and layers; the manifest is derived, never edited by hand. */
export function imageFromParts(config: ImageConfig | Buffer, layers: readonly Blob[], options: ImageOptions = {}): Image {
  const configBytes = Buffer.isBuffer(config) ? config : encodeJson(config);
  const configBlob = bufferBlob(options.docker ? MediaType.DockerConfig : MediaType.OciConfig, configBytes);
  const mediaType = options.docker ? MediaType.DockerManifest : MediaType.OciManifest;
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType,
    config: configBlob.descriptor,
    layers: layers.map((l) => l.descriptor),
    ...(options.annotations && Object.keys(options.annotations).length > 0 ? { annotations: options.annotations } : {}),
  };
  const manifestBytes = encodeJson(manifest);
  return { manifest, manifestBytes, digest: sha256(manifestBytes), mediaType, config: configBlob, layers };
}

/** An index over images, each entry carrying the platform from its config. */
export function indexFromImages(
  entries: readonly { image: Image; platform: Platform }[],
  options: ImageOptions = {},
): ImageIndex {
  const mediaType = options.docker ? MediaType.DockerManifestList : MediaType.OciIndex;
  const index: Index = {
    schemaVersion: 2,
    mediaType,
    manifests: entries.map(({ image, platform }) => ({
      mediaType: image.mediaType,
      digest: image.digest,
      size: image.manifestBytes.length,
      platform,
    })),
    ...(options.annotations && Object.keys(options.annotations).length > 0 ? { annotations: options.annotations } : {}),
  };
  const indexBytes = encodeJson(index);
  return { index, indexBytes, digest: sha256(indexBytes), mediaType, images: entries.map((e) => e.image) };
}
