// imagespec/workflow: tasks and workflows in TypeScript, serialised to Flyte's IDL, packaged for flytectl or
// registered with FlyteAdmin after their images are built. The protobuf encoders, the
// package's entry layout, the pyflyte command line and the IDL's service tables are internals.
export { t, describeType, assignable, isFlyteType, type FlyteType, type Port, type PortDeclaration, type SimpleName } from "./types.js";
export { WorkflowError } from "./errors.js";
export {
  containerTask,
  pythonTask,
  DEFAULT_TASK_RESOLVER,
  isTask,
  taskData,
  type Task,
  type TaskData,
  type ContainerTaskOptions,
  type PythonTaskOptions,
  type PythonEntry,
  type Resources,
  type ResourceValues,
  type Secret,
  type CacheSettings,
} from "./task.js";
export {
  workflow,
  launchPlan,
  isWorkflow,
  isLaunchPlan,
  isPromise,
  workflowData,
  launchPlanData,
  defaultLaunchPlanData,
  START_NODE,
  END_NODE,
  type Workflow,
  type WorkflowOptions,
  type WorkflowData,
  type LaunchPlan,
  type LaunchPlanOptions,
  type LaunchPlanData,
  type Schedule,
  type Promised,
  type NodeData,
  type NodeTarget,
  type MapSettings,
  type Callable,
  type CallInputs,
  type CallOutputs,
} from "./graph.js";
export { mapTask, MAP_TASK_RESOLVER, type MapTask, type MapTaskOptions } from "./map-task.js";
export {
  collectEntities,
  resolveImages,
  serializeEntities,
  contentVersion,
  taskTemplate,
  workflowTemplate,
  workflowClosure,
  subWorkflows,
  entityOrder,
  type OrderedEntity,
  launchPlanMessage,
  literal,
  literalType,
  PACKAGE_TARGET,
  type Entities,
  type TaskImage,
  type Target,
  type Serialized,
  type SerializedTask,
  type SerializedWorkflow,
  type SerializedLaunchPlan,
} from "./serialize.js";
export { writePackage } from "./package.js";
export { loadWorkflowFile, type LoadedWorkflows } from "./load.js";
export { AdminClient, type AdminOptions, type AdminAuth, type CreateOutcome } from "./admin.js";
export { registerEntities, type RegisterOptions, type RegisterResult, type RegisterEvent, type ImageOutcome, type EntityOutcome, type ImageStatus } from "./register.js";
export { flyteidl } from "./idl.js";
