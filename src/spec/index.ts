// The spec package: the ImageSpec model, loading, validation helpers and the content-addressed tag.
export { ImageSpec, type ImageSpecInput, type ImageSpecOptions } from "./image-spec.js";
export {
  BUILDERS,
  BUILDER_OPTIONS,
  DOCKERFILE_BUILDERS,
  FLYTEKIT_BUILDERS,
  DEFAULT_PLATFORM,
  DEFAULT_WORKDIR,
  SPEC_HASH_LENGTH,
  SPEC_HASH_PLACEHOLDER,
  imageSpecSchema,
  baseSpecSchema,
  type Builder,
  type CopyEntry,
  type CopyInput,
  type ImageSpecFields,
} from "./schema.js";
export { registerSpecVendor, specVendors, type SpecVendor, type VendorProblem, type VendorSettings, type VendorSettingsInput } from "./vendor.js";
export { loadSpecs, SpecFileError, SPECS_KEY, type LoadedSpec } from "./load.js";
export { collectFiles, verifySpecFiles, type FileEntry } from "./files.js";
export { canonicalSpec, IMAGESPEC_HASH_VERSION, type CanonicalSpec } from "./canonical.js";
export { type FileHashing } from "./remembered-digests.js";
export { canonicalJson, type JsonValue } from "./canonical-json.js";
export { treeDigest, fileDigest } from "./tree-digest.js";
export { imageName, imageReference, specHash, specTag } from "./tag.js";
export { parseRequirement, checkRequirement, RequirementSyntaxError, type Requirement } from "./pep508.js";
export { parseAptPackage, checkDebianVersion, type AptPackage } from "./debian.js";
export { lockKindOf, pyprojectBeside, type LockKind } from "./lock-files.js";
