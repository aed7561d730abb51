// podman: `podman build` with podman's own isolation and storage unless configured, then
// `podman push` (or `podman manifest push --all` for several platforms).
import { ContainersBackend } from "./containers.js";

export class PodmanBackend extends ContainersBackend {
  readonly name = "podman" as const;
  protected isolation(): string | undefined {
    return this.options.isolation;
  }
}
