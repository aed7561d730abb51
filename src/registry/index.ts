// imagespec/registry: the Registry client, image locations, the keychain and credential sources,
// the vendor hook interface (registry/vendor.ts: where a hosted registry plugs in), endpoint
// settings and the typed errors. The HTTP transport, the distribution client, token caches,
// challenge parsing and scopes are internals: code inside the library imports them from their files.
export { Registry, type RegistryOptions, type CopyOptions, type CopyResult } from "./registry.js";
export { parseImageLocation, formatImageLocation, type ImageLocation } from "./location.js";
export type { ExistsResult } from "./exists.js";
export type { PushEvent, PushOptions, PushResult, BlobOutcome, FailureDiagnosis } from "./push.js";
export { readConfig, selectPlatform, ImageFormatError } from "./pull.js";
export { Credential, type CredentialKind } from "./credential.js";
export { vendorFor, withHint, type RegistryVendor } from "./vendor.js";
export {
  Keychain,
  defaultKeychain,
  explicitCredentials,
  authFileSource,
  type CredentialSource,
  type DefaultKeychainOptions,
  type ExplicitCredential,
} from "./keychain.js";
export { authKeyHost, DOCKER_HUB_AUTH_KEY } from "./auth-file.js";
export { RegistryError, type RegistryErrorDetail } from "./errors.js";
export { CredentialHelperError } from "./credential-helper.js";
export type { RegistryLogEvent, RegistryLogger } from "./log.js";
export { BlobReadError, type UploadMode, type UploadSettings } from "./upload.js";
export { EARLY_MIN_BYTES } from "./early-upload.js";
export { BlobLocations } from "./blob-locations.js";
export { parseRegistryEndpoints, checkEndpoint, REGISTRY_ENDPOINTS_ENV, type RegistryEndpoints } from "./endpoints.js";
export { DEFAULT_RETRY, DEFAULT_TIMEOUT_MS, type RetryPolicy } from "./retry.js";
