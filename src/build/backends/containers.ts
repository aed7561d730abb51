// buildah and podman: the same containers/* libraries, the same flags. The image is built into the
// tool's local storage under a name unique to the build, pushed to the target (one image, or a
// manifest list with --all for several platforms), and its local name removed.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { CONTAINERS_AUTH_FILE } from "./auth.js";
import { checkVersion } from "./detect.js";
import { runInvocation } from "./process.js";
import type { Backend, BackendBuildRequest, BackendOptions, BackendRunOptions, Detection, Invocation } from "./types.js";

export interface ContainersBackendOptions extends BackendOptions {
  /** Storage root: `DIR/root` and `DIR/runroot` (`--root`, `--runroot`); buildah's temp files and cache mounts under `DIR/tmp`. Default: the tool's own. */
  storageDir?: string;
  /** `overlay` or `vfs` (`--storage-driver`). Default: the tool's own (with storageDir: overlay). */
  storageDriver?: string;
  /** `--isolation`: buildah defaults to `chroot` here (no runtime needed), podman to its own default. */
  isolation?: "chroot" | "oci" | "rootless";
  /** Keep intermediate layers for the next build (`--layers`, default true). */
  layers?: boolean;
}

export const INSTALL = {
  buildah: "install buildah (Debian/Ubuntu: apt-get install buildah; Fedora: dnf install buildah)",
  podman: "install podman (Debian/Ubuntu: apt-get install podman; Fedora: dnf install podman; macOS: brew install podman, then podman machine start)",
};

/** Whether a push or pull to these hosts must skip TLS verification. */
export function anyInsecure(hosts: readonly string[], insecure: ReadonlySet<string>): boolean {
  return hosts.some((h) => insecure.has(h.toLowerCase()));
}

/** The local name that keeps a repository's last build, and with it the --layers cache: `localhost/imagespec-cache/REPO:latest`. */
export function layerCacheName(image: string): string {
  const repository = image
    .slice(image.indexOf("/") + 1)
    .replace(/@.*$/, "")
    .replace(/:[^/:]*$/, "");
  return `localhost/imagespec-cache/${repository}:latest`;
}

export abstract class ContainersBackend implements Backend {
  abstract readonly name: "buildah" | "podman";
  protected readonly env: NodeJS.ProcessEnv;

  constructor(protected readonly options: ContainersBackendOptions = {}) {
    this.env = options.env ?? process.env;
  }

  protected globalArgs(): string[] {
    const { storageDir, storageDriver } = this.options;
    return [
      ...(storageDir !== undefined ? ["--root", join(storageDir, "root"), "--runroot", join(storageDir, "runroot")] : []),
      ...(storageDriver !== undefined ? ["--storage-driver", storageDriver] : storageDir !== undefined ? ["--storage-driver", "overlay"] : []),
    ];
  }

  protected abstract isolation(): string | undefined;

  async detect(): Promise<Detection> {
    const checked = await checkVersion(this.name, this.name, ["--version"], this.env, INSTALL[this.name]);
    if (!checked.ok) return checked;
    return { ok: true, name: this.name, version: checked.version, path: checked.path };
  }

  /** The environment additions: the auth file, and buildah's temp dir (its cache mounts live there) inside the storage dir. */
  protected extraEnv(request: BackendBuildRequest): Record<string, string> {
    return {
      ...(request.authDir !== undefined ? { REGISTRY_AUTH_FILE: join(request.authDir, CONTAINERS_AUTH_FILE) } : {}),
      ...(this.options.storageDir !== undefined ? { TMPDIR: join(this.options.storageDir, "tmp") } : {}),
    };
  }

  invocations(request: BackendBuildRequest): Invocation[] {
    const tool = this.name;
    const env = this.extraEnv(request);
    const global = this.globalArgs();
    const local = `localhost/imagespec-build:${request.buildId}`;
    const multi = request.platforms.length > 1;
    const pullInsecure = anyInsecure(request.pullHosts, request.insecureHosts);
    const pushInsecure = anyInsecure([request.targetHost], request.insecureHosts);
    const isolation = this.isolation();
    const build = [
      tool,
      ...global,
      "build",
      ...(isolation !== undefined ? ["--isolation", isolation] : []),
      ...(this.options.layers === false ? [] : ["--layers"]),
      // Intermediate containers go even when a step fails, so a failed build leaves nothing mounted.
      "--force-rm",
      "--platform",
      request.platforms.join(","),
      ...(multi ? ["--manifest", local] : ["--tag", local]),
      ...(pullInsecure ? ["--tls-verify=false"] : []),
      "--file",
      request.context.dockerfile,
      request.context.dir,
    ];
    const push = multi
      ? [tool, ...global, "manifest", "push", "--all", ...(pushInsecure ? ["--tls-verify=false"] : []), local, `docker://${request.image}`]
      : [tool, ...global, "push", ...(pushInsecure ? ["--tls-verify=false"] : []), local, `docker://${request.image}`];
    const remove = multi ? [tool, ...global, "manifest", "rm", local] : [tool, ...global, "rmi", local];
    return [
      { argv: build, env, step: "build" },
      { argv: push, env, step: "push" },
      // Removing the only name of an image also removes its untagged parents, the --layers cache
      // of the next build: a name per repository keeps them (the previous one's are freed).
      ...(multi ? [] : [{ argv: [tool, ...global, "tag", local, layerCacheName(request.image)], env, step: "keep the layer cache", optional: true, afterSuccessOnly: true }]),
      { argv: remove, env, step: "remove the local image", optional: true },
    ];
  }

  async build(request: BackendBuildRequest, options: BackendRunOptions = {}): Promise<void> {
    const invocations = this.invocations(request);
    if (this.options.storageDir !== undefined) await mkdir(join(this.options.storageDir, "tmp"), { recursive: true, mode: 0o700 });
    let succeeded = false;
    try {
      for (const invocation of invocations.filter((i) => !i.optional)) await runInvocation(invocation, this.env, this.name, options);
      succeeded = true;
    } finally {
      for (const invocation of invocations.filter((i) => i.optional && (succeeded || !i.afterSuccessOnly))) {
        await runInvocation(invocation, this.env, this.name, options).catch(() => undefined);
      }
    }
  }
}
