// The registry package's public API: the Registry facade, the keychain (with its provider slot for
// ECR), the typed errors, and the lower layers for code that needs them (the ECR module, tests).
export { Registry, type RegistryOptions, type CopyOptions, type CopyResult } from "./registry.js";
export { parseImageLocation, formatImageLocation, type ImageLocation } from "./location.js";
export type { ExistsResult } from "./exists.js";
export type { PushEvent, PushOptions, PushResult, BlobOutcome, FailureDiagnosis } from "./push.js";
export { readConfig, selectPlatform, ImageFormatError } from "./pull.js";
export { Credential, type CredentialKind } from "./credential.js";
export {
  Keychain,
  defaultKeychain,
  explicitCredentials,
  authFileSource,
  type CredentialSource,
  type DefaultKeychainOptions,
  type ExplicitCredential,
} from "./keychain.js";
export { runCredentialHelper, CredentialHelperError } from "./credential-helper.js";
export { authKeyHost, DOCKER_HUB_AUTH_KEY } from "./auth-file.js";
export { writeAuthFileEntry } from "./auth-file-write.js";
export { TokenCache, Authenticator } from "./auth.js";
export { parseChallenges, type Challenge } from "./challenge.js";
export { RegistryError, type RegistryErrorDetail } from "./errors.js";
export { BlobReadError, type UploadMode, type UploadSettings } from "./upload.js";
export { BlobLocations } from "./blob-locations.js";
export { DistributionClient, type FetchedManifest, type ManifestDescriptor, type UploadStart } from "./client.js";
export { parseRegistryEndpoints, checkEndpoint, REGISTRY_ENDPOINTS_ENV, type RegistryEndpoints } from "./endpoints.js";
export { Transport, HttpResponse, type TransportOptions, type TransportTimeouts, type HttpRequest } from "./transport.js";
export { redactUrl, redactHeaders, type RegistryLogEvent, type RegistryLogger } from "./log.js";
export { repositoryScope, type RepositoryAction } from "./scope.js";
export { DEFAULT_RETRY, DEFAULT_TIMEOUT_MS, type RetryPolicy } from "./retry.js";
