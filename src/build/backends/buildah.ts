// buildah: `buildah build` (chroot isolation by default: no OCI runtime, works in CI containers),
// then `buildah push` (or `buildah manifest push --all` for several platforms).
import { ContainersBackend } from "./containers.js";

export class BuildahBackend extends ContainersBackend {
  readonly name = "buildah" as const;
  protected isolation(): string {
    return this.options.isolation ?? "chroot";
  }
}
