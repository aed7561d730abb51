// The one entry point for building specs: the native builder when it can, a Dockerfile builder
// (docker buildx, podman, buildah, BuildKit) when the spec needs one or asks for one. Both run the
// same existence check first (src/build/destination.ts), so an image whose tag exists is never
// rebuilt, and an error from that check stops the build. Both report through BuildEvent and
// return a BuildResult.
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ImagespecError } from "../errors.js";
import { formatPlatform } from "../oci/index.js";
import { isLoopbackHost, parseReference, type Reference } from "../reference/index.js";
import { readConfig, Registry, type Credential } from "../registry/index.js";
import type { Builder, ImageSpec } from "../spec/index.js";
import { writeAuthDir, type BackendName, type BackendsConfig, type Backend } from "./backends/index.js";
import { defaultCacheDir } from "./cache-dir.js";
import { specDockerfile, writeContext } from "./context.js";
import { describeDestination, destinationFor, existingDigest, type Destination } from "./destination.js";
import { NativeBuilder, type BuildEvent, type BuildOptions, type BuildResult } from "./native.js";
import { baseSource, planBuild, type Plan } from "./plan.js";
import { nativeSelection, selectBuilder, type Selection } from "./select.js";

export interface ImageBuilderOptions extends BuildOptions {
  /** Overrides every spec's `builder` (the CLI's --builder). */
  builder?: Builder;
  /**
   * Runs before a Dockerfile builder pushes (the native builder runs the Registry's own hook):
   * the ECR repository hook, so the repository exists when the tool pushes.
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

function hostOf(image: string): string | undefined {
  if (image === "scratch") return undefined;
  return parseReference(image).registry;
}

export class ImageBuilder {
  private readonly registry: Registry;
  private readonly ownsRegistry: boolean;
  private readonly native: NativeBuilder;
  private readonly inFlight = new Map<string, Promise<BuildResult>>();

  constructor(private readonly options: ImageBuilderOptions = {}) {
    this.ownsRegistry = options.registry === undefined;
    this.registry = options.registry ?? new Registry();
    this.native = new NativeBuilder({ ...options, registry: this.registry });
  }

  async close(): Promise<void> {
    await this.native.close();
    if (this.ownsRegistry) await this.registry.close();
  }

  private emit(event: BuildEvent): void {
    this.options.onEvent?.(event);
  }

  async build(spec: ImageSpec): Promise<BuildResult> {
    const plan = await planBuild(spec, { preview: false });
    const native = nativeSelection(plan, this.options.builder);
    if (native) {
      this.emit({ kind: "builder", image: plan.image, builder: "native", reason: native.reason });
      return this.native.buildPlan(plan);
    }
    const key = `${plan.image}\0${this.options.output ?? ""}`;
    let running = this.inFlight.get(key);
    if (!running) {
      running = this.buildWithDockerfile(plan);
      this.inFlight.set(key, running);
    }
    return running;
  }

  /**
   * The builder `build` uses for the plan, and why, found as `build` finds it (the dry run shows
   * it): native without looking for tools, else the Dockerfile builder that is installed and works.
   */
  async selection(plan: Plan): Promise<Selection> {
    const native = nativeSelection(plan, this.options.builder);
    if (native) return native;
    // What the build refuses before anything else, the selection refuses too.
    this.dockerfileDestination(plan);
    const cacheDir = this.options.cacheDir ?? defaultCacheDir();
    return selectBuilder(plan, {
      ...(this.options.builder !== undefined ? { builder: this.options.builder } : {}),
      backends: specBackends(plan.spec, this.options.backends ?? {}, cacheDir),
      ...(this.options.createBackend ? { createBackend: this.options.createBackend } : {}),
    });
  }

  /** A Dockerfile builder pushes, so its destination must be a registry. */
  private dockerfileDestination(plan: Plan): Extract<Destination, { kind: "registry" }> {
    const { spec } = plan;
    const destination = destinationFor(plan, this.options.output);
    if (destination.kind !== "registry") {
      throw new ImagespecError("DOCKERFILE_NEEDS_REGISTRY", `spec "${spec.name}" is built with a Dockerfile builder, which pushes to a registry; ${spec.registry === undefined ? "the spec names no registry" : "an OCI layout output was asked for"}`, {
        hint: "set the spec's registry (a local one works: docker run -p 5000:5000 registry:2, then registry: localhost:5000), or build natively",
      });
    }
    return destination;
  }

  private async buildWithDockerfile(plan: Plan): Promise<BuildResult> {
    const { spec, image } = plan;
    this.emit({ kind: "plan", image, plan });
    const destination = this.dockerfileDestination(plan);
    const location = describeDestination(destination);
    const platforms = plan.platforms.map(formatPlatform);
    const signal = this.options.signal;

    // The existence check decides before any builder is looked for; an error from it stops the build.
    if (!this.options.force && !spec.isForcePush) {
      const digest = await existingDigest(this.registry, destination, signal);
      if (digest !== undefined) {
        this.emit({ kind: "exists", image, digest });
        return { image, status: "exists", digest, location, platforms, bytesWritten: 0, blobsSkipped: 0 };
      }
    }

    const selection = await this.selection(plan);
    if (selection.kind !== "dockerfile") throw new Error("selectBuilder chose native for a plan that needs a Dockerfile builder");
    const backend = selection.backend;
    this.emit({ kind: "builder", image, builder: backend.name, reason: selection.reason });

    // A nested base spec is built (or found) first, through this same builder.
    const source = await baseSource(spec);
    let base: string;
    if (source.kind === "spec") {
      base = (await this.build(source.spec)).location;
      if (base.startsWith("oci:")) {
        throw new ImagespecError("DOCKERFILE_NEEDS_REGISTRY", `spec "${spec.name}" is built with a Dockerfile builder, whose FROM must be in a registry, but its base spec "${source.spec.name}" went to ${base}`, {
          hint: "set the base spec's registry, so the base is pushed where the builder can pull it",
        });
      }
    } else {
      base = source.kind === "scratch" ? "scratch" : source.reference;
    }

    const runsCommands = spec.aptPackages.length > 0 || spec.condaPackages.length > 0 || spec.cuda !== undefined || spec.commands.length > 0 || spec.packages.length > 0 || spec.requirements !== undefined;
    const baseUser = runsCommands && base !== "scratch" ? await this.baseUser(image, base, plan) : undefined;
    const generated = await specDockerfile(spec, { base, ...(baseUser !== undefined ? { baseUser } : {}) });

    const target = parseReference(image);
    const pullHosts = [...new Set(generated.images.map(hostOf).filter((h): h is string => h !== undefined))];
    const insecureHosts = new Set(
      [target.registry, ...pullHosts].filter((h) => isLoopbackHost(h) || (this.options.insecureRegistries ?? []).some((i) => i.toLowerCase() === h.toLowerCase() || i.toLowerCase() === h.toLowerCase().replace(/:\d+$/, ""))).map((h) => h.toLowerCase()),
    );
    const parent = this.options.tempDir ?? tmpdir();
    const context = await writeContext(generated, parent);
    let auth: Awaited<ReturnType<typeof writeAuthDir>> | undefined;
    try {
      const resolve = this.options.credentials ?? ((host: string) => this.registry.keychain.resolve(host));
      auth = await writeAuthDir([target.registry, ...pullHosts], resolve, { parent, ...(this.options.backends?.env ? { env: this.options.backends.env } : {}) });
      await this.options.beforePush?.(target);
      await backend.build(
        {
          context,
          buildId: randomBytes(8).toString("hex"),
          image,
          platforms,
          insecureHosts,
          targetHost: target.registry,
          pullHosts,
          authDir: auth.dir,
        },
        {
          onLine: ({ stream, line }, step) => this.emit({ kind: "output", image, builder: backend.name, step, stream, line }),
          ...(signal ? { signal } : {}),
        },
      );
    } finally {
      await context.remove();
      await auth?.remove();
    }

    // What the tool pushed, as the registry has it: the digest, and proof the push landed.
    const pushed = await this.registry.exists(image, signal);
    if (!pushed.present) {
      throw new ImagespecError("BUILDER_PUSH_MISSING", `${backend.name} finished, but ${image} is not in the registry`, {
        hint: "check the builder's output above for where it pushed to; the image name must match exactly",
      });
    }
    this.emit({ kind: "done", image, digest: pushed.digest });
    return { image, status: "built", digest: pushed.digest, location, platforms, bytesWritten: 0, blobsSkipped: 0 };
  }

  /** The base's USER, so it is restored after the RUN steps switch to root; undefined (with a warning) when it cannot be read. */
  private async baseUser(image: string, base: string, plan: Plan): Promise<string | undefined> {
    try {
      const baseImage = await this.registry.getImage(base, plan.platforms[0], this.options.signal);
      const user = (await readConfig(baseImage.config)).config?.User;
      return user === undefined || user === "" ? undefined : user;
    } catch (error) {
      if (this.options.signal?.aborted) throw error;
      this.emit({ kind: "warning", image, message: `could not read the base image's user (${(error as Error).message}); the image runs as root unless the spec sets user` });
      return undefined;
    }
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
