// The Dockerfile builders behind one interface, and how each is made from options.
import { BuildahBackend } from "./buildah.js";
import { BuildkitBackend, type BuildkitBackendOptions } from "./buildkit.js";
import type { ContainersBackendOptions } from "./containers.js";
import { DockerBackend, type DockerBackendOptions } from "./docker.js";
import { PodmanBackend } from "./podman.js";
import type { Backend, BackendName } from "./types.js";

export * from "./types.js";
export { BuildahBackend } from "./buildah.js";
export { PodmanBackend } from "./podman.js";
export { DockerBackend, type DockerBackendOptions } from "./docker.js";
export { BuildkitBackend, type BuildkitBackendOptions } from "./buildkit.js";
export { layerCacheName, type ContainersBackendOptions } from "./containers.js";
export { writeAuthDir, CONTAINERS_AUTH_FILE, DOCKER_CONFIG_FILE, type AuthDir } from "./auth.js";
export { BuilderError } from "./process.js";

/** Settings of every backend; each takes its part. `env` (default process.env) is where tools are looked up and run. */
export interface BackendsConfig {
  env?: NodeJS.ProcessEnv;
  buildah?: Omit<ContainersBackendOptions, "env">;
  podman?: Omit<ContainersBackendOptions, "env">;
  docker?: Omit<DockerBackendOptions, "env">;
  buildkit?: Omit<BuildkitBackendOptions, "env">;
}

export function createBackend(name: BackendName, config: BackendsConfig = {}): Backend {
  const env = config.env ? { env: config.env } : {};
  switch (name) {
    case "buildah":
      return new BuildahBackend({ ...config.buildah, ...env });
    case "podman":
      return new PodmanBackend({ ...config.podman, ...env });
    case "docker":
      return new DockerBackend({ ...config.docker, ...env });
    case "buildkit":
      return new BuildkitBackend({ ...config.buildkit, ...env });
  }
}
