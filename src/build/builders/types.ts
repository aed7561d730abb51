// What a builder is: it turns a plan into an image, and nothing else. The driver (image-builder.ts)
// has already decided that the image must be built, which builder builds it, and where it goes, and
// has built or found the plan's nested base; a publisher (publishers/) writes the result. DESIGN.md
// calls this interface the Builder; it is a PlanBuilder here because the spec's `Builder` is the name
// of the builder a spec asks for.
import type { Image, ImageIndex } from "../../oci/index.js";
import type { BackendName } from "../backends/types.js";
import type { Destination } from "../destination.js";
import type { Plan } from "../plan.js";

/**
 * The base a plan builds on, as the driver resolved it: nothing (scratch), or an image and where it
 * is; a nested base spec's is where the driver put it (a registry or an OCI layout). `name` is the
 * image's name as the built image's config and events give it (a reference as the spec wrote it,
 * normalised, or the nested base's image name).
 */
export type BaseImage = { kind: "scratch" } | { kind: "image"; name: string; at: Destination };

export interface BuildRequest {
  /** Where the image will be published (a builder may look up caches there, or push there itself). */
  destination: Destination;
  base: BaseImage;
}

/**
 * What a builder made. `image`: the image, for a publisher to write; `afterPush` runs once it is in
 * a registry (the native builder records its step caches there). `pushed`: a Dockerfile tool pushes
 * by itself, so the image is at the destination already; `digest` is what the registry holds there
 * (read back, as proof the push landed), and there is nothing left to publish.
 */
export type Built = { kind: "image"; image: Image | ImageIndex; afterPush?: () => Promise<void> } | { kind: "pushed"; digest: string };

export interface PlanBuilder {
  readonly name: "native" | BackendName;
  build(plan: Plan, request: BuildRequest): Promise<Built>;
}
