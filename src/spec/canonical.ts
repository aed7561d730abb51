// The canonical spec: exactly what the tag hashes. Only what changes the image is in it, in a form
// where equivalent specs are equal: defaults applied, unordered lists sorted, files and the
// requirements file replaced by content digests, a nested base by its image name.
import { resolve } from "node:path";
import { withoutUserinfo } from "../reference/redact.js";
import { formatReference, parseReference } from "../reference/reference.js";
import type { JsonValue } from "./canonical-json.js";
import { collectFiles, verifySpecFiles } from "./files.js";
import type { ImageSpec } from "./image-spec.js";
import type { ImageSpecFields } from "./schema.js";
import { lockKindOf, pyprojectBeside } from "./lock-files.js";
import type { FileHashing } from "./remembered-digests.js";
import { fileDigest, treeDigest } from "./tree-digest.js";
import { imageName } from "./tag.js";

/**
 * Version of the tag algorithm, hashed into every tag. Bump it (and the golden vectors in
 * test/spec/tag.test.ts) when a change to the canonical form is meant to change tags.
 */
export const IMAGESPEC_HASH_VERSION = 1;

export type CanonicalSpec = { [key: string]: JsonValue };

type Entries = Record<string, JsonValue | undefined>;

/**
 * Every spec field, and what the tag does with it: `hash` gives its canonical entries, `excluded`
 * says why it is left out, `hashedWith` names the field whose entry covers it. The table is checked
 * against the schema's fields, so a new field that is not placed here does not compile.
 */
type FieldRule =
  | { readonly hash: (spec: ImageSpec, hashing?: FileHashing) => Entries | Promise<Entries> }
  | { readonly excluded: string }
  | { readonly hashedWith: keyof ImageSpecFields };

const FIELD_RULES = {
  // The image's name, not its content: the same content has the same tag in every repository.
  name: { excluded: "the repository name, not the content" },
  registry: { excluded: "where the image goes, not what it is" },
  baseImage: {
    // A nested base counts as the image it builds; both forms are written as canonical references.
    hash: async (spec, hashing) => {
      if (spec.baseImage === undefined) return {};
      const reference = typeof spec.baseImage === "string" ? spec.baseImage : await imageName(spec.baseImage, hashing);
      return { baseImage: formatReference(parseReference(reference)) };
    },
  },
  pythonVersion: { hash: (spec) => ({ pythonVersion: spec.pythonVersion }) },
  cuda: { hash: (spec) => ({ cuda: spec.cuda?.trim() }) },
  cudnn: { hash: (spec) => ({ cudnn: spec.cudnn?.trim() }) },
  // pip and apt resolve a set: the order packages are listed in does not change what is installed.
  packages: { hash: (spec) => ({ packages: sortedUnique(spec.packages.map((p) => p.trim())) }) },
  requirements: {
    hash: async (spec, hashing) => {
      if (spec.requirements === undefined) return {};
      const entries: Entries = { requirements: await fileDigest(resolve(spec.baseDir, spec.requirements), hashing) };
      // A lock installs together with its pyproject.toml (Poetry's optional groups, uv's --locked check).
      if (lockKindOf(spec.requirements) !== undefined) entries.requirementsProject = await fileDigest(resolve(spec.baseDir, pyprojectBeside(spec.requirements)), hashing);
      return entries;
    },
  },
  aptPackages: { hash: (spec) => ({ aptPackages: sortedUnique(spec.aptPackages) }) },
  condaPackages: { hash: (spec) => ({ condaPackages: sortedUnique(spec.condaPackages.map((p) => p.trim())) }) },
  // Channel order is priority order in conda, so it stays.
  condaChannels: { hash: (spec) => ({ condaChannels: [...spec.condaChannels] }) },
  env: { hash: (spec) => ({ env: { ...spec.env } }) },
  // Commands run in order and each sees what the previous one did.
  commands: { hash: (spec) => ({ commands: [...spec.commands] }) },
  copy: { hash: async (spec, hashing) => (spec.sourceRoot !== undefined || spec.copy.length > 0 ? { files: await treeDigest(await collectFiles(spec), hashing) } : {}) },
  sourceRoot: { hashedWith: "copy" },
  platform: { hash: (spec) => ({ platforms: sortedUnique(spec.platform) }) },
  // An index is identified by its URL, not by who logs in to it: a rotated password keeps the tag.
  pipIndex: { hash: (spec) => ({ pipIndex: spec.pipIndex === undefined ? undefined : withoutUserinfo(spec.pipIndex) }) },
  pipExtraIndexUrl: { hash: (spec) => ({ pipExtraIndexUrl: spec.pipExtraIndexUrl.map(withoutUserinfo) }) },
  pipExtraArgs: { hash: (spec) => ({ pipExtraArgs: spec.pipExtraArgs === undefined ? undefined : withoutUserinfo(spec.pipExtraArgs) }) },
  // An empty entrypoint or cmd clears the base image's, which differs from not setting it: [] is kept.
  entrypoint: { hash: (spec) => ({ entrypoint: spec.entrypoint === undefined ? undefined : [...spec.entrypoint] }) },
  cmd: { hash: (spec) => ({ cmd: spec.cmd === undefined ? undefined : [...spec.cmd] }) },
  workdir: { hash: (spec) => ({ workdir: spec.workdir }) },
  user: { hash: (spec) => ({ user: spec.user }) },
  labels: { hash: (spec) => ({ labels: { ...spec.labels } }) },
  tagFormat: { excluded: "applied to the hash, not part of it" },
  builder: { excluded: "how the image is built, not what it holds" },
  builderOptions: { excluded: "how the image is built, not what it holds" },
  ecr: { excluded: "repository settings, not the image" },
  forcePush: { excluded: "whether to push again, not what" },
} satisfies Record<keyof ImageSpecFields, FieldRule>;

/** Entries kept even when empty: an empty entrypoint or cmd clears the base image's. */
const KEEP_EMPTY = new Set(["entrypoint", "cmd"]);

/** The canonical form of `spec`; `hashing` says where big files' digests are remembered. */
export async function canonicalSpec(spec: ImageSpec, hashing?: FileHashing): Promise<CanonicalSpec> {
  // Fail on a missing file with the same ValidationError loadSpecs gives, before hashing anything.
  await verifySpecFiles(spec);
  const canonical: CanonicalSpec = { hashVersion: IMAGESPEC_HASH_VERSION };
  for (const rule of Object.values(FIELD_RULES) as FieldRule[]) {
    if (!("hash" in rule)) continue;
    for (const [key, value] of Object.entries(await rule.hash(spec, hashing))) {
      if (value === undefined) continue;
      if (!KEEP_EMPTY.has(key) && isEmpty(value)) continue;
      canonical[key] = value;
    }
  }
  return canonical;
}

function isEmpty(value: JsonValue): boolean {
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === "object" && value !== null && Object.keys(value).length === 0;
}

function sortedUnique(items: readonly string[]): string[] {
  return [...new Set(items)].sort();
}
