// imagespec/python: Python packages for the native builder: requirements resolved for the target platform, wheels
// fetched into a content-addressed cache and laid into layers as pip would install them.
//
// The builder's path through it:
//   discoverPython(baseListing, baseEnv, { pythonVersion })  -> interpreter, version, install scheme
//   resolveRequirements(requirements, target, { cacheDir })  -> pinned wheels (cached by inputs)
//   downloadWheels(resolution.wheels, { cacheDir, indexUrls }) -> verified files in the wheel cache
//   planWheelLayers(downloaded)                               -> large wheels alone, the rest together
//   wheelLayerCacheKey(group.wheels, installTarget)           -> reuse a layer built before
//   wheelGroupEntries(group.wheels, installTarget)            -> LayerEntry[] for the layer writer
//
// How pip and uv are invoked and their reports parsed, the download's proxy and credential plumbing,
// wheel tags and markers, lock files, installing one wheel and the resolution cache's files are
// internals (imported from their files).
export { PythonError, type PythonErrorCode } from "./errors.js";
export { parseWheelFilename, type WheelFilename } from "./wheel-filename.js";
export { DEFAULT_GLIBC, DEFAULT_MUSL, describeTarget, type Libc, type PythonTarget } from "./tags.js";
export { SCHEME_KEYS, checkInstallTarget, type SchemeKey, type InstallScheme, type InstallTarget } from "./scheme.js";
export type { WheelFile } from "./install.js";
export { resolutionKey, readCachedResolution, type PythonRequirements, type Resolution, type ResolvedWheel, type ResolverName } from "./resolution.js";
export { resolveRequirements, readRequirementsFile, type ResolveOptions } from "./resolve.js";
export { gpuCondaPackages, gpuRequirements } from "./gpu.js";
export { indexUrlsOf } from "./resolver.js";
export { wheelCachePath, downloadWheels, type DownloadOptions, type DownloadProgress, type DownloadedWheel } from "./download.js";
export {
  DEFAULT_LARGE_WHEEL_BYTES,
  PYTHON_LAYER_LAYOUT_VERSION,
  planWheelLayers,
  wheelLayerCacheKey,
  wheelGroupEntries,
  type LayerWheel,
  type WheelLayerGroup,
  type WheelLayerPlan,
  type WheelGroupEntries,
} from "./layers.js";
export { discoverPython, DEFAULT_IMAGE_PATH, type BaseImagePath, type PythonLayout, type DiscoveredPython, type DiscoverOptions } from "./interpreter.js";
