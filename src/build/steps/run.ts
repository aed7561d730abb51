// The plan run as a plan: each of its steps, in plan order (base, apt, python, files, config), is
// prepared once (what the platforms share, the files layer, is made then) and then run for every
// platform on the image the steps before it built. The cached steps (apt, python and the
// base-python discovery inside it) go through the StepCache; their registry entries are written
// after the push, best effort (storeStepCaches).
import { formatPlatform, imageFromParts, MediaType, type Blob, type ImageConfig, type Platform } from "../../oci/index.js";
import { DEFAULT_IMAGE_PATH, PythonError } from "../../python/index.js";
import type { ImageSpec } from "../../spec/index.js";
import { aptLayerHistory, runAptStep, storeAptStep } from "../apt-step.js";
import { storeBasePython } from "../base-python.js";
import { buildConfig } from "../config.js";
import { filesLayer } from "../files-layer.js";
import { SPEC_ID_ENV, type Step } from "../plan.js";
import { storeStepCache } from "../python-record.js";
import { pythonLayerHistory, runPythonStep } from "../python-step.js";
import { noWheelError } from "../unsupported.js";
import type { AddedBlob, PlatformImage, StepContext, StepRunner } from "./step.js";

export interface PlatformBuild {
  readonly platform: Platform;
  readonly image: NonNullable<PlatformImage["image"]>;
  readonly cacheWrites: PlatformImage["cacheWrites"];
}

/** Runs every step of the plan for every platform; one image per platform, in the plan's platform order. */
export async function runPlanSteps(context: StepContext): Promise<PlatformBuild[]> {
  const { plan } = context;
  const prepared: ((image: PlatformImage) => Promise<void>)[] = [];
  for (const step of plan.steps) prepared.push(await runnerOf(step)(step, context));
  return Promise.all(
    plan.platforms.map(async (platform) => {
      const image: PlatformImage = { platform, base: { config: undefined, layers: [] }, added: [], cacheWrites: [] };
      for (const run of prepared) await run(image);
      if (!image.image) throw new Error("a plan always ends with a config step");
      return { platform, image: image.image, cacheWrites: image.cacheWrites };
    }),
  );
}

/** Writes the step-cache entries of the pushed image; a failure is a warning, never a failed build. */
export async function storeStepCaches(builds: readonly PlatformBuild[], context: Pick<StepContext, "image" | "emit" | "signal">): Promise<void> {
  const { image, emit, signal } = context;
  for (const { platform, cacheWrites } of builds) {
    for (const { step, write } of cacheWrites) {
      try {
        const stored = await write();
        emit({ kind: "step-cache", image, platform: formatPlatform(platform), step, tag: stored.tag, status: stored.status });
      } catch (error) {
        if (signal?.aborted) throw error;
        emit({ kind: "warning", image, message: `could not write the ${step} step cache for ${formatPlatform(platform)}: ${(error as Error).message}` });
      }
    }
  }
}

function runnerOf(step: Step): StepRunner<Step> {
  const runners: { [K in Step["kind"]]: StepRunner<Extract<Step, { kind: K }>> } = { base: baseStep, apt: aptStep, python: pythonStep, files: filesStep, config: configStep };
  return runners[step.kind] as StepRunner<Step>;
}

/** The driver resolved the plan's base (pulled, or a nested spec built first); this reads it for the platform. */
const baseStep: StepRunner<Extract<Step, { kind: "base" }>> = async (_step, context) => async (image) => {
  image.base = await context.base(image.platform);
};

/** System packages first: the apt layer sits right above the base. */
const aptStep: StepRunner<Extract<Step, { kind: "apt" }>> = async (step, context) => async (image) => {
  const { image: name, emit, registryCache } = context;
  const platform = formatPlatform(image.platform);
  const result = await runAptStep({
    packages: step.packages,
    ...(step.mirror !== undefined ? { mirror: step.mirror } : {}),
    platform: image.platform,
    base: { layers: below(image).layers },
    cacheDir: context.cacheDir,
    compression: context.compression,
    identity: context.identity,
    ...(registryCache ? { registryCache } : {}),
    ...(context.refresh ? { refresh: true } : {}),
    ...(context.signal ? { signal: context.signal } : {}),
  });
  for (const message of result.warnings) emit({ kind: "warning", image: name, message: `apt (${platform}): ${message}` });
  emit({ kind: "apt", image: name, platform, source: result.source, packages: result.packages, alreadyInstalled: result.alreadyInstalled });
  const { layer, record } = result;
  if (!layer || !record) return;
  emit({ kind: "layer", image: name, step: `apt ${platform}`, digest: layer.descriptor.digest, size: layer.descriptor.size, fromCache: result.source !== "built" });
  image.added.push({ blob: layer, history: { diffId: record.layer.diffId, createdBy: aptLayerHistory(step.packages, result.packages.length) } });
  if (registryCache && result.source !== "registry-cache") {
    image.cacheWrites.push({ step: "apt", write: () => storeAptStep(registryCache.registry, registryCache.repository, record, layer, context.signal) });
  }
};

const pythonStep: StepRunner<Extract<Step, { kind: "python" }>> = async (step, context) => async (image) => {
  const { image: name, emit, registryCache, plan } = context;
  const platform = formatPlatform(image.platform);
  let result;
  try {
    result = await runPythonStep({
      requirements: step.requirements,
      platform: image.platform,
      // The interpreter may come from this build's apt layer (python3 in apt_packages on a plain
      // Debian base): the Python step looks at the base and that layer. Not under the base's name,
      // so what it finds is not remembered as the base's Python.
      base: below(image),
      cacheDir: context.cacheDir,
      compression: context.compression,
      identity: context.identity,
      ...(registryCache ? { registryCache } : {}),
      ...(plan.spec.pythonVersion !== undefined ? { pythonVersion: plan.spec.pythonVersion } : {}),
      ...(context.refresh ? { refresh: true } : {}),
      ...(context.largeWheelBytes !== undefined ? { largeWheelBytes: context.largeWheelBytes } : {}),
      ...(context.signal ? { signal: context.signal } : {}),
      onProgress: (progress) => emit({ kind: "python-progress", image: name, platform, progress }),
    });
  } catch (error) {
    if (error instanceof PythonError && error.code === "PYTHON_NO_WHEEL_FOR_TARGET") throw noWheelError(plan, error);
    throw error;
  }
  for (const message of result.warnings) emit({ kind: "warning", image: name, message });
  emit({
    kind: "python",
    image: name,
    platform,
    source: result.source,
    base: result.discoveredFrom,
    interpreter: result.python.interpreter,
    layers: result.layers.length,
    wheels: result.record.wheels.length,
    resolved: result.resolved,
  });
  const { record, layers, learned } = result;
  layers.forEach((blob, i) => {
    emit({ kind: "layer", image: name, step: `python ${platform} ${i + 1}`, digest: blob.descriptor.digest, size: blob.descriptor.size, fromCache: result.source !== "built" });
    image.added.push({ blob, history: { diffId: record.layers[i]!.diffId, createdBy: pythonLayerHistory(record.layers[i]!) } });
  });
  image.scripts = result.python.scheme.scripts;
  if (!registryCache) return;
  const { registry, repository } = registryCache;
  if (learned) image.cacheWrites.push({ step: "base-python", write: () => storeBasePython(registry, repository, learned.key, learned.facts, context.signal) });
  if (result.source !== "registry-cache" && layers.length > 0) {
    image.cacheWrites.push({ step: "python", write: () => storeStepCache(registry, repository, record, layers, context.signal) });
  }
};

/** The files are the same on every platform: one layer, built (or found) once. */
const filesStep: StepRunner<Extract<Step, { kind: "files" }>> = async (step, context) => {
  const { layer, fromCache, storeInRegistry } = await filesLayer(step.entries, {
    cacheDir: context.cacheDir,
    workdir: step.workdir,
    compression: context.compression,
    identity: context.identity,
    ...(context.uploadOnly ? { uploadOnly: context.uploadOnly } : {}),
    ...(context.registryCache ? { registryCache: context.registryCache } : {}),
    ...(context.signal ? { signal: context.signal } : {}),
    warn: (message) => context.emit({ kind: "warning", image: context.image, message }),
  });
  context.emit({ kind: "layer", image: context.image, step: "files", digest: layer.descriptor.digest, size: layer.descriptor.size, fromCache });
  const files: AddedBlob = { blob: layer, history: { diffId: layer.diffId, createdBy: `imagespec: files -> ${step.workdir}` } };
  // One record for the layer, whichever platforms carry it: written with the first platform's caches.
  let recorded = false;
  return async (image) => {
    image.added.push(files);
    if (storeInRegistry && !recorded) {
      recorded = true;
      image.cacheWrites.push({ step: "files", write: storeInRegistry });
    }
  };
};

const configStep: StepRunner<Extract<Step, { kind: "config" }>> = async (step, context) => async (image) => {
  const { base, added, platform } = image;
  const { spec } = context.plan;
  const env = image.scripts !== undefined ? withScriptsOnPath(step.env, base.config, image.scripts) : step.env;
  const config = buildConfig(base.config, platform, { ...settingsOf(spec, step), env }, added.map((a) => a.history), context.identity.epoch);
  const annotations: Record<string, string> = {};
  if (base.reference !== undefined) annotations["org.opencontainers.image.base.name"] = base.reference;
  if (base.digest !== undefined) annotations["org.opencontainers.image.base.digest"] = base.digest;
  image.image = imageFromParts(config, [...base.layers.map(asOciLayer), ...added.map((a) => a.blob)], { annotations });
};

/** The base with what the steps so far added on top; the base itself (with its name) while nothing is. */
function below(image: PlatformImage): PlatformImage["base"] {
  const { base, added } = image;
  return added.length === 0 ? base : { config: base.config, layers: [...base.layers, ...added.map((a) => a.blob)] };
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
