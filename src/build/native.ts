// The native builder: executes a plan without running anything inside the image. The base's
// layers are reused as they are (streamed or mounted, never unpacked), imagespec's own layers
// are written reproducibly on top, and the image is handed back to the driver (image-builder.ts),
// which publishes it to a registry or an OCI image layout.
import { ImagespecError } from "../errors.js";
import { resolveCompressor, type CompressionOptions, type LayerWriteOptions } from "../layer/index.js";
import { formatPlatform, indexFromImages, readLayoutImage, type Image, type ImageIndex, type Platform } from "../oci/index.js";
import { readConfig, type Registry } from "../registry/index.js";
import type { BaseImage, BuildRequest, Built, PlanBuilder } from "./builders/types.js";
import { defaultCacheDir } from "./cache-dir.js";
import { UPLOAD_ONLY_MIN_BYTES, uploadOnlyTo } from "./files-layer.js";
import type { BuildEvent, BuildOptions } from "./events.js";
import type { Plan } from "./plan.js";
import type { LayerIdentity } from "./step-keys.js";
import { runPlanSteps, storeStepCaches } from "./steps/run.js";
import type { Base, StepContext } from "./steps/step.js";
import { blockedError } from "./unsupported.js";

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

/** The uploadOnlyBytes option: a number of bytes, or Infinity for never. */
function checkUploadOnlyBytes(value: number): number {
  if (value === Infinity || (Number.isSafeInteger(value) && value >= 0)) return value;
  throw new ImagespecError("INVALID_UPLOAD_ONLY_BYTES", `uploadOnlyBytes ${String(value)} is not a size`, {
    hint: "give a whole number of bytes (e.g. 134217728 for 128 MiB), or Infinity to keep every layer in the cache dir",
  });
}

/** The native Builder: the plan's layers on the base the driver resolved; the driver publishes the image. */
export class NativePlanBuilder implements PlanBuilder {
  readonly name = "native";
  private readonly registry: Registry;

  constructor(private readonly options: BuildOptions & { registry: Registry }) {
    this.registry = options.registry;
  }

  private emit(event: BuildEvent): void {
    this.options.onEvent?.(event);
  }

  async build(plan: Plan, { destination, base: baseImage }: BuildRequest): Promise<Built> {
    const { image } = plan;
    if (plan.blockers.length > 0) throw blockedError(plan);

    const cacheDir = this.options.cacheDir ?? defaultCacheDir();
    const compression: CompressionOptions = {
      ...(this.options.compression ? { compression: this.options.compression } : {}),
      ...(this.options.compressionLevel !== undefined ? { level: this.options.compressionLevel } : {}),
    };
    const identity: LayerIdentity = { compressor: (await resolveCompressor(compression)).id, epoch: buildEpoch(this.options.epoch) };

    const uploadOnlyBytes = checkUploadOnlyBytes(this.options.uploadOnlyBytes ?? UPLOAD_ONLY_MIN_BYTES);
    const registryCache = destination.kind === "registry" ? { registry: this.registry, repository: destination.reference } : undefined;
    // Layers made now start on their way to the registry while they are compressed.
    const layerWrite: LayerWriteOptions =
      destination.kind === "registry" ? { ...compression, onGrowing: (blob) => this.registry.uploadWhileWriting(destination.reference, blob, this.options.signal) } : compression;
    const context: StepContext = {
      plan,
      image,
      cacheDir,
      compression: layerWrite,
      identity,
      ...(registryCache ? { registryCache } : {}),
      ...(this.options.refresh ? { refresh: true } : {}),
      ...(this.options.largeWheelBytes !== undefined ? { largeWheelBytes: this.options.largeWheelBytes } : {}),
      ...(destination.kind === "registry" && this.registry.uploadsWhileWriting && uploadOnlyBytes !== Infinity
        ? { uploadOnly: uploadOnlyTo(this.registry, destination.reference, uploadOnlyBytes, this.options.signal) }
        : {}),
      ...(this.options.signal ? { signal: this.options.signal } : {}),
      emit: (event) => this.emit(event),
      base: (platform) => this.base(baseImage, platform, image),
    };
    const built = await runPlanSteps(context);
    const result: Image | ImageIndex = built.length === 1 ? built[0]!.image : indexFromImages(built);

    return {
      kind: "image",
      image: result,
      // Once the image is pushed, recording what its apt and Python steps made, for the next runner, is best effort.
      afterPush: () => storeStepCaches(built, context),
    };
  }

  /** The base image's config and layers for one platform, read from where the driver found (or put) it. */
  private async base(source: BaseImage, platform: Platform, image: string): Promise<Base> {
    if (source.kind === "scratch") return { config: undefined, layers: [] };
    const { name, at } = source;
    if (at.kind === "layout") {
      const base = await readLayoutImage(at.dir, { tag: at.tag, platform });
      return { config: await readConfig(base.config), layers: base.layers, reference: name, digest: base.digest };
    }
    const base = await this.registry.getImage(at.reference, platform, this.options.signal);
    this.emit({ kind: "base", image, platform: formatPlatform(platform), reference: name, digest: base.digest });
    return { config: await readConfig(base.config), layers: base.layers, reference: name, digest: base.digest };
  }
}
