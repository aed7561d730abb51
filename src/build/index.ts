export * from "./config.js";
export * from "./plan.js";
export * from "./events.js";
export * from "./native.js";
export { withScriptsOnPath } from "./steps/run.js";
export { DEFAULT_LAYOUT_DIR, destinationFor, describeDestination, parseOutput, type Destination } from "./destination.js";
export { ImageBuilder, NativeBuilder, buildImage, buildSpec, type ImageBuilderOptions } from "./image-builder.js";
export type { PlanBuilder, BuildRequest, Built, BaseImage } from "./builders/types.js";
export { DockerfilePlanBuilder, type DockerfileBuilderOptions } from "./builders/dockerfile.js";
export { publisherFor, existingDigest, RegistryPublisher, LayoutPublisher, type Publisher, type Published, type PublishOptions } from "./publishers/index.js";
export { selectBuilder, nativeSelection, AUTO_ORDER, type Selection, type SelectOptions } from "./select.js";
export {
  generateDockerfile,
  dockerfileSettings,
  DEFAULT_UV_IMAGE,
  DEFAULT_MICROMAMBA_IMAGE,
  DEFAULT_VENV,
  CONDA_PREFIX,
  type DockerfileInput,
  type DockerfileSettings,
  type GeneratedDockerfile,
  type ContextFile,
} from "./dockerfile.js";
export { specDockerfile, writeContext, writeContextInto, type BuildContext, type SpecDockerfileOptions } from "./context.js";
export * from "./backends/index.js";
export { defaultCacheDir } from "./cache-dir.js";
export { blockedError, noWheelError, DOCKERFILE_BUILDERS } from "./unsupported.js";
export { baseListingCached, readBaseListing, listLayer, mergeLayerListings, glibcFromDpkgStatus, muslFromApkInstalled, type BaseListing, type LayerListing } from "./base-listing.js";
export { pythonStepKey, basePythonKey, aptStepKey, wheelLayerKey, filesLayerKey, cacheTag, CACHE_TAG_PREFIX, STEP_CACHE_VERSION, type LayerIdentity } from "./step-keys.js";
export { STEP_CACHE_ARTIFACT_TYPE, StepCacheAnnotation, type CacheStep } from "./steps/artifact.js";
export type { CachedLayer } from "./steps/cached-layer.js";
export { stepCacheArtifact, parseStepCacheManifest, lookupStepCache, storeStepCache, type PythonStepRecord, type PythonStepLayer } from "./python-record.js";
export { basePythonArtifact, parseBasePythonManifest, lookupBasePython, storeBasePython, type BasePythonFacts } from "./base-python.js";
export {
  runAptStep,
  aptLayerHistory,
  aptStepArtifact,
  parseAptStepManifest,
  lookupAptStep,
  storeAptStep,
  type AptStepOptions,
  type AptStepResult,
  type AptStepSource,
  type AptStepLookup,
  type AptStepRecord,
} from "./apt-step.js";
export { pythonLayerHistory, type PythonStepSource, type PythonStepResult, type PythonStepProgress } from "./python-step.js";
export type { PythonPreview, PreviewLayer } from "./python-preview.js";
export { pruneCache, parseAge, CACHE_AREAS, type PruneOptions, type PruneResult } from "./cache-prune.js";
