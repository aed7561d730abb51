// Where a build goes (a registry reference or an OCI layout) and whether the image is already
// there. Every builder (native or Dockerfile) asks this before building: the answer is yes (with
// the digest), no, or an error that stops the build; an error is never read as "exists".
import { resolve } from "node:path";
import { ImagespecError } from "../errors.js";
import { listLayoutTags, readLayout } from "../oci/index.js";
import type { Registry } from "../registry/index.js";
import type { Plan } from "./plan.js";

/** Where a build goes when the spec names no registry: an OCI image layout in the working folder. */
export const DEFAULT_LAYOUT_DIR = ".imagespec/images";

export type Destination = { kind: "registry"; reference: string } | { kind: "layout"; dir: string; tag: string };

export function destinationFor(plan: Plan, output: string | undefined): Destination {
  const nameAndTag = plan.image.slice(plan.image.lastIndexOf("/") + 1);
  if (output !== undefined) {
    if (!output.startsWith("oci:")) {
      throw new ImagespecError("INVALID_OUTPUT", `--output ${JSON.stringify(output)} is not an OCI layout`, {
        hint: "write it as oci:DIR or oci:DIR:TAG; to push to a registry, set the spec's registry instead",
      });
    }
    const rest = output.slice("oci:".length);
    const colon = rest.indexOf(":");
    const dir = resolve(colon >= 0 ? rest.slice(0, colon) : rest);
    return { kind: "layout", dir, tag: colon >= 0 ? rest.slice(colon + 1) : nameAndTag };
  }
  if (plan.spec.registry === undefined) return { kind: "layout", dir: resolve(DEFAULT_LAYOUT_DIR), tag: plan.image };
  return { kind: "registry", reference: plan.image };
}

export function describeDestination(d: Destination): string {
  return d.kind === "registry" ? d.reference : `oci:${d.dir}:${d.tag}`;
}

/** The digest of the image already at the destination; undefined when it is not there; throws when that cannot be told. */
export async function existingDigest(registry: Registry, destination: Destination, signal?: AbortSignal): Promise<string | undefined> {
  if (destination.kind === "registry") {
    const found = await registry.exists(destination.reference, signal);
    return found.present ? found.digest : undefined;
  }
  const tags: string[] = await listLayoutTags(destination.dir).catch((error: unknown) => {
    if (error instanceof ImagespecError && error.code === "LAYOUT_NOT_FOUND") return [];
    throw error;
  });
  if (!tags.includes(destination.tag)) return undefined;
  return (await readLayout(destination.dir, { tag: destination.tag })).digest;
}
