// Where a build goes: a registry reference or an OCI layout `{dir, tag}`. The destination is a value,
// made once from the plan and the output option (parsed at the edge, parseLayoutReference), and it
// flows unchanged to the existence check, the builder, the publisher and a nested base's reader;
// `describeDestination` makes the display string (BuildResult.location), which is never read back.
import { resolve } from "node:path";
import { ImagespecError } from "../errors.js";
import { formatLayoutReference, isLayoutReference, parseLayoutReference, type LayoutReference } from "../oci/index.js";
import { formatReference, parseReference, type Reference } from "../reference/index.js";
import type { Plan } from "./plan.js";

/** Where a build goes when the spec names no registry: an OCI image layout in the working folder. */
export const DEFAULT_LAYOUT_DIR = ".imagespec/images";

export type Destination = { kind: "registry"; reference: Reference } | { kind: "layout"; dir: string; tag: string };

/** The `output` option (`oci:DIR` or `oci:DIR:TAG`, or the layout as a value) as a layout value; refused when it is not a layout. */
export function parseOutput(output: string | LayoutReference): LayoutReference {
  if (typeof output !== "string") return output;
  if (!isLayoutReference(output)) {
    throw new ImagespecError("INVALID_OUTPUT", `--output ${JSON.stringify(output)} is not an OCI layout`, {
      hint: "write it as oci:DIR or oci:DIR:TAG; to push to a registry, set the spec's registry instead",
    });
  }
  return parseLayoutReference(output);
}

/** The plan's destination: the output layout when one is given (the tag defaults to the image's name:tag), else the spec's registry, else the default layout. */
export function destinationFor(plan: Plan, output: string | LayoutReference | undefined): Destination {
  if (output !== undefined) {
    const layout = parseOutput(output);
    return { kind: "layout", dir: resolve(layout.dir), tag: layout.tag ?? plan.image.slice(plan.image.lastIndexOf("/") + 1) };
  }
  if (plan.spec.registry === undefined) return { kind: "layout", dir: resolve(DEFAULT_LAYOUT_DIR), tag: plan.image };
  return { kind: "registry", reference: parseReference(plan.image) };
}

/** The display form: the reference, or `oci:DIR:TAG`. For printing only; the value itself is passed on. */
export function describeDestination(d: Destination): string {
  return d.kind === "registry" ? formatReference(d.reference) : formatLayoutReference(d);
}
