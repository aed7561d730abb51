// The image's tag and full name. The tag is a content hash of the canonical spec, so the same spec
// gives the same tag on every machine and any change that alters the image gives a new one.
import { createHash } from "node:crypto";
import { formatReference, parseReference, type Reference } from "../reference/reference.js";
import { base32 } from "./base32.js";
import { canonicalJson } from "./canonical-json.js";
import { canonicalSpec, type CanonicalSpec } from "./canonical.js";
import type { ImageSpec } from "./image-spec.js";
import type { FileHashing } from "./remembered-digests.js";
import { SPEC_HASH_LENGTH, SPEC_HASH_PLACEHOLDER } from "./schema.js";

/** The spec hash: sha256 of the canonical JSON, base32 (lower case, no padding), first 26 characters. */
export function specHash(canonical: CanonicalSpec): string {
  const digest = createHash("sha256").update(canonicalJson(canonical), "utf8").digest();
  return base32(digest).slice(0, SPEC_HASH_LENGTH);
}

/** The tag: the spec hash, or `tagFormat` with `{spec_hash}` replaced by it. */
export async function specTag(spec: ImageSpec, hashing?: FileHashing): Promise<string> {
  const hash = specHash(await canonicalSpec(spec, hashing));
  return spec.tagFormat === undefined ? hash : spec.tagFormat.replaceAll(SPEC_HASH_PLACEHOLDER, hash);
}

/**
 * The full image name: `registry/name:tag` in canonical form (Docker Hub's `library/` included),
 * or `name:tag` when the spec has no registry.
 */
export async function imageName(spec: ImageSpec, hashing?: FileHashing): Promise<string> {
  const tag = await specTag(spec, hashing);
  const location = spec.registryLocation();
  if (!location) return `${spec.name}:${tag}`;
  const prefix = location.prefix === "" ? "" : `${location.prefix}/`;
  return formatReference(parseReference(`${location.host}/${prefix}${spec.name}:${tag}`));
}

/** The image name as a parsed reference. */
export async function imageReference(spec: ImageSpec, hashing?: FileHashing): Promise<Reference> {
  return parseReference(await imageName(spec, hashing));
}
