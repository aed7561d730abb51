// The canonical spec: exactly what the tag hashes. Only what changes the image is in it, in a form
// where equivalent specs are equal: defaults applied, unordered lists sorted, files and the
// requirements file replaced by content digests, a nested base by its image name.
import { resolve } from "node:path";
import { withoutUserinfo } from "../reference/redact.js";
import { formatReference, parseReference } from "../reference/reference.js";
import type { JsonValue } from "./canonical-json.js";
import { collectFiles, verifySpecFiles } from "./files.js";
import type { ImageSpec } from "./image-spec.js";
import { lockKindOf, pyprojectBeside } from "./lock-files.js";
import { fileDigest, treeDigest } from "./tree-digest.js";
import { imageName } from "./tag.js";

/**
 * Version of the tag algorithm, hashed into every tag. Bump it (and the golden vectors in
 * test/spec/tag.test.ts) when a change to the canonical form is meant to change tags.
 */
export const IMAGESPEC_HASH_VERSION = 1;

export type CanonicalSpec = { [key: string]: JsonValue };

/**
 * Left out on purpose: `name` and `registry` (they are the image's name, not its content, so the
 * same content has the same tag in every repository), `tagFormat` (applied to the hash),
 * `builder`, `builderOptions`, `ecr` and `forcePush` (how and where to build, not what).
 */
export async function canonicalSpec(spec: ImageSpec): Promise<CanonicalSpec> {
  const canonical: CanonicalSpec = { hashVersion: IMAGESPEC_HASH_VERSION };
  const set = (key: string, value: JsonValue | undefined) => {
    if (value === undefined) return;
    if (Array.isArray(value) && value.length === 0) return;
    if (typeof value === "object" && value !== null && !Array.isArray(value) && Object.keys(value).length === 0) return;
    canonical[key] = value;
  };

  // Fail on a missing file with the same ValidationError loadSpecs gives, before hashing anything.
  await verifySpecFiles(spec);
  if (spec.baseImage !== undefined) {
    // A nested base counts as the image it builds; both forms are written as canonical references.
    const reference = typeof spec.baseImage === "string" ? spec.baseImage : await imageName(spec.baseImage);
    set("baseImage", formatReference(parseReference(reference)));
  }
  set("pythonVersion", spec.pythonVersion);
  set("cuda", spec.cuda?.trim());
  set("cudnn", spec.cudnn?.trim());
  // pip and apt resolve a set: the order packages are listed in does not change what is installed.
  set("packages", sortedUnique(spec.packages.map((p) => p.trim())));
  if (spec.requirements !== undefined) set("requirements", await fileDigest(resolve(spec.baseDir, spec.requirements)));
  // A lock installs together with its pyproject.toml (Poetry's optional groups, uv's --locked check).
  if (spec.requirements !== undefined && lockKindOf(spec.requirements) !== undefined) {
    set("requirementsProject", await fileDigest(resolve(spec.baseDir, pyprojectBeside(spec.requirements))));
  }
  set("aptPackages", sortedUnique(spec.aptPackages));
  set("condaPackages", sortedUnique(spec.condaPackages.map((p) => p.trim())));
  // Channel order is priority order in conda, so it stays.
  set("condaChannels", [...spec.condaChannels]);
  set("env", { ...spec.env });
  // Commands run in order and each sees what the previous one did.
  set("commands", [...spec.commands]);
  if (spec.sourceRoot !== undefined || spec.copy.length > 0) set("files", await treeDigest(await collectFiles(spec)));
  set("platforms", sortedUnique(spec.platform));
  // An index is identified by its URL, not by who logs in to it: a rotated password keeps the tag.
  set("pipIndex", spec.pipIndex === undefined ? undefined : withoutUserinfo(spec.pipIndex));
  set("pipExtraIndexUrl", spec.pipExtraIndexUrl.map(withoutUserinfo));
  set("pipExtraArgs", spec.pipExtraArgs === undefined ? undefined : withoutUserinfo(spec.pipExtraArgs));
  // An empty entrypoint or cmd clears the base image's, which differs from not setting it: keep [].
  if (spec.entrypoint !== undefined) canonical.entrypoint = [...spec.entrypoint];
  if (spec.cmd !== undefined) canonical.cmd = [...spec.cmd];
  set("workdir", spec.workdir);
  set("user", spec.user);
  set("labels", { ...spec.labels });
  return canonical;
}

function sortedUnique(items: readonly string[]): string[] {
  return [...new Set(items)].sort();
}
