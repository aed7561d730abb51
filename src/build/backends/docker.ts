// docker buildx: one `docker buildx build` that builds every platform and pushes. --provenance=false
// keeps the result a plain manifest (or index of manifests), which ECR and older registries want.
// Credentials: DOCKER_CONFIG points at the build's temp dir (with the user's buildx builders and
// CLI plugins linked in).
import { checkVersion, checkWorks } from "./detect.js";
import { runInvocation } from "./process.js";
import { anyInsecure } from "./containers.js";
import type { Backend, BackendBuildRequest, BackendOptions, BackendRunOptions, Detection, Invocation } from "./types.js";

export interface DockerBackendOptions extends BackendOptions {
  /** `--builder NAME`: a buildx builder (e.g. a docker-container or kubernetes driver for several platforms). */
  builder?: string;
}

const INSTALL =
  "install Docker with the buildx plugin (Debian/Ubuntu: apt-get install docker.io docker-buildx, or Docker's docker-ce and docker-buildx-plugin) and start the daemon";

export class DockerBackend implements Backend {
  readonly name = "docker" as const;
  private readonly env: NodeJS.ProcessEnv;

  constructor(private readonly options: DockerBackendOptions = {}) {
    this.env = options.env ?? process.env;
  }

  async detect(): Promise<Detection> {
    const checked = await checkVersion("docker", "docker", ["buildx", "version"], this.env, INSTALL);
    if (!checked.ok) return checked;
    // The builder must answer: the daemon (docker driver) or the named builder's nodes.
    const broken = await checkWorks(
      "docker",
      [checked.path, "buildx", "inspect", ...(this.options.builder !== undefined ? [this.options.builder] : [])],
      this.env,
      "the buildx builder is not reachable",
      INSTALL,
    );
    if (broken) return broken;
    return { ok: true, name: "docker", version: checked.version, path: checked.path };
  }

  invocations(request: BackendBuildRequest): Invocation[] {
    const insecure = anyInsecure([request.targetHost], request.insecureHosts);
    const argv = [
      "docker",
      "buildx",
      "build",
      ...(this.options.builder !== undefined ? ["--builder", this.options.builder] : []),
      "--progress",
      "plain",
      "--platform",
      request.platforms.join(","),
      "--provenance=false",
      "--file",
      request.context.dockerfile,
      // A plain-HTTP or self-signed target needs the image exporter's registry.insecure.
      ...(insecure ? ["--output", `type=image,name=${request.image},push=true,registry.insecure=true`] : ["--tag", request.image, "--push"]),
      request.context.dir,
    ];
    return [{ argv, env: request.authDir !== undefined ? { DOCKER_CONFIG: request.authDir } : {}, step: "build and push" }];
  }

  async build(request: BackendBuildRequest, options: BackendRunOptions = {}): Promise<void> {
    for (const invocation of this.invocations(request)) await runInvocation(invocation, this.env, "docker buildx", options);
  }
}
