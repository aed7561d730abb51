// `imagespec/build`: what an embedder writes to build images. The driver (ImageBuilder, buildImage;
// NativeBuilder, buildSpec for the native builder alone), what it reports and returns, the plan it
// runs (planBuild, describePlan, and the types of a plan's parts), the Dockerfile a Dockerfile builder
// runs (the `imagespec dockerfile` command's API), the interface and settings of the Dockerfile
// builders (ImageBuilderOptions.createBackend, .backends), and the cache folder with its pruning.
// Steps, step caches, publishers, listings and the builders' internals are imported from their files
// inside src/; test/package/subpath-exports.test.ts keeps them out of here.
export { ImageBuilder, NativeBuilder, buildImage, buildSpec, type ImageBuilderOptions } from "./image-builder.js";
export type { BuildEvent, BuildOptions, BuildResult } from "./events.js";
// The payloads of BuildEvent's "python", "python-progress" and "apt" events.
export type { PythonStepProgress, PythonStepSource } from "./python-step.js";
export type { AptStepSource } from "./apt-step.js";

export { planBuild, describePlan, type Plan, type PlanOptions, type Step, type BaseSource, type Blocker } from "./plan.js";
export type { PythonPreview, PreviewLayer } from "./python-preview.js";
// What ImageBuilder.selection(plan) returns and describePlan shows.
export type { Selection } from "./select.js";

export { generateDockerfile, dockerfileSettings, type DockerfileInput, type DockerfileSettings, type GeneratedDockerfile, type ContextFile } from "./dockerfile.js";
export { specDockerfile, writeContext, writeContextInto, type BuildContext, type SpecDockerfileOptions } from "./context.js";

export {
  createBackend,
  BuilderError,
  type Backend,
  type BackendName,
  type BackendOptions,
  type BackendBuildRequest,
  type BackendRunOptions,
  type BackendsConfig,
  type Detection,
  type Invocation,
  type OutputLine,
  type ContainersBackendOptions,
  type DockerBackendOptions,
  type BuildkitBackendOptions,
} from "./backends/index.js";

export { defaultCacheDir } from "./cache-dir.js";
export { pruneCache, type PruneOptions, type PruneResult } from "./cache-prune.js";
