// imagespec's public library API: what a user writes. Everything else is behind a subpath export
// (package.json "exports": imagespec/spec, imagespec/build, imagespec/registry, imagespec/ecr,
// imagespec/oci, imagespec/layer, imagespec/reference, imagespec/python, imagespec/apt,
// imagespec/workflow), and internals (HTTP transport, token caches, argument builders) are exported
// from no entry point. test/package/public-api.test.ts pins this list: a name added or removed here is a
// change of the public API and is made there too.

// Amazon ECR's spec settings (`ecr:`) and registry host checks plug into the spec as a vendor
// (src/spec/vendor.ts); importing the package registers it.
import "./ecr/spec-vendor.js";

// Errors: every failure is an ImagespecError with a code and a hint.
export { ImagespecError, ValidationError, type ValidationIssue } from "./errors.js";

// The spec: declared in code or loaded from files, and its content-addressed tag.
export {
  ImageSpec,
  loadSpecs,
  SpecFileError,
  imageName,
  imageReference,
  specTag,
  type Builder,
  type CopyInput,
  type ImageSpecFields,
  type ImageSpecInput,
  type ImageSpecOptions,
  type LoadedSpec,
} from "./spec/index.js";

// Building: a spec to an image in a registry or an OCI layout.
export { ImageBuilder, buildImage, type ImageBuilderOptions, type BuildEvent, type BuildResult } from "./build/index.js";
// A session: the registry client with its vendors (ECR) and a builder pushing through it, closed in one call.
export { createSession, type Session, type SessionOptions } from "./session/index.js";

// The registry client.
export { Registry, Credential, RegistryError, type RegistryOptions, type CredentialKind } from "./registry/index.js";

// Workflows: tasks and workflows declared in TypeScript, and their registration with Flyte.
export {
  t,
  containerTask,
  pythonTask,
  mapTask,
  workflow,
  launchPlan,
  loadWorkflowFile,
  registerEntities,
  AdminClient,
  WorkflowError,
  type FlyteType,
  type Task,
  type ContainerTaskOptions,
  type PythonTaskOptions,
  type Resources,
  type Secret,
  type CacheSettings,
  type Workflow,
  type WorkflowOptions,
  type LaunchPlan,
  type LaunchPlanOptions,
  type Schedule,
  type MapTask,
  type MapTaskOptions,
  type LoadedWorkflows,
  type AdminOptions,
  type RegisterOptions,
  type RegisterResult,
  type RegisterEvent,
} from "./workflow/index.js";
