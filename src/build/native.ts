// The native builder: executes a plan without running anything inside the image. The base's
// layers are reused as they are (streamed or mounted, never unpacked), imagespec's own layers
// are written reproducibly on top, and the image is handed back to the driver (image-builder.ts),
// which publishes it to a registry or an OCI image layout.
import { ImagespecError } from "../errors.js";
import { resolveCompressor, type CompressionOptions } from "../layer/index.js";
import {
  formatPlatform,
  imageFromParts,
  indexFromImages,
  MediaType,
  readLayoutImage,
  type Blob,
  type Image,
  type ImageConfig,
  type ImageIndex,
  type Platform,
} from "../oci/index.js";
import { DEFAULT_IMAGE_PATH, PythonError } from "../python/index.js";
import type { Reference } from "../reference/index.js";
import { readConfig, type Registry } from "../registry/index.js";
import type { ImageSpec } from "../spec/index.js";
import { aptLayerHistory, runAptStep, storeAptStep, type AptStepOptions, type AptStepResult } from "./apt-step.js";
import type { BaseImage, BuildRequest, Built, PlanBuilder } from "./builders/types.js";
import { storeBasePython } from "./base-python.js";
import { defaultCacheDir } from "./cache-dir.js";
import type { BuildEvent, BuildOptions } from "./events.js";
import { buildConfig, type AddedLayer } from "./config.js";
import { filesLayer } from "./files-layer.js";
import { SPEC_ID_ENV, type Plan, type Step } from "./plan.js";
import { pythonLayerHistory, runPythonStep, type PythonStepOptions, type PythonStepResult } from "./python-step.js";
import { storeStepCache } from "./registry-step-cache.js";
import type { LayerIdentity } from "./step-keys.js";
import { blockedError, noWheelError } from "./unsupported.js";

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
    const { spec, image } = plan;
    if (plan.blockers.length > 0) throw blockedError(plan);

    const aptStep = findStep(plan, "apt");
    const pythonStep = findStep(plan, "python");
    const filesStep = findStep(plan, "files");
    const configStep = findStep(plan, "config");
    if (!configStep) throw new Error("a plan always has a config step");

    const cacheDir = this.options.cacheDir ?? defaultCacheDir();
    const compression: CompressionOptions = this.options.compression ? { compression: this.options.compression } : {};
    const identity: LayerIdentity = { compressor: (await resolveCompressor(compression)).id, epoch: buildEpoch(this.options.epoch) };

    // The files are the same on every platform: one layer, built (or found) once.
    let files: { blob: Blob; history: AddedLayer } | undefined;
    if (filesStep) {
      const { layer, fromCache } = await filesLayer(filesStep.entries, {
        cacheDir,
        workdir: filesStep.workdir,
        compression,
        identity,
        warn: (message) => this.emit({ kind: "warning", image, message }),
      });
      this.emit({ kind: "layer", image, step: "files", digest: layer.descriptor.digest, size: layer.descriptor.size, fromCache });
      files = { blob: layer, history: { diffId: layer.diffId, createdBy: `imagespec: files -> ${filesStep.workdir}` } };
    }

    const registryCache = destination.kind === "registry" ? { registry: this.registry, repository: destination.reference } : undefined;
    const built = await Promise.all(
      plan.platforms.map(async (platform) => {
        const base = await this.base(baseImage, platform, image);
        // System packages first: the apt layer sits right above the base.
        let apt: AptStepResult | undefined;
        const aptLayers: { blob: Blob; history: AddedLayer }[] = [];
        if (aptStep) {
          apt = await this.apt(image, platform, base, { packages: aptStep.packages, ...(aptStep.mirror !== undefined ? { mirror: aptStep.mirror } : {}), cacheDir, compression, identity, registryCache });
          if (apt.layer && apt.record) aptLayers.push({ blob: apt.layer, history: { diffId: apt.record.layer.diffId, createdBy: aptLayerHistory(aptStep.packages, apt.packages.length) } });
        }
        let python: PythonStepResult | undefined;
        if (pythonStep) {
          // The interpreter may come from this build's apt layer (python3 in apt_packages on a plain
          // Debian base): the Python step looks at the base and that layer. Not under the base's name,
          // so what it finds is not remembered as the base's Python.
          const below = apt?.layer ? { config: base.config, layers: [...base.layers, apt.layer] } : base;
          python = await this.python(plan, platform, below, { requirements: pythonStep.requirements, cacheDir, compression, identity, registryCache });
        }
        const pythonLayers = python ? python.record.layers.map((layer, i) => ({ blob: python.layers[i]!, history: { diffId: layer.diffId, createdBy: pythonLayerHistory(layer) } })) : [];
        const added: { blob: Blob; history: AddedLayer }[] = [...aptLayers, ...pythonLayers, ...(files ? [files] : [])];
        const env = python ? withScriptsOnPath(configStep.env, base.config, python.python.scheme.scripts) : configStep.env;
        const config = buildConfig(base.config, platform, { ...settingsOf(spec, configStep), env }, added.map((a) => a.history), identity.epoch);
        const annotations: Record<string, string> = {};
        if (base.reference !== undefined) annotations["org.opencontainers.image.base.name"] = base.reference;
        if (base.digest !== undefined) annotations["org.opencontainers.image.base.digest"] = base.digest;
        const layers = [...base.layers.map(asOciLayer), ...added.map((a) => a.blob)];
        return { image: imageFromParts(config, layers, { annotations }), platform, python, apt };
      }),
    );
    const result: Image | ImageIndex = built.length === 1 ? built[0]!.image : indexFromImages(built);

    return {
      kind: "image",
      image: result,
      // Once the image is pushed, recording what its apt and Python steps made, for the next runner, is best effort.
      afterPush: async () => {
        for (const { platform, python, apt } of built) {
          if (registryCache) await this.storeStepCaches(image, platform, python, apt, registryCache);
        }
      },
    };
  }

  private async storeStepCaches(
    image: string,
    platform: Platform,
    python: PythonStepResult | undefined,
    apt: AptStepResult | undefined,
    target: { registry: Registry; repository: Reference },
  ): Promise<void> {
    const writes: { step: "base-python" | "python" | "apt"; write: () => Promise<{ status: "present" | "stored"; tag: string }> }[] = [];
    const { record: aptRecord, layer: aptLayer } = apt ?? {};
    if (apt?.source !== "registry-cache" && aptRecord && aptLayer) {
      writes.push({ step: "apt", write: () => storeAptStep(target.registry, target.repository, aptRecord, aptLayer, this.options.signal) });
    }
    if (python?.learned) {
      const { key, facts } = python.learned;
      writes.push({ step: "base-python", write: () => storeBasePython(target.registry, target.repository, key, facts, this.options.signal) });
    }
    if (python && python.source !== "registry-cache" && python.record.layers.length > 0) {
      writes.push({ step: "python", write: () => storeStepCache(target.registry, target.repository, python.record, python.layers, this.options.signal) });
    }
    for (const { step, write } of writes) {
      try {
        const stored = await write();
        this.emit({ kind: "step-cache", image, platform: formatPlatform(platform), step, tag: stored.tag, status: stored.status });
      } catch (error) {
        if (this.options.signal?.aborted) throw error;
        this.emit({ kind: "warning", image, message: `could not write the ${step} step cache for ${formatPlatform(platform)}: ${(error as Error).message}` });
      }
    }
  }

  private async apt(
    image: string,
    platform: Platform,
    base: Base,
    step: { packages: readonly string[]; mirror?: string; cacheDir: string; compression: CompressionOptions; identity: LayerIdentity; registryCache: AptStepOptions["registryCache"] },
  ): Promise<AptStepResult> {
    const result = await runAptStep({
      packages: step.packages,
      ...(step.mirror !== undefined ? { mirror: step.mirror } : {}),
      platform,
      base,
      cacheDir: step.cacheDir,
      compression: step.compression,
      identity: step.identity,
      ...(step.registryCache ? { registryCache: step.registryCache } : {}),
      ...(this.options.refresh ? { refresh: true } : {}),
      ...(this.options.signal ? { signal: this.options.signal } : {}),
    });
    const name = formatPlatform(platform);
    for (const message of result.warnings) this.emit({ kind: "warning", image, message: `apt (${name}): ${message}` });
    this.emit({ kind: "apt", image, platform: name, source: result.source, packages: result.packages, alreadyInstalled: result.alreadyInstalled });
    if (result.layer) {
      this.emit({ kind: "layer", image, step: `apt ${name}`, digest: result.layer.descriptor.digest, size: result.layer.descriptor.size, fromCache: result.source !== "built" });
    }
    return result;
  }

  private async python(
    plan: Plan,
    platform: Platform,
    base: Base,
    step: Pick<PythonStepOptions, "requirements" | "cacheDir" | "compression" | "identity" | "registryCache">,
  ): Promise<PythonStepResult> {
    const { image } = plan;
    let result: PythonStepResult;
    try {
      result = await runPythonStep({
        ...step,
        platform,
        base,
        ...(plan.spec.pythonVersion !== undefined ? { pythonVersion: plan.spec.pythonVersion } : {}),
        ...(this.options.refresh ? { refresh: true } : {}),
        ...(this.options.largeWheelBytes !== undefined ? { largeWheelBytes: this.options.largeWheelBytes } : {}),
        ...(this.options.signal ? { signal: this.options.signal } : {}),
        onProgress: (progress) => this.emit({ kind: "python-progress", image, platform: formatPlatform(platform), progress }),
      });
    } catch (error) {
      if (error instanceof PythonError && error.code === "PYTHON_NO_WHEEL_FOR_TARGET") throw noWheelError(plan, error);
      throw error;
    }
    for (const message of result.warnings) this.emit({ kind: "warning", image, message });
    const name = formatPlatform(platform);
    this.emit({
      kind: "python",
      image,
      platform: name,
      source: result.source,
      base: result.discoveredFrom,
      interpreter: result.python.interpreter,
      layers: result.layers.length,
      wheels: result.record.wheels.length,
      resolved: result.resolved,
    });
    result.layers.forEach((blob, i) => {
      this.emit({ kind: "layer", image, step: `python ${name} ${i + 1}`, digest: blob.descriptor.digest, size: blob.descriptor.size, fromCache: result.source !== "built" });
    });
    return result;
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

function findStep<K extends Step["kind"]>(plan: Plan, kind: K): Extract<Step, { kind: K }> | undefined {
  return plan.steps.find((s): s is Extract<Step, { kind: K }> => s.kind === kind);
}

function settingsOf(spec: ImageSpec, configStep: Extract<Step, { kind: "config" }>) {
  return {
    trailingEnv: [[SPEC_ID_ENV, configStep.specId]] as const,
    labels: spec.labels,
    workdir: spec.workdir,
    ...(spec.entrypoint !== undefined ? { entrypoint: spec.entrypoint } : {}),
    ...(spec.cmd !== undefined ? { cmd: spec.cmd } : {}),
    ...(spec.user !== undefined ? { user: spec.user } : {}),
  };
}

/** PATH with the scripts directory in front, when the image's PATH lacks it (and the spec does not set PATH itself). */
export function withScriptsOnPath(env: Readonly<Record<string, string>>, base: ImageConfig | undefined, scripts: string): Readonly<Record<string, string>> {
  if (env.PATH !== undefined) return env;
  const basePath = (base?.config?.Env ?? []).find((e) => e.startsWith("PATH="))?.slice("PATH=".length) ?? DEFAULT_IMAGE_PATH;
  if (basePath.split(":").includes(scripts)) return env;
  return { ...env, PATH: `${scripts}:${basePath}` };
}
