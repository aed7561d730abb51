// imagespec/ecr: Amazon ECR hosts and regions, in-process login (a keychain credential source),
// repositories created on demand (the registry's beforePush hook), cross-account pull and lifecycle
// policies. The AWS clients, token encoding and cache keys are internals (imported from their files).
export { parseEcrHost, checkEcrHost, looksLikeEcrHost, partitionOfRegion, knownRegions, EcrHostError, type EcrHost, type EcrHostCheck } from "./host.js";
export { EcrError, CONFIGURE_CREDENTIALS_HINT } from "./errors.js";
export type { EcrClientOptions } from "./client.js";
export { EcrTokenCache, defaultTokenCacheDir, type CachedToken, type EcrTokenCacheOptions } from "./token-cache.js";
export { EcrCredentialSource, ECR_CREDENTIAL_SOURCE, type EcrLoginOptions } from "./login.js";
export { checkEcrRepositoryName, validateEcrRepositoryName, ecrRepositoryOf } from "./repository-name.js";
export { mergePullPolicy, principalArn, PULL_STATEMENT_SID, PULL_ACTIONS, checkLifecyclePolicy, validateLifecyclePolicy, type PolicyMerge, type LifecycleProblem } from "./policy.js";
export { checkRepositorySettings, validateRepositorySettings, type RepositorySettings, type SettingsProblem } from "./settings.js";
export { EcrRepositories, DEFAULT_ECR_OPTIONS, type EcrCall, type EcrRepositoriesOptions, type EnsureResult } from "./repositories.js";
export { EcrSupport, type EcrSupportOptions } from "./support.js";
export { catalogDataSchema, publicRepositoryOf, checkSettingsForRegistry, GALLERY_ARCHITECTURES, GALLERY_OPERATING_SYSTEMS, type CatalogData } from "./public.js";
export { ecrSchema, ecrEncryptionSchema, ecrSpecVendor, TAG_MUTABILITIES, DEFAULT_TAG_MUTABILITY, type EcrOptions } from "./spec-vendor.js";
