// imagespec/reference: image references parsed and normalised once (host, repository, tag,
// digest), registry locations, and the redaction every message goes through.
export {
  DOCKER_HUB,
  InvalidReferenceError,
  checkHost,
  checkTag,
  parseReference,
  parseRegistryLocation,
  repositoryName,
  formatReference,
  referenceIdentifier,
  withTag,
  withDigest,
  apiHost,
  isLoopbackHost,
  type Reference,
  type RegistryLocation,
} from "./reference.js";
export { redactUrl, redactSecrets } from "./redact.js";
