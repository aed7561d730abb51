// Where an image lives, as a user writes it: a registry reference (`host/repo:tag`, optionally
// `docker://host/repo:tag` as skopeo spells it) or an OCI layout (`oci:DIR[:TAG]`).
import { formatLayoutReference, isLayoutReference, parseLayoutReference, type LayoutReference } from "../oci/layout.js";
import { formatReference, parseReference, type Reference } from "../reference/index.js";

export type ImageLocation = { readonly kind: "registry"; readonly reference: Reference } | { readonly kind: "layout"; readonly layout: LayoutReference };

export function parseImageLocation(input: string): ImageLocation {
  if (isLayoutReference(input)) return { kind: "layout", layout: parseLayoutReference(input) };
  const text = input.startsWith("docker://") ? input.slice("docker://".length) : input;
  return { kind: "registry", reference: parseReference(text) };
}

export function formatImageLocation(location: ImageLocation): string {
  return location.kind === "layout" ? formatLayoutReference(location.layout) : formatReference(location.reference);
}
