// imagespec/oci: the OCI image model (media types, digests, descriptors, manifests, indexes,
// configs, platforms), images and indexes built from parts, and OCI layouts on disk. The manifest
// Accept header, the media-type tables, the layout's blob paths and its "oci:" prefix are internals
// (imported from their files).
export { MediaType, isIndexMediaType, isManifestMediaType } from "./media-types.js";
export { isDigest, sha256, DigestMismatchError, DigestingStream, type Digest } from "./digest.js";
export { parsePlatform, formatPlatform, platformMatches, PlatformError, type Platform, type Descriptor, type Manifest, type Index, type ImageConfig } from "./types.js";
export { isImageIndex, bufferBlob, encodeJson, imageFromParts, indexFromImages, type Blob, type Image, type ImageIndex, type ImageOptions } from "./image.js";
export {
  LayoutError,
  isLayoutReference,
  parseLayoutReference,
  formatLayoutReference,
  writeLayout,
  checkLayoutDirectory,
  listLayoutTags,
  readLayout,
  readLayoutImage,
  type LayoutReference,
  type LayoutWriteResult,
  type ReadLayoutOptions,
} from "./layout.js";
