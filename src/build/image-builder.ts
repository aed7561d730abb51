// The build driver, the one entry point for building specs. For each plan it decides, in this order
// and nowhere else: where the image goes (destination.ts), whether it is already there (the
// publisher's existence check: yes, no, or an error that stops the build, never read as "exists"),
// which builder builds it (select.ts: native when it can, a Dockerfile builder when the spec needs
// or asks for one), and the plan's nested base, built (or found) through this same driver so the
// base gets the same choice. Then the builder builds (builders/types.ts: PlanBuilder) and the
// publisher writes (publishers/). Each image and destination is worked on once (once.ts), so a base
// shared by several specs is built once. Every path reports through BuildEvent and returns a BuildResult.
// The builders (native: Python, apt, layer compression, step caches; Dockerfile: the backends) are
// imported when a plan is built, not with the driver: an image that already exists needs none of them.
import { join } from "node:path";
import { ImagespecError } from "../errors.js";
import { formatPlatform, type LayoutReference } from "../oci/index.js";
import { parseReference, type Reference } from "../reference/index.js";
import { BlobLocations, Registry, type Credential } from "../registry/index.js";
import type { Builder, ImageSpec } from "../spec/index.js";
import type { BackendName, BackendsConfig, Backend } from "./backends/index.js";
import type { BaseImage, PlanBuilder } from "./builders/types.js";
import { defaultCacheDir } from "./cache-dir.js";
import { describeDestination, destinationFor, parseOutput, type Destination } from "./destination.js";
import type { BuildEvent, BuildOptions, BuildResult } from "./events.js";
import type { NativePlanBuilder } from "./native.js";
import { oncePerKey } from "./once.js";
import { planBuild, type Plan } from "./plan.js";
import { publisherFor } from "./publishers/index.js";
import { nativeSelection, selectBuilder, type Selection } from "./select.js";
import { blockedError } from "./unsupported.js";

export interface ImageBuilderOptions extends BuildOptions {
  /** Overrides every spec's `builder` (the CLI's --builder). */
  builder?: Builder;
  /**
   * Runs before a Dockerfile builder's tool pushes, after the registry's own hook (which both
   * builders run: the registry's beforePush option, then its vendor's, e.g. the ECR repository).
   */
  beforePush?: (ref: Reference) => Promise<void>;
  /** Registries reached over plain HTTP or with unverified TLS by the Dockerfile builders (loopback hosts always are). */
  insecureRegistries?: readonly string[];
  /** Credentials handed to a Dockerfile builder for a registry host; default: the registry's keychain. */
  credentials?: (host: string) => Promise<Credential | undefined>;
  /** Settings of the Dockerfile builders (buildah storage, buildkit address, the tools' environment). */
  backends?: BackendsConfig;
  /** Makes a backend (embedders and tests); default: the built-in ones. */
  createBackend?: (name: BackendName, config: BackendsConfig) => Backend;
  /** Parent of the build context and credential temp dirs (default the OS temp dir). */
  tempDir?: string;
}

/** `buildkitAddress` and `dockerBuilder` may come from a spec's builderOptions. */
function specBackends(spec: ImageSpec, config: BackendsConfig, cacheDir: string): BackendsConfig {
  const options = spec.builderOptions;
  const address = typeof options.buildkitAddress === "string" ? options.buildkitAddress : undefined;
  const dockerBuilder = typeof options.dockerBuilder === "string" ? options.dockerBuilder : undefined;
  return {
    ...config,
    // buildah keeps its images and layer cache under imagespec's cache dir unless told otherwise.
    buildah: { storageDir: join(cacheDir, "buildah"), ...config.buildah },
    ...(address !== undefined ? { buildkit: { ...config.buildkit, address: config.buildkit?.address ?? address } } : {}),
    ...(dockerBuilder !== undefined ? { docker: { ...config.docker, builder: config.docker?.builder ?? dockerBuilder } } : {}),
  };
}

/** A build's result, with where the image is as a value (a nested base is read from there). */
interface Outcome {
  result: BuildResult;
  destination: Destination;
}

export class ImageBuilder {
  protected readonly registry: Registry;
  private readonly ownsRegistry: boolean;
  /** Made (and its module loaded) by the first native build. */
  private native: Promise<NativePlanBuilder> | undefined;
  /** The output option as a layout value, parsed on first use (a bad one fails the build that uses it). */
  private output: { value: LayoutReference | undefined } | undefined;
  /** One run per image name and destination, however often it is asked for (as a spec, or as a base). */
  private readonly run = oncePerKey(
    (plan: Plan, destination: Destination) => `${plan.image}\0${describeDestination(destination)}`,
    (plan: Plan, destination: Destination) => this.execute(plan, destination),
  );

  constructor(private readonly options: ImageBuilderOptions = {}) {
    this.ownsRegistry = options.registry === undefined;
    this.registry = options.registry ?? new Registry();
    // Where pushed and pulled blobs are, kept with the other caches: later pushes mount them.
    this.registry.rememberBlobLocations(new BlobLocations(join(options.cacheDir ?? defaultCacheDir(), "blob-locations.json")));
  }

  async close(): Promise<void> {
    if (this.ownsRegistry) await this.registry.close();
    // The gzip workers are process-wide and unref'd when idle: closing them here failed another
    // builder's compression in the same process ("gzip worker pool is closed").
  }

  private emit(event: BuildEvent): void {
    this.options.onEvent?.(event);
  }

  async build(spec: ImageSpec): Promise<BuildResult> {
    return this.buildPlan(await planBuild(spec, { preview: false, cacheDir: this.options.cacheDir ?? defaultCacheDir() }));
  }

  /** Builds a plan made with planBuild (once per image name and destination, however often it is asked). */
  async buildPlan(plan: Plan): Promise<BuildResult> {
    return (await this.outcome(plan)).result;
  }

  private outcome(plan: Plan, asBase = false): Promise<Outcome> {
    return this.run(plan, this.destination(plan, asBase));
  }

  /**
   * Where the plan's image goes. A nested base goes to the output layout under its own name: the
   * output's tag names the image asked for, and the base written there would be overwritten by it.
   */
  private destination(plan: Plan, asBase = false): Destination {
    this.output ??= { value: this.options.output === undefined ? undefined : parseOutput(this.options.output) };
    const output = this.output.value;
    return destinationFor(plan, asBase && output !== undefined ? { dir: output.dir } : output);
  }

  /**
   * The native builder, when it builds the plan, with the reason; undefined when a Dockerfile
   * builder does. Decided without looking for any tool; what cannot be built as asked is refused.
   */
  protected nativeChoice(plan: Plan): Extract<Selection, { kind: "native" }> | undefined {
    return nativeSelection(plan, this.options.builder);
  }

  /**
   * The builder `build` uses for the plan, and why, found as `build` finds it (the dry run shows
   * it): native without looking for tools, else the Dockerfile builder that is installed and works.
   */
  selection(plan: Plan): Promise<Selection> {
    return this.choose(plan, this.destination(plan));
  }

  private async choose(plan: Plan, destination: Destination): Promise<Selection> {
    const native = this.nativeChoice(plan);
    if (native) return native;
    // What the build refuses before anything else, the selection refuses too.
    this.dockerfileDestination(plan, destination);
    const cacheDir = this.options.cacheDir ?? defaultCacheDir();
    return selectBuilder(plan, {
      ...(this.options.builder !== undefined ? { builder: this.options.builder } : {}),
      backends: specBackends(plan.spec, this.options.backends ?? {}, cacheDir),
      ...(this.options.createBackend ? { createBackend: this.options.createBackend } : {}),
    });
  }

  /** A Dockerfile builder pushes, so its destination must be a registry. */
  private dockerfileDestination(plan: Plan, destination: Destination): Extract<Destination, { kind: "registry" }> {
    const { spec } = plan;
    if (destination.kind !== "registry") {
      throw new ImagespecError("DOCKERFILE_NEEDS_REGISTRY", `spec "${spec.name}" is built with a Dockerfile builder, which pushes to a registry; ${spec.registry === undefined ? "the spec names no registry" : "an OCI layout output was asked for"}`, {
        hint: "set the spec's registry (a local one works: docker run -p 5000:5000 registry:2, then registry: localhost:5000), or build natively",
      });
    }
    return destination;
  }

  private async builderFor(selection: Selection): Promise<PlanBuilder> {
    if (selection.kind === "native") {
      this.native ??= import("./native.js").then(({ NativePlanBuilder }) => new NativePlanBuilder({ ...this.options, registry: this.registry }));
      return this.native;
    }
    const { options } = this;
    const { DockerfilePlanBuilder } = await import("./builders/dockerfile.js");
    return new DockerfilePlanBuilder(selection.backend, {
      registry: this.registry,
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.beforePush ? { beforePush: options.beforePush } : {}),
      ...(options.insecureRegistries ? { insecureRegistries: options.insecureRegistries } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
      ...(options.backends ? { backends: options.backends } : {}),
      ...(options.tempDir !== undefined ? { tempDir: options.tempDir } : {}),
    });
  }

  /** The plan's base: scratch, an image reference, or a nested base spec built (or found) through this driver. */
  private async base(plan: Plan): Promise<BaseImage> {
    const source = plan.steps.find((s) => s.kind === "base")?.base;
    if (source === undefined) throw new Error("a plan always has a base step");
    switch (source.kind) {
      case "scratch":
        return { kind: "scratch" };
      case "image":
        return { kind: "image", name: source.reference, at: { kind: "registry", reference: parseReference(source.reference) } };
      case "spec": {
        const { result, destination } = await this.outcome(await planBuild(source.spec, { preview: false, cacheDir: this.options.cacheDir ?? defaultCacheDir() }), true);
        return { kind: "image", name: result.image, at: destination };
      }
    }
  }

  private async execute(plan: Plan, destination: Destination): Promise<Outcome> {
    const { spec, image } = plan;
    const { signal } = this.options;
    this.emit({ kind: "plan", image, plan });
    // What is decided without looking for a tool comes first: native is announced (or refused as
    // asked), and a build that needs a Dockerfile builder must go to a registry.
    const native = this.nativeChoice(plan);
    if (native) this.emit({ kind: "builder", image, builder: "native", reason: native.reason });
    else this.dockerfileDestination(plan, destination);
    const location = describeDestination(destination);
    const platforms = plan.platforms.map(formatPlatform);
    const publisher = publisherFor(destination, this.registry);

    // The existence check decides before any builder is looked for; an error from it stops the build.
    if (!this.options.force && !spec.isForcePush) {
      const digest = await publisher.existing(signal);
      if (digest !== undefined) {
        this.emit({ kind: "exists", image, digest });
        return { destination, result: { image, status: "exists", digest, location, platforms, bytesWritten: 0, blobsSkipped: 0 } };
      }
    }

    const selection = native ?? (await this.choose(plan, destination));
    if (!native) {
      if (selection.kind !== "dockerfile") throw new Error("selectBuilder chose native for a plan that needs a Dockerfile builder");
      this.emit({ kind: "builder", image, builder: selection.backend.name, reason: selection.reason });
    }
    const builder = await this.builderFor(selection);
    const built = await builder.build(plan, { destination, base: await this.base(plan) });
    // A Dockerfile tool has pushed by itself (its builder read back the digest); anything else is published here.
    const published =
      built.kind === "pushed"
        ? { digest: built.digest, bytesWritten: 0, blobsSkipped: 0 }
        : await publisher.publish(built.image, {
            ...(built.afterPush ? { afterPush: built.afterPush } : {}),
            onPush: (event) => this.emit({ kind: "push", image, event }),
            ...(signal ? { signal } : {}),
          });
    this.emit({ kind: "done", image, digest: published.digest });
    return { destination, result: { image, status: "built", digest: published.digest, location, platforms, bytesWritten: published.bytesWritten, blobsSkipped: published.blobsSkipped } };
  }
}

/**
 * The native builder alone: the driver with the choice fixed to native (embedders and tests that
 * must not run a Dockerfile tool). A spec it cannot build, nested base specs included, is refused
 * (NATIVE_UNSUPPORTED), naming the fields.
 */
export class NativeBuilder extends ImageBuilder {
  constructor(options: BuildOptions = {}) {
    super(options);
  }

  protected override nativeChoice(plan: Plan): Extract<Selection, { kind: "native" }> {
    if (plan.blockers.length > 0) throw blockedError(plan);
    return { kind: "native", reason: "the native builder was asked for (NativeBuilder)" };
  }
}

/** Builds one spec with an ImageBuilder made for the call. */
export async function buildImage(spec: ImageSpec, options: ImageBuilderOptions = {}): Promise<BuildResult> {
  const builder = new ImageBuilder(options);
  try {
    return await builder.build(spec);
  } finally {
    await builder.close();
  }
}

/** Builds one spec with a NativeBuilder made for the call. */
export async function buildSpec(spec: ImageSpec, options: BuildOptions = {}): Promise<BuildResult> {
  const builder = new NativeBuilder(options);
  try {
    return await builder.build(spec);
  } finally {
    await builder.close();
  }
}
