// The native builder: executes a plan without running anything inside the image. The base's
// layers are reused as they are (streamed or mounted, never unpacked), imagespec's own layers
// are written reproducibly on top, and the result goes to a registry or an OCI image layout.
import { join } from "node:path";
import { ImagespecError } from "../errors.js";
import { closeGzipWorkers, resolveCompressor, type Compression, type CompressionOptions } from "../layer/index.js";
import {
  formatPlatform,
  imageFromParts,
  indexFromImages,
  MediaType,
  readLayoutImage,
  writeLayout,
  type Blob,
  type Image,
  type ImageConfig,
  type ImageIndex,
  type Platform,
} from "../oci/index.js";
import { DEFAULT_IMAGE_PATH, PythonError } from "../python/index.js";
import { parseReference, type Reference } from "../reference/index.js";
import { BlobLocations, Registry, readConfig, type PushEvent } from "../registry/index.js";
import type { ImageSpec } from "../spec/index.js";
import { aptLayerHistory, runAptStep, storeAptStep, type AptStepOptions, type AptStepResult, type AptStepSource } from "./apt-step.js";
import type { BackendName } from "./backends/types.js";
import { storeBasePython } from "./base-python.js";
import { defaultCacheDir } from "./cache-dir.js";
import { describeDestination, destinationFor, existingDigest } from "./destination.js";
import { buildConfig, type AddedLayer } from "./config.js";
import { filesLayer } from "./files-layer.js";
import { planBuild, SPEC_ID_ENV, type BaseSource, type Plan, type Step } from "./plan.js";
import { pythonLayerHistory, runPythonStep, type PythonStepOptions, type PythonStepProgress, type PythonStepResult, type PythonStepSource } from "./python-step.js";
import { storeStepCache } from "./registry-step-cache.js";
import type { LayerIdentity } from "./step-keys.js";
import { blockedError, noWheelError } from "./unsupported.js";

export type BuildEvent =
  | { kind: "plan"; image: string; plan: Plan }
  | { kind: "exists"; image: string; digest: string }
  | { kind: "base"; image: string; platform: string; reference: string; digest?: string }
  | { kind: "layer"; image: string; step: string; digest: string; size: number; fromCache?: boolean }
  /** Where the Python layers of one platform came from; `resolved`: pip or uv ran. */
  | {
      kind: "python";
      image: string;
      platform: string;
      source: PythonStepSource;
      /** How the base's interpreter was found: cached listings, reading the base layers, or the registry's step cache. */
      base: PythonStepResult["discoveredFrom"];
      interpreter: string;
      layers: number;
      wheels: number;
      resolved: boolean;
    }
  /** The Python step of one platform at work: resolving, downloading wheels, writing layers. */
  | { kind: "python-progress"; image: string; platform: string; progress: PythonStepProgress }
  /** The apt layer of one platform: where it came from and the packages in it (`name=version`). */
  | {
      kind: "apt";
      image: string;
      platform: string;
      source: AptStepSource;
      packages: readonly string[];
      /** Requested packages the base already has in a satisfying version (`name version`); not installed again. */
      alreadyInstalled: readonly string[];
    }
  /** The step-cache artifact in the target repository after the push: already there, or written now. */
  | { kind: "step-cache"; image: string; platform: string; step: "base-python" | "python" | "apt"; tag: string; status: "present" | "stored" }
  /** Something went wrong that did not affect the image (a step cache that could not be read or written). */
  | { kind: "warning"; image: string; message: string }
  | { kind: "push"; image: string; event: PushEvent }
  /** Which builder builds the image, and why (ImageBuilder). */
  | { kind: "builder"; image: string; builder: "native" | BackendName; reason: string }
  /** A line of a Dockerfile builder's output, as it runs `step` ("build", "push", ...). */
  | { kind: "output"; image: string; builder: BackendName; step: string; stream: "stdout" | "stderr"; line: string }
  | { kind: "done"; image: string; digest: string };

export interface BuildOptions {
  /** The registry client (its keychain, CA file and insecure hosts apply to base pulls and pushes). */
  registry?: Registry;
  /** `oci:DIR` or `oci:DIR:TAG`: write an OCI layout there instead of pushing. */
  output?: string;
  /** Build and push even when the tag exists. The spec's forcePush does the same. */
  force?: boolean;
  /** Folder for reusable build data (listings, resolutions, wheels, layers, step records). Default `$XDG_CACHE_HOME/imagespec`. */
  cacheDir?: string;
  /** Resolve Python requirements again and build the apt layer again, ignoring cached resolutions and step caches (local and registry). */
  refresh?: boolean;
  /** Wheels above this many bytes get a layer of their own (default 1 MiB: DEFAULT_LARGE_WHEEL_BYTES of src/python). */
  largeWheelBytes?: number;
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

export class NativeBuilder {
  private readonly registry: Registry;
  private readonly ownsRegistry: boolean;
  /** One build per image name per builder, so a base shared by several specs is built once. */
  private readonly inFlight = new Map<string, Promise<BuildResult>>();

  constructor(private readonly options: BuildOptions = {}) {
    this.ownsRegistry = options.registry === undefined;
    this.registry = options.registry ?? new Registry();
    // Where pushed and pulled blobs are, kept with the other caches: later pushes mount them.
    this.registry.rememberBlobLocations(new BlobLocations(join(options.cacheDir ?? defaultCacheDir(), "blob-locations.json")));
  }

  async close(): Promise<void> {
    if (this.ownsRegistry) await this.registry.close();
    await closeGzipWorkers();
  }

  build(spec: ImageSpec): Promise<BuildResult> {
    return planBuild(spec, { preview: false }).then((plan) => this.buildPlan(plan));
  }

  /** Builds a plan made with planBuild (once per image name and output, however often it is asked). */
  buildPlan(plan: Plan): Promise<BuildResult> {
    const key = `${plan.image}\0${this.options.output ?? ""}`;
    let running = this.inFlight.get(key);
    if (!running) {
      running = this.execute(plan);
      this.inFlight.set(key, running);
    }
    return running;
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
      const digest = await existingDigest(this.registry, destination, this.options.signal);
      if (digest !== undefined) {
        this.emit({ kind: "exists", image, digest });
        return { image, status: "exists", digest, location, platforms, bytesWritten: 0, blobsSkipped: 0 };
      }
    }

    const baseStep = findStep(plan, "base");
    const aptStep = findStep(plan, "apt");
    const pythonStep = findStep(plan, "python");
    const filesStep = findStep(plan, "files");
    const configStep = findStep(plan, "config");
    if (!baseStep || !configStep) throw new Error("a plan always has a base and a config step");

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

    const registryCache = destination.kind === "registry" ? { registry: this.registry, repository: parseReference(destination.reference) } : undefined;
    const built = await Promise.all(
      plan.platforms.map(async (platform) => {
        const base = await this.base(baseStep.base, platform, image);
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

    if (destination.kind === "layout") {
      const written = await writeLayout(destination.dir, result, { tag: destination.tag });
      this.emit({ kind: "done", image, digest: result.digest });
      return { image, status: "built", digest: result.digest, location, platforms, bytesWritten: written.bytesWritten, blobsSkipped: written.blobsExisting };
    }
    const pushed = await this.registry.push(destination.reference, result, {
      onProgress: (event) => this.emit({ kind: "push", image, event }),
      ...(this.options.signal ? { signal: this.options.signal } : {}),
    });
    // The image is complete; recording what its apt and Python steps made, for the next runner, is best effort.
    for (const { platform, python, apt } of built) {
      if (registryCache) await this.storeStepCaches(image, platform, python, apt, registryCache);
    }
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
