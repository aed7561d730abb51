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
// How pip and uv are invoked and their reports parsed, and the download's proxy and credential
// plumbing, are internals (imported from their files).
export { PythonError, type PythonErrorCode } from "./errors.js";
export * from "./wheel-filename.js";
export { DEFAULT_GLIBC, DEFAULT_MUSL, wheelArchitecture, pythonMajorMinor, cpythonAbi, platformTags, supportedTags, wheelRank, wheelIsCompatible, describeTarget, type Libc, type PythonTarget } from "./tags.js";
export * from "./scheme.js";
export * from "./install.js";
export * from "./resolution.js";
export * from "./resolve.js";
export { lockedWheels, lockKindOf, pyprojectBeside, readLock, type LockKind } from "./lock.js";
export { evaluateMarker, markerEnvironment } from "./markers.js";
export { gpuCondaPackages, gpuRequirements } from "./gpu.js";
export { indexUrlsOf } from "./resolver.js";
export { wheelCachePath, downloadWheels, downloadWheel, type DownloadOptions, type DownloadProgress, type DownloadedWheel } from "./download.js";
export * from "./layers.js";
export * from "./interpreter.js";
