// The native builder: executes a plan without running anything inside the image. The base's
// layers are reused as they are (streamed or mounted, never unpacked), imagespec's own layers
// are written reproducibly on top, and the result goes to a registry or an OCI image layout.
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { ImagespecError } from "../errors.js";
import { closeGzipWorkers, layerFromEntries, type Compression, type LayerEntry } from "../layer/index.js";
import {
  formatPlatform,
  imageFromParts,
  indexFromImages,
  listLayoutTags,
  readLayout,
  MediaType,
  readLayoutImage,
  writeLayout,
  type Blob,
  type Image,
  type ImageConfig,
  type ImageIndex,
  type Platform,
} from "../oci/index.js";
import { parseReference } from "../reference/index.js";
import { Registry, readConfig, type PushEvent } from "../registry/index.js";
import type { ImageSpec } from "../spec/index.js";
import { buildConfig, type AddedLayer } from "./config.js";
import { blockedError, planBuild, SPEC_ID_ENV, type BaseSource, type Plan } from "./plan.js";

/** Where a build goes when the spec names no registry: an OCI image layout in the working folder. */
export const DEFAULT_LAYOUT_DIR = ".imagespec/images";

export type BuildEvent =
  | { kind: "plan"; image: string; plan: Plan }
  | { kind: "exists"; image: string; digest: string }
  | { kind: "base"; image: string; platform: string; reference: string; digest?: string }
  | { kind: "layer"; image: string; step: string; digest: string; size: number }
  | { kind: "push"; image: string; event: PushEvent }
  | { kind: "done"; image: string; digest: string };

export interface BuildOptions {
  /** The registry client (its keychain, CA file and insecure hosts apply to base pulls and pushes). */
  registry?: Registry;
  /** `oci:DIR` or `oci:DIR:TAG`: write an OCI layout there instead of pushing. */
  output?: string;
  /** Build and push even when the tag exists. The spec's forcePush does the same. */
  force?: boolean;
  /** Folder for reusable build data (compressed layers). Default `$XDG_CACHE_HOME/imagespec`. */
  cacheDir?: string;
  compression?: Compression;
  /** Mtime of every file and the config's creation time, in seconds. Default SOURCE_DATE_EPOCH, else 0. */
  epoch?: number;
  onEvent?: (event: BuildEvent) => void;
  signal?: AbortSignal;
}

export interface BuildResult {
  /** The full image name that was checked and written. */
  image: string;
  /** `exists`: the tag was already there, nothing was built. */
  status: "exists" | "built";
  digest: string;
  /** Where the image is: a registry reference or `oci:DIR:TAG`. */
  location: string;
  platforms: string[];
  /** Bytes uploaded to the registry or written to the layout. */
  bytesWritten: number;
  /** Blobs that were already at the destination (or mounted there) and not sent again. */
  blobsSkipped: number;
}

type Destination = { kind: "registry"; reference: string } | { kind: "layout"; dir: string; tag: string };

export function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || join(homedir(), ".cache");
  return join(base, "imagespec");
}

export function buildEpoch(explicit?: number): number {
  if (explicit !== undefined) return explicit;
  const fromEnv = process.env.SOURCE_DATE_EPOCH;
  if (fromEnv === undefined || fromEnv === "") return 0;
  if (!/^\d+$/.test(fromEnv)) {
    throw new ImagespecError("INVALID_SOURCE_DATE_EPOCH", `SOURCE_DATE_EPOCH=${JSON.stringify(fromEnv)} is not a whole number of seconds`, {
      hint: "set it to a Unix time such as $(git log -1 --format=%ct), or unset it",
    });
  }
  return Number(fromEnv);
}

function destinationFor(plan: Plan, output: string | undefined): Destination {
  const nameAndTag = plan.image.slice(plan.image.lastIndexOf("/") + 1);
  if (output !== undefined) {
    if (!output.startsWith("oci:")) {
      throw new ImagespecError("INVALID_OUTPUT", `--output ${JSON.stringify(output)} is not an OCI layout`, {
        hint: "write it as oci:DIR or oci:DIR:TAG; to push to a registry, set the spec's registry instead",
      });
    }
    const rest = output.slice("oci:".length);
    const colon = rest.indexOf(":");
    const dir = resolve(colon >= 0 ? rest.slice(0, colon) : rest);
    return { kind: "layout", dir, tag: colon >= 0 ? rest.slice(colon + 1) : nameAndTag };
  }
  if (plan.spec.registry === undefined) return { kind: "layout", dir: resolve(DEFAULT_LAYOUT_DIR), tag: plan.image };
  return { kind: "registry", reference: plan.image };
}

function describeDestination(d: Destination): string {
  return d.kind === "registry" ? d.reference : `oci:${d.dir}:${d.tag}`;
}

/** Docker schema 2 layer types, rewritten to their OCI equivalents (same bytes, same digest). */
const OCI_LAYER_TYPE: Record<string, string> = {
  [MediaType.DockerLayerGzip]: MediaType.OciLayerGzip,
  [MediaType.DockerForeignLayerGzip]: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
};

function asOciLayer(blob: Blob): Blob {
  const mediaType = OCI_LAYER_TYPE[blob.descriptor.mediaType];
  if (mediaType === undefined) return blob;
  return { ...blob, descriptor: { ...blob.descriptor, mediaType }, open: () => blob.open() };
}

interface Base {
  config: ImageConfig | undefined;
  layers: readonly Blob[];
  reference?: string;
  digest?: string;
}

export class NativeBuilder {
  private readonly registry: Registry;
  private readonly ownsRegistry: boolean;
  /** One build per image name per builder, so a base shared by several specs is built once. */
  private readonly inFlight = new Map<string, Promise<BuildResult>>();

  constructor(private readonly options: BuildOptions = {}) {
    this.ownsRegistry = options.registry === undefined;
    this.registry = options.registry ?? new Registry();
  }

  async close(): Promise<void> {
    if (this.ownsRegistry) await this.registry.close();
    await closeGzipWorkers();
  }

  build(spec: ImageSpec): Promise<BuildResult> {
    return planBuild(spec).then((plan) => {
      const key = `${plan.image}\0${this.options.output ?? ""}`;
      let running = this.inFlight.get(key);
      if (!running) {
        running = this.execute(plan);
        this.inFlight.set(key, running);
      }
      return running;
    });
  }

  private emit(event: BuildEvent): void {
    this.options.onEvent?.(event);
  }

  private async execute(plan: Plan): Promise<BuildResult> {
    const { spec, image } = plan;
    this.emit({ kind: "plan", image, plan });
    if (plan.blockers.length > 0) throw blockedError(plan);
    const destination = destinationFor(plan, this.options.output);
    const location = describeDestination(destination);
    const platforms = plan.platforms.map(formatPlatform);

    // The existence check decides; an error from it stops the build and is never read as "exists".
    if (!this.options.force && !spec.isForcePush) {
      const digest = await this.existing(destination);
      if (digest !== undefined) {
        this.emit({ kind: "exists", image, digest });
        return { image, status: "exists", digest, location, platforms, bytesWritten: 0, blobsSkipped: 0 };
      }
    }

    const baseStep = plan.steps.find((s) => s.kind === "base");
    const filesStep = plan.steps.find((s) => s.kind === "files");
    const configStep = plan.steps.find((s) => s.kind === "config");
    if (!baseStep || !configStep) throw new Error("a plan always has a base and a config step");

    const epoch = buildEpoch(this.options.epoch);
    const cacheDir = this.options.cacheDir ?? defaultCacheDir();
    const added: { blob: Blob; history: AddedLayer }[] = [];
    if (filesStep) {
      const entries: LayerEntry[] = filesStep.entries.map((e) => ({
        path: e.path,
        type: e.type,
        mode: e.mode,
        size: e.size,
        ...(e.type === "file" ? { source: e.source } : {}),
        ...(e.linkTarget !== undefined ? { linkTarget: e.linkTarget } : {}),
      }));
      const layer = await layerFromEntries(entries, {
        cacheDir: join(cacheDir, "layers"),
        epoch,
        ...(this.options.compression ? { compression: this.options.compression } : {}),
      });
      this.emit({ kind: "layer", image, step: "files", digest: layer.descriptor.digest, size: layer.descriptor.size });
      added.push({ blob: layer, history: { diffId: layer.diffId, createdBy: `imagespec: files -> ${filesStep.workdir}` } });
    }

    const settings = {
      env: configStep.env,
      trailingEnv: [[SPEC_ID_ENV, configStep.specId]] as const,
      labels: spec.labels,
      workdir: spec.workdir,
      ...(spec.entrypoint !== undefined ? { entrypoint: spec.entrypoint } : {}),
      ...(spec.cmd !== undefined ? { cmd: spec.cmd } : {}),
      ...(spec.user !== undefined ? { user: spec.user } : {}),
    };
    const images: { image: Image; platform: Platform }[] = [];
    for (const platform of plan.platforms) {
      const base = await this.base(baseStep.base, platform, image);
      const config = buildConfig(base.config, platform, settings, added.map((a) => a.history), epoch);
      const annotations: Record<string, string> = {};
      if (base.reference !== undefined) annotations["org.opencontainers.image.base.name"] = base.reference;
      if (base.digest !== undefined) annotations["org.opencontainers.image.base.digest"] = base.digest;
      const layers = [...base.layers.map(asOciLayer), ...added.map((a) => a.blob)];
      images.push({ image: imageFromParts(config, layers, { annotations }), platform });
    }
    const result: Image | ImageIndex = images.length === 1 ? images[0]!.image : indexFromImages(images);

    if (destination.kind === "layout") {
      const written = await writeLayout(destination.dir, result, { tag: destination.tag });
      this.emit({ kind: "done", image, digest: result.digest });
      return { image, status: "built", digest: result.digest, location, platforms, bytesWritten: written.bytesWritten, blobsSkipped: written.blobsExisting };
    }
    const pushed = await this.registry.push(destination.reference, result, {
      onProgress: (event) => this.emit({ kind: "push", image, event }),
      ...(this.options.signal ? { signal: this.options.signal } : {}),
    });
    this.emit({ kind: "done", image, digest: pushed.digest });
    return {
      image,
      status: "built",
      digest: pushed.digest,
      location,
      platforms,
      bytesWritten: pushed.pushedBytes,
      blobsSkipped: pushed.blobs.exists + pushed.blobs.mounted,
    };
  }

  private async existing(destination: Destination): Promise<string | undefined> {
    if (destination.kind === "registry") {
      const found = await this.registry.exists(destination.reference, this.options.signal);
      return found.present ? found.digest : undefined;
    }
    const tags: string[] = await listLayoutTags(destination.dir).catch((error: unknown) => {
      if (error instanceof ImagespecError && error.code === "LAYOUT_NOT_FOUND") return [];
      throw error;
    });
    if (!tags.includes(destination.tag)) return undefined;
    return (await readLayout(destination.dir, { tag: destination.tag })).digest;
  }

  private async base(source: BaseSource, platform: Platform, image: string): Promise<Base> {
    if (source.kind === "scratch") return { config: undefined, layers: [] };
    let reference = source.reference;
    if (source.kind === "spec") {
      // A nested base spec is built first (or found to exist), through this same builder.
      const built = await this.build(source.spec);
      if (built.location.startsWith("oci:")) {
        const [dir, tag] = splitLayoutLocation(built.location);
        const base = await readLayoutImage(dir, { tag, platform });
        return { config: await readConfig(base.config), layers: base.layers, reference: built.image, digest: base.digest };
      }
      reference = built.location;
    }
    const base = await this.registry.getImage(parseReference(reference), platform, this.options.signal);
    this.emit({ kind: "base", image, platform: formatPlatform(platform), reference, digest: base.digest });
    return { config: await readConfig(base.config), layers: base.layers, reference, digest: base.digest };
  }
}

function splitLayoutLocation(location: string): [string, string] {
  const rest = location.slice("oci:".length);
  const colon = rest.indexOf(":");
  return [rest.slice(0, colon), rest.slice(colon + 1)];
}

/** Builds one spec with a builder made for the call. */
export async function buildSpec(spec: ImageSpec, options: BuildOptions = {}): Promise<BuildResult> {
  const builder = new NativeBuilder(options);
  try {
    return await builder.build(spec);
  } finally {
    await builder.close();
  }
}
