// The Dockerfile Builder: the spec as a Dockerfile (context.ts), run by a Dockerfile tool (docker
// buildx, podman, buildah, BuildKit: backends/) with imagespec's credentials for the target and the
// images it pulls. The tool pushes by itself, so this builder is its own publisher: it runs the
// registry's before-push hook (ECR: the repository exists), lets the tool push to the destination,
// and reads back what the registry holds there, which is the proof the push landed and the digest.
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { ImagespecError } from "../../errors.js";
import { formatPlatform } from "../../oci/index.js";
import { isLoopbackHost, parseReference, type Reference } from "../../reference/index.js";
import { readConfig, type Credential, type Registry } from "../../registry/index.js";
import { writeAuthDir, type Backend, type BackendsConfig } from "../backends/index.js";
import { specDockerfile, writeContext } from "../context.js";
import { dockerfileRunsSteps } from "../dockerfile.js";
import { describeDestination } from "../destination.js";
import type { BuildEvent } from "../events.js";
import type { Plan } from "../plan.js";
import type { BuildRequest, Built, PlanBuilder } from "./types.js";

export interface DockerfileBuilderOptions {
  registry: Registry;
  onEvent?: (event: BuildEvent) => void;
  signal?: AbortSignal;
  /** Runs before the tool pushes, after the registry's own hook (its vendors': the ECR repository). */
  beforePush?: (ref: Reference) => Promise<void>;
  /** Registries reached over plain HTTP or with unverified TLS (loopback hosts always are). */
  insecureRegistries?: readonly string[];
  /** Credentials handed to the tool for a registry host; default: the registry's keychain. */
  credentials?: (host: string) => Promise<Credential | undefined>;
  /** Only `env` is read here: the environment the credential files are written for. */
  backends?: BackendsConfig;
  /** Parent of the build context and credential temp dirs (default the OS temp dir). */
  tempDir?: string;
}

function hostOf(image: string): string | undefined {
  if (image === "scratch") return undefined;
  return parseReference(image).registry;
}

export class DockerfilePlanBuilder implements PlanBuilder {
  readonly name: Backend["name"];

  constructor(
    private readonly backend: Backend,
    private readonly options: DockerfileBuilderOptions,
  ) {
    this.name = backend.name;
  }

  private emit(event: BuildEvent): void {
    this.options.onEvent?.(event);
  }

  async build(plan: Plan, { destination, base: baseImage }: BuildRequest): Promise<Built> {
    const { spec, image } = plan;
    const { backend } = this;
    const { signal } = this.options;
    if (destination.kind !== "registry") throw new Error("a Dockerfile builder is given a registry destination (the driver refuses a layout)");
    const target = destination.reference;

    // The FROM line: a nested base spec's image where the driver pushed it, or the spec's base as written.
    let base = "scratch";
    let baseReference: Reference | undefined;
    if (baseImage.kind === "image") {
      const { name, at } = baseImage;
      if (at.kind === "layout") {
        const source = plan.steps.find((s) => s.kind === "base")?.base;
        throw new ImagespecError("DOCKERFILE_NEEDS_REGISTRY", `spec "${spec.name}" is built with a Dockerfile builder, whose FROM must be in a registry, but its base spec "${source?.kind === "spec" ? source.spec.name : name}" went to ${describeDestination(at)}`, {
          hint: "set the base spec's registry, so the base is pushed where the builder can pull it",
        });
      }
      base = name;
      baseReference = at.reference;
    }

    const baseUser = dockerfileRunsSteps(spec) && baseReference !== undefined ? await this.baseUser(image, baseReference, plan) : undefined;
    const generated = await specDockerfile(spec, { base, ...(baseUser !== undefined ? { baseUser } : {}) });

    const pullHosts = [...new Set(generated.images.map(hostOf).filter((h): h is string => h !== undefined))];
    const insecureHosts = new Set(
      [target.registry, ...pullHosts].filter((h) => isLoopbackHost(h) || (this.options.insecureRegistries ?? []).some((i) => i.toLowerCase() === h.toLowerCase() || i.toLowerCase() === h.toLowerCase().replace(/:\d+$/, ""))).map((h) => h.toLowerCase()),
    );
    const parent = this.options.tempDir ?? tmpdir();
    const context = await writeContext(generated, parent);
    let auth: Awaited<ReturnType<typeof writeAuthDir>> | undefined;
    try {
      const resolve = this.options.credentials ?? ((host: string) => this.options.registry.keychain.resolve(host));
      auth = await writeAuthDir([target.registry, ...pullHosts], resolve, { parent, ...(this.options.backends?.env ? { env: this.options.backends.env } : {}) });
      // The registry's hook (its beforePush option, then the vendor's: ECR creates the repository),
      // as registry.push runs it for the native builder; then the builder's own, if any.
      await this.options.registry.beforePush(target);
      await this.options.beforePush?.(target);
      await backend.build(
        {
          context,
          buildId: randomBytes(8).toString("hex"),
          image,
          platforms: plan.platforms.map(formatPlatform),
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
    const pushed = await this.options.registry.exists(target, signal);
    if (!pushed.present) {
      throw new ImagespecError("BUILDER_PUSH_MISSING", `${backend.name} finished, but ${image} is not in the registry`, {
        hint: "check the builder's output above for where it pushed to; the image name must match exactly",
      });
    }
    return { kind: "pushed", digest: pushed.digest };
  }

  /** The base's USER, so it is restored after the RUN steps switch to root; undefined (with a warning) when it cannot be read. */
  private async baseUser(image: string, base: Reference, plan: Plan): Promise<string | undefined> {
    try {
      const baseImage = await this.options.registry.getImage(base, plan.platforms[0], this.options.signal);
      const user = (await readConfig(baseImage.config)).config?.User;
      return user === undefined || user === "" ? undefined : user;
    } catch (error) {
      if (this.options.signal?.aborted) throw error;
      this.emit({ kind: "warning", image, message: `could not read the base image's user (${(error as Error).message}); the image runs as root unless the spec sets user` });
      return undefined;
    }
  }
}
