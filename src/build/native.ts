// The native builder: executes a plan without running anything inside the image. The base's
// layers are reused as they are (streamed or mounted, never unpacked), imagespec's own layers
// are written reproducibly on top, and the result goes to a registry or an OCI image layout.
import { ImagespecError } from "../errors.js";
import { closeGzipWorkers, resolveCompressor, type Compression, type CompressionOptions } from "../layer/index.js";
import { formatPlatform, indexFromImages, readLayoutImage, writeLayout, type Image, type ImageIndex, type Platform } from "../oci/index.js";
import { parseReference } from "../reference/index.js";
import { Registry, readConfig, type PushEvent } from "../registry/index.js";
import type { ImageSpec } from "../spec/index.js";
import type { AptStepSource } from "./apt-step.js";
import type { BackendName } from "./backends/types.js";
import { defaultCacheDir } from "./cache-dir.js";
import { describeDestination, destinationFor, existingDigest } from "./destination.js";
import { planBuild, type BaseSource, type Plan } from "./plan.js";
import type { PythonStepProgress, PythonStepResult, PythonStepSource } from "./python-step.js";
import type { LayerIdentity } from "./step-keys.js";
import { runPlanSteps, storeStepCaches } from "./steps/run.js";
import type { Base, StepContext } from "./steps/step.js";
import { blockedError } from "./unsupported.js";

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
  /** Wheels above this many bytes get a layer of their own (default 20 MiB). */
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

    const cacheDir = this.options.cacheDir ?? defaultCacheDir();
    const compression: CompressionOptions = this.options.compression ? { compression: this.options.compression } : {};
    const identity: LayerIdentity = { compressor: (await resolveCompressor(compression)).id, epoch: buildEpoch(this.options.epoch) };

    const registryCache = destination.kind === "registry" ? { registry: this.registry, repository: parseReference(destination.reference) } : undefined;
    const stepContext: StepContext = {
      plan,
      image,
      cacheDir,
      compression,
      identity,
      ...(registryCache ? { registryCache } : {}),
      ...(this.options.refresh ? { refresh: true } : {}),
      ...(this.options.largeWheelBytes !== undefined ? { largeWheelBytes: this.options.largeWheelBytes } : {}),
      ...(this.options.signal ? { signal: this.options.signal } : {}),
      emit: (event) => this.emit(event),
      base: (source, platform) => this.base(source, platform, image),
    };
    const built = await runPlanSteps(stepContext);
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
    await storeStepCaches(built, stepContext);
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
