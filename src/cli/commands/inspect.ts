// `imagespec inspect REF`: what an image or index is made of — manifest, platforms, config
// (created, env, entrypoint, cmd, workdir, user, labels), layers and sizes — as a table for people,
// as JSON of a documented, stable shape for programs (`--json`, see docs/cli.md), or the manifest
// bytes exactly as stored (`--raw`, whose sha256 is the digest).
import type { Command } from "commander";
import { formatPlatform, isImageIndex, type Image, type ImageConfig, type ImageIndex, type Platform } from "../../oci/index.js";
import { formatImageLocation, parseImageLocation, readConfig, type ImageLocation, type Registry } from "../../registry/index.js";
import { humanSize } from "../../units.js";
import { reportError } from "../output.js";
import { addRegistryOptions, loadImage, registryFromOptions, registryHosts, type RegistryFlags } from "../registry-options.js";
import type { RegisterCommand } from "./index.js";

interface InspectFlags extends RegistryFlags {
  json?: boolean;
  raw?: boolean;
  platform?: string;
}

export interface BlobInfo {
  digest: string;
  mediaType: string;
  size: number;
}

/** One image (one platform). Fields are always present; "nothing" is null, [] or {}. */
export interface ImageInfo {
  platform: string;
  digest: string;
  mediaType: string;
  /** Bytes of the manifest. */
  size: number;
  config: BlobInfo;
  created: string | null;
  author: string | null;
  user: string | null;
  env: string[];
  entrypoint: string[] | null;
  cmd: string[] | null;
  workdir: string | null;
  labels: Record<string, string>;
  exposedPorts: string[];
  layers: BlobInfo[];
  /** Sum of the layer sizes (compressed, as stored). */
  layersSize: number;
  /** Manifest + config + layers. */
  totalSize: number;
}

/** `imagespec inspect --json`. */
export interface InspectInfo {
  reference: string;
  kind: "image" | "index";
  digest: string;
  mediaType: string;
  /** Bytes of the top-level manifest or index. */
  size: number;
  platforms: string[];
  annotations: Record<string, string>;
  images: ImageInfo[];
  /** Every distinct blob and manifest once: what a full copy of it stores. */
  totalSize: number;
}

function blobInfo(d: { digest: string; mediaType: string; size: number }): BlobInfo {
  return { digest: d.digest, mediaType: d.mediaType, size: d.size };
}

async function describeImage(image: Image, indexPlatform: Platform | undefined): Promise<ImageInfo> {
  const config: ImageConfig = await readConfig(image.config);
  const c = config.config ?? {};
  const platform = indexPlatform ?? { os: config.os ?? "unknown", architecture: config.architecture ?? "unknown", ...(config.variant ? { variant: config.variant } : {}) };
  const layers = image.layers.map((l) => blobInfo(l.descriptor));
  const layersSize = layers.reduce((sum, l) => sum + l.size, 0);
  return {
    platform: formatPlatform(platform),
    digest: image.digest,
    mediaType: image.mediaType,
    size: image.manifestBytes.length,
    config: blobInfo(image.config.descriptor),
    created: config.created ?? null,
    author: config.author ?? null,
    user: c.User ? c.User : null,
    env: c.Env ?? [],
    entrypoint: c.Entrypoint ?? null,
    cmd: c.Cmd ?? null,
    workdir: c.WorkingDir ? c.WorkingDir : null,
    labels: c.Labels ?? {},
    exposedPorts: Object.keys(c.ExposedPorts ?? {}).sort(),
    layers,
    layersSize,
    totalSize: image.manifestBytes.length + image.config.descriptor.size + layersSize,
  };
}

export async function describe(location: ImageLocation, value: Image | ImageIndex): Promise<InspectInfo> {
  if (!isImageIndex(value)) {
    const image = await describeImage(value, undefined);
    return {
      reference: formatImageLocation(location),
      kind: "image",
      digest: value.digest,
      mediaType: value.mediaType,
      size: value.manifestBytes.length,
      platforms: [image.platform],
      annotations: value.manifest.annotations ?? {},
      images: [image],
      totalSize: image.totalSize,
    };
  }
  const images: ImageInfo[] = [];
  for (const [i, image] of value.images.entries()) images.push(await describeImage(image, value.index.manifests[i]?.platform));
  const blobs = new Map<string, number>();
  for (const image of value.images) {
    blobs.set(image.digest, image.manifestBytes.length);
    for (const blob of [image.config, ...image.layers]) blobs.set(blob.descriptor.digest, blob.descriptor.size);
  }
  return {
    reference: formatImageLocation(location),
    kind: "index",
    digest: value.digest,
    mediaType: value.mediaType,
    size: value.indexBytes.length,
    platforms: images.map((i) => i.platform),
    annotations: value.index.annotations ?? {},
    images,
    totalSize: value.indexBytes.length + [...blobs.values()].reduce((a, b) => a + b, 0),
  };
}


function shortMediaType(mediaType: string): string {
  return mediaType.replace(/^application\/vnd\.(oci\.image|docker\.image\.rootfs|docker\.container\.image|docker\.distribution)\./, "");
}

function table(rows: readonly string[][], indent: string): string[] {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => r[col]!.length)));
  return rows.map((r) => `${indent}${r.map((cell, col) => (col === r.length - 1 ? cell : cell.padEnd(widths[col]!))).join("  ")}`.trimEnd());
}

function fields(pairs: readonly [string, string][], indent: string): string[] {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${indent}${k.padEnd(width)}  ${v}`);
}

const none = "-";
const argv = (value: string[] | null): string => (value === null ? none : JSON.stringify(value));

export function renderHuman(info: InspectInfo): string {
  const lines = fields(
    [
      ["Reference", info.reference],
      ["Kind", info.kind],
      ["Digest", info.digest],
      ["Media type", info.mediaType],
      ["Platforms", info.platforms.join(", ")],
      ["Total size", `${humanSize(info.totalSize)} (${info.totalSize} bytes)`],
      ...Object.entries(info.annotations).map(([k, v]): [string, string] => ["Annotation", `${k}=${v}`]),
    ],
    "",
  );
  for (const image of info.images) {
    lines.push("", `${image.platform}${info.kind === "index" ? `  ${image.digest}` : ""}`);
    const env = image.env.length > 0 ? image.env : [none];
    const labels = Object.entries(image.labels).map(([k, v]) => `${k}=${v}`);
    const pairs: [string, string][] = [
      ["Created", image.created ?? none],
      ...(image.author !== null ? [["Author", image.author] as [string, string]] : []),
      ["Config", `${image.config.digest} (${humanSize(image.config.size)})`],
      ["Entrypoint", argv(image.entrypoint)],
      ["Cmd", argv(image.cmd)],
      ["Workdir", image.workdir ?? none],
      ["User", image.user ?? none],
      ...env.map((e, i): [string, string] => [i === 0 ? "Env" : "", e]),
      ...(labels.length > 0 ? labels : [none]).map((l, i): [string, string] => [i === 0 ? "Labels" : "", l]),
      ...(image.exposedPorts.length > 0 ? [["Ports", image.exposedPorts.join(", ")] as [string, string]] : []),
    ];
    lines.push(...fields(pairs, "  "));
    lines.push(`  Layers (${image.layers.length})`);
    if (image.layers.length > 0) {
      const rows = [["#", "DIGEST", "SIZE", "MEDIA TYPE"], ...image.layers.map((l, i) => [String(i + 1), l.digest, humanSize(l.size), shortMediaType(l.mediaType)])];
      lines.push(...table(rows, "    "));
    }
    lines.push(`  Size  ${humanSize(image.totalSize)} (layers ${humanSize(image.layersSize)})`);
  }
  return `${lines.join("\n")}\n`;
}

async function rawBytes(registry: Registry, location: ImageLocation, platform: string | undefined): Promise<Buffer> {
  if (location.kind === "registry" && platform === undefined) return (await registry.getManifest(location.reference)).bytes;
  const value = await loadImage(registry, location, platform);
  return isImageIndex(value) ? value.indexBytes : value.manifestBytes;
}

export async function runInspect(ref: string, flags: InspectFlags): Promise<number> {
  if (flags.json && flags.raw) {
    process.stderr.write("error: --json and --raw cannot be used together\nhint: --raw prints the manifest as stored; --json a description of the image\n");
    return 2;
  }
  let registry: Registry | undefined;
  try {
    const location = parseImageLocation(ref);
    registry = await registryFromOptions(flags, { credentialHosts: registryHosts([location]) });
    if (flags.raw) {
      process.stdout.write(await rawBytes(registry, location, flags.platform));
      return 0;
    }
    const info = await describe(location, await loadImage(registry, location, flags.platform));
    process.stdout.write(flags.json ? `${JSON.stringify(info, null, 2)}\n` : renderHuman(info));
    return 0;
  } catch (error) {
    return reportError(error);
  } finally {
    await registry?.close();
  }
}

export const registerInspectCommand: RegisterCommand = (program: Command) => {
  const command = program
    .command("inspect")
    .description("show an image or index: platforms, config (env, entrypoint, cmd, workdir, labels), layers and sizes")
    .argument("<ref>", "an image reference (host/repo:tag, host/repo@digest) or an OCI layout (oci:DIR[:TAG])")
    .option("--json", "print a JSON description of a stable shape (documented in docs/cli.md)")
    .option("--raw", "print the manifest or index bytes exactly as stored (their sha256 is the digest)")
    .option("--platform <os/arch[/variant]>", "from an index, inspect only this platform's image");
  addRegistryOptions(command);
  command.addHelpText(
    "after",
    `
An index shows every platform; --platform picks one image from it (with --raw, that image's
manifest). Sizes are as stored (compressed layers).

Examples:
  imagespec inspect registry.example.com/team/app:v1
  imagespec inspect --platform linux/arm64 docker.io/library/python:3.12-slim
  imagespec inspect --json oci:./out:v1 | jq '.images[].layers | length'
  imagespec inspect --raw localhost:5000/app:v1 | sha256sum`,
  );
  command.action(async (ref: string, flags: InspectFlags) => {
    process.exitCode = await runInspect(ref, flags);
  });
};
