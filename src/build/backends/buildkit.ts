// A BuildKit daemon reached with `buildctl --addr` (a remote buildkitd, a BuildKit fleet, or one in
// Kubernetes): the context and Dockerfile are sent from here, the daemon builds and pushes.
// Credentials: buildctl reads DOCKER_CONFIG and hands them to the daemon over the session.
import { checkVersion, checkWorks } from "./detect.js";
import { runInvocation } from "./process.js";
import { anyInsecure } from "./containers.js";
import type { Backend, BackendBuildRequest, BackendOptions, BackendRunOptions, Detection, Invocation } from "./types.js";

export interface BuildkitBackendOptions extends BackendOptions {
  /** The daemon's address (`tcp://host:1234`, `unix:///run/buildkit/buildkitd.sock`, `kube-pod://...`); default $BUILDKIT_HOST. */
  address?: string;
}

const INSTALL =
  "install buildctl (BuildKit's client, from https://github.com/moby/buildkit/releases) and give the daemon's address: builderOptions.buildkitAddress, --buildkit-addr, or BUILDKIT_HOST";

export class BuildkitBackend implements Backend {
  readonly name = "buildkit" as const;
  private readonly env: NodeJS.ProcessEnv;

  constructor(private readonly options: BuildkitBackendOptions = {}) {
    this.env = options.env ?? process.env;
  }

  /** The daemon's address, or undefined when none is configured. */
  get address(): string | undefined {
    const address = this.options.address ?? this.env.BUILDKIT_HOST;
    return address === undefined || address.trim() === "" ? undefined : address.trim();
  }

  async detect(): Promise<Detection> {
    const checked = await checkVersion("buildkit", "buildctl", ["--version"], this.env, INSTALL);
    if (!checked.ok) return checked;
    const address = this.address;
    if (address === undefined) return { ok: false, name: "buildkit", status: "broken", reason: "no BuildKit daemon address is configured", install: INSTALL };
    const broken = await checkWorks("buildkit", [checked.path, "--addr", address, "debug", "workers"], this.env, `the BuildKit daemon at ${address} does not answer`, INSTALL);
    if (broken) return broken;
    return { ok: true, name: "buildkit", version: checked.version, path: checked.path };
  }

  invocations(request: BackendBuildRequest): Invocation[] {
    const address = this.address;
    if (address === undefined) throw new Error("buildkit backend: no daemon address");
    const insecure = anyInsecure([request.targetHost], request.insecureHosts);
    const argv = [
      "buildctl",
      "--addr",
      address,
      "build",
      "--progress",
      "plain",
      "--frontend",
      "dockerfile.v0",
      "--local",
      `context=${request.context.dir}`,
      "--local",
      `dockerfile=${request.context.dir}`,
      "--opt",
      "filename=Dockerfile",
      "--opt",
      `platform=${request.platforms.join(",")}`,
      "--output",
      `type=image,name=${request.image},push=true${insecure ? ",registry.insecure=true" : ""}`,
    ];
    return [{ argv, env: request.authDir !== undefined ? { DOCKER_CONFIG: request.authDir } : {}, step: "build and push" }];
  }

  async build(request: BackendBuildRequest, options: BackendRunOptions = {}): Promise<void> {
    for (const invocation of this.invocations(request)) await runInvocation(invocation, this.env, "buildctl", options);
  }
}
