// From declarations to Flyte's IDL: TaskTemplate (in an admin TaskSpec), WorkflowTemplate (in a
// WorkflowSpec, and a WorkflowClosure with its tasks), and LaunchPlan, as flyteidl's generated
// classes. The same serialised bytes feed the package files, the registration calls and the
// content-hash version, so what is hashed is exactly what is registered.
import { createHash } from "node:crypto";
import Long from "long";
import { VERSION } from "../version.js";
import { ImageSpec, imageName, type FileHashing } from "../spec/index.js";
import { isImageSpecValue } from "../spec/schema.js";
import { WorkflowError } from "./errors.js";
import { defaultLaunchPlanData, isLaunchPlan, isWorkflow, launchPlanData, workflowData, type Binding, type LaunchPlanData, type MapSettings, type NodeData, type WorkflowData } from "./graph.js";
import { flyteidl, type FlyteIdl } from "./idl.js";
import { isTask, taskData, type ResourceName, type TaskData } from "./task.js";
import { MAP_TASK_BRAND, type MapTask } from "./map-task.js";
import { parseDuration, type FlyteType, type Port } from "./types.js";
import { checkPythonTask } from "./python-contract.js";

type core = typeof FlyteIdl.core;
type ILiteral = FlyteIdl.core.ILiteral;
type ILiteralType = FlyteIdl.core.ILiteralType;

function isMapTask(value: unknown): value is MapTask {
  return typeof value === "function" && typeof (value as unknown as Record<symbol, unknown>)[MAP_TASK_BRAND] === "object";
}

/** Everything a workflow file declares, each entity once. */
export interface Entities {
  readonly tasks: readonly TaskData[];
  readonly workflows: readonly WorkflowData[];
  readonly launchPlans: readonly LaunchPlanData[];
}

/** Tasks, workflows and launch plans among `values` (a module's exports), with the tasks the workflows use and a default launch plan per workflow. */
export function collectEntities(values: Iterable<unknown>): Entities {
  const tasks = new Map<string, TaskData>();
  const workflows = new Map<string, WorkflowData>();
  const plans = new Map<string, LaunchPlanData>();
  const addTask = (task: TaskData): void => {
    const seen = tasks.get(task.name);
    if (seen && seen !== task) throw new WorkflowError("INVALID_WORKFLOW", `two different tasks are named "${task.name}"`, "give each task its own name");
    tasks.set(task.name, task);
  };
  const later: LaunchPlanData[] = [];
  const addWorkflow = (wf: WorkflowData): void => {
    const seen = workflows.get(wf.name);
    if (seen && seen !== wf) throw new WorkflowError("INVALID_WORKFLOW", `two different workflows are named "${wf.name}"`, "give each workflow its own name");
    if (seen) return;
    workflows.set(wf.name, wf);
    for (const node of wf.nodes) {
      // A map node registers the map task (flytekit registers the mapped task only where it is called itself).
      if (node.kind === "task" || node.kind === "map") addTask(node.task);
      else if (node.kind === "workflow") addWorkflow(node.workflow);
      else {
        later.push(node.launchPlan);
        addWorkflow(node.launchPlan.workflow);
      }
    }
  };
  const addPlan = (plan: LaunchPlanData): void => {
    const seen = plans.get(plan.name);
    if (seen && !(seen.isDefault && plan.isDefault && seen.workflow === plan.workflow) && seen !== plan) {
      throw new WorkflowError("INVALID_WORKFLOW", `two different launch plans are named "${plan.name}"`, "give each launch plan its own name (a workflow's default launch plan has the workflow's name)");
    }
    if (!seen) plans.set(plan.name, plan);
  };
  for (const value of values) {
    if (isTask(value)) addTask(taskData(value));
    else if (isMapTask(value)) addTask(value[MAP_TASK_BRAND]);
    else if (isWorkflow(value)) addWorkflow(workflowData(value));
    else if (isLaunchPlan(value)) later.push(launchPlanData(value));
  }
  for (const plan of [...later]) addWorkflow(plan.workflow);
  for (const wf of workflows.values()) addPlan(defaultLaunchPlanData(wf));
  for (const plan of later) addPlan(plan);
  const byName = <T extends { name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return { tasks: [...tasks.values()].sort(byName), workflows: [...workflows.values()].sort(byName), launchPlans: [...plans.values()].sort(byName) };
}

/** The image a task runs in, as the task template names it. */
export interface TaskImage {
  /** Full image name: registry/name:tag from the spec, or the string as written. */
  readonly image: string;
  /** The spec, when the task names one (to be built). */
  readonly spec?: ImageSpec;
  readonly architecture: number;
  /** The flytekit version the spec pins (`flytekit==X`), recorded as a Python task's runtime. */
  readonly flytekitVersion?: string;
}

/** A spec from this copy of imagespec (a .ts workflow file imported through tsx has its own copy). */
export function ownSpec(value: ImageSpec): ImageSpec {
  return value instanceof ImageSpec ? value : ImageSpec.from(value);
}

function architectureOf(spec: ImageSpec): number {
  const platforms = spec.platforms();
  if (platforms.length !== 1) return flyteidl.core.Container.Architecture.UNKNOWN;
  const p = platforms[0]!;
  const A = flyteidl.core.Container.Architecture;
  if (p.architecture === "amd64") return A.AMD64;
  if (p.architecture === "arm64") return A.ARM64;
  if (p.architecture === "arm" && p.variant === "v6") return A.ARM_V6;
  if (p.architecture === "arm" && p.variant === "v7") return A.ARM_V7;
  return A.UNKNOWN;
}

/**
 * The image of every task, keyed by task name; `adjust` applies a run's defaults to each spec
 * (a registry for specs that name none, a platform). A spec without a registry is refused: Flyte pulls
 * task images from a registry, and an image in a local OCI layout cannot be pulled.
 */
export async function resolveImages(entities: Entities, baseDir?: string, adjust?: (spec: ImageSpec) => ImageSpec, hashing?: FileHashing): Promise<Map<string, TaskImage>> {
  const out = new Map<string, TaskImage>();
  for (const task of entities.tasks) {
    if (typeof task.image === "string") {
      out.set(task.name, { image: task.image.trim(), architecture: flyteidl.core.Container.Architecture.UNKNOWN });
      continue;
    }
    if (!isImageSpecValue(task.image)) throw new WorkflowError("INVALID_WORKFLOW", `task "${task.name}": image is neither an ImageSpec nor a string`, "set image to an ImageSpec or an image reference");
    let spec = ownSpec(task.image);
    if (baseDir !== undefined && spec.baseDirSource === "cwd") spec = spec.withBaseDir(baseDir);
    if (adjust) spec = adjust(spec);
    if (spec.registry === undefined) {
      throw new WorkflowError("WORKFLOW_IMAGE_NO_REGISTRY", `task "${task.name}": its image spec "${spec.name}" names no registry, and Flyte pulls task images from a registry`, "set registry in the spec (e.g. registry: \"ghcr.io/my-org\"), or pass --registry");
    }
    const flytekitVersion = task.python ? await checkPythonTask(task, spec) : undefined;
    out.set(task.name, { image: await imageName(spec, hashing), spec, architecture: architectureOf(spec), ...(flytekitVersion !== undefined ? { flytekitVersion } : {}) });
  }
  return out;
}

/** Project, domain and version of every identifier. */
export interface Target {
  readonly project: string;
  readonly domain: string;
  readonly version: string;
}

/** The placeholders `flytectl register files` replaces with its --project, --domain and --version (as pyflyte package writes them). */
export const PACKAGE_TARGET: Target = { project: "{{ registration.project }}", domain: "{{ registration.domain }}", version: "{{ registration.version }}" };

export interface SerializedTask {
  readonly name: string;
  readonly image: TaskImage;
  readonly id: FlyteIdl.core.IIdentifier;
  readonly spec: FlyteIdl.admin.TaskSpec;
}
export interface SerializedWorkflow {
  readonly name: string;
  readonly id: FlyteIdl.core.IIdentifier;
  readonly spec: FlyteIdl.admin.WorkflowSpec;
}
export interface SerializedLaunchPlan {
  readonly name: string;
  readonly id: FlyteIdl.core.IIdentifier;
  readonly plan: FlyteIdl.admin.LaunchPlan;
}
export interface Serialized {
  readonly target: Target;
  readonly tasks: readonly SerializedTask[];
  readonly workflows: readonly SerializedWorkflow[];
  readonly launchPlans: readonly SerializedLaunchPlan[];
}

const RT = () => flyteidl.core.ResourceType;

function identifier(resourceType: number, name: string, target: Target): FlyteIdl.core.IIdentifier {
  return { resourceType, project: target.project, domain: target.domain, name, version: target.version };
}

/** A port's type as a LiteralType. */
export function literalType(type: FlyteType): ILiteralType {
  const c: core = flyteidl.core;
  switch (type.kind) {
    case "simple": {
      const S = c.SimpleType;
      const simple = { integer: S.INTEGER, float: S.FLOAT, string: S.STRING, boolean: S.BOOLEAN, datetime: S.DATETIME, duration: S.DURATION }[type.simple];
      return { simple };
    }
    case "blob":
      return { blob: { format: type.format, dimensionality: type.dimensionality === "single" ? c.BlobType.BlobDimensionality.SINGLE : c.BlobType.BlobDimensionality.MULTIPART } };
    case "structuredDataset":
      return { structuredDatasetType: { format: type.format, columns: [] } };
    case "list":
      return { collectionType: literalType(type.of) };
    case "map":
      return { mapValueType: literalType(type.of) };
  }
}

function timestamp(value: Date | string): { seconds: Long; nanos: number } {
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  const seconds = Math.floor(ms / 1000);
  return { seconds: Long.fromNumber(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}

function duration(seconds: number): { seconds: Long; nanos: number } {
  const whole = Math.floor(seconds);
  return { seconds: Long.fromNumber(whole), nanos: Math.round((seconds - whole) * 1e9) };
}

function scalar(value: unknown, type: FlyteType): FlyteIdl.core.IScalar {
  switch (type.kind) {
    case "simple":
      switch (type.simple) {
        case "integer":
          return { primitive: { integer: typeof value === "bigint" ? Long.fromString(value.toString()) : Long.fromNumber(value as number) } };
        case "float":
          return { primitive: { floatValue: value as number } };
        case "string":
          return { primitive: { stringValue: value as string } };
        case "boolean":
          return { primitive: { boolean: value as boolean } };
        case "datetime":
          return { primitive: { datetime: timestamp(value as Date | string) } };
        case "duration":
          return { primitive: { duration: duration(parseDuration(value, "duration")) } };
      }
      break;
    case "blob":
      return { blob: { uri: value as string, metadata: { type: literalType(type).blob! } } };
    case "structuredDataset":
      return { structuredDataset: { uri: value as string, metadata: { structuredDatasetType: { format: type.format, columns: [] } } } };
    default:
      break;
  }
  throw new Error(`no scalar for ${type.kind}`);
}

/** A value of a port's type as a Literal. */
export function literal(value: unknown, type: FlyteType): ILiteral {
  if (type.kind === "list") return { collection: { literals: (value as unknown[]).map((v) => literal(v, type.of)) } };
  if (type.kind === "map") return { map: { literals: sortedRecord(value as Record<string, unknown>, (v) => literal(v, type.of)) } };
  return { scalar: scalar(value, type) };
}

function bindingData(value: unknown, type: FlyteType): FlyteIdl.core.IBindingData {
  if (type.kind === "list") return { collection: { bindings: (value as unknown[]).map((v) => bindingData(v, type.of)) } };
  if (type.kind === "map") return { map: { bindings: sortedRecord(value as Record<string, unknown>, (v) => bindingData(v, type.of)) } };
  return { scalar: scalar(value, type) };
}

function sortedRecord<T, U>(record: Record<string, T>, map: (value: T) => U): Record<string, U> {
  const out: Record<string, U> = {};
  for (const key of Object.keys(record).sort()) out[key] = map(record[key]!);
  return out;
}

function variableMap(ports: Readonly<Record<string, Port>>): FlyteIdl.core.IVariableMap {
  return { variables: sortedRecord(ports, (p) => ({ type: literalType(p.type), description: p.description ?? "" })) };
}

function typedInterface(inputs: Readonly<Record<string, Port>>, outputs: Readonly<Record<string, Port>>): FlyteIdl.core.ITypedInterface {
  return { inputs: variableMap(inputs), outputs: variableMap(outputs) };
}

const RESOURCE_ORDER: readonly ResourceName[] = ["cpu", "gpu", "memory", "ephemeralStorage"];

function resourceEntries(values: Partial<Record<ResourceName, string | number>>): FlyteIdl.core.Resources.IResourceEntry[] {
  const R = flyteidl.core.Resources.ResourceName;
  const names: Record<ResourceName, number> = { cpu: R.CPU, gpu: R.GPU, memory: R.MEMORY, ephemeralStorage: R.EPHEMERAL_STORAGE };
  return RESOURCE_ORDER.filter((n) => values[n] !== undefined).map((n) => ({ name: names[n], value: String(values[n]) }));
}

/**
 * What runs the task, as Flyte's executor reads it: a Python task runs flytekit, recorded as
 * flytekit records itself (FLYTE_SDK, its version, flavor python) when the version is known. When
 * it is not, the runtime says imagespec (OTHER): FlyteAdmin accepts it, and the executor then never
 * hands the task an offloaded (> 10 MB) input, failing that node instead of feeding it to a
 * flytekit that may not read it. A container task runs no SDK.
 */
function runtimeMetadata(task: TaskData, image: TaskImage): FlyteIdl.core.IRuntimeMetadata {
  const R = flyteidl.core.RuntimeMetadata.RuntimeType;
  const flytekit = task.python?.flytekitVersion ?? image.flytekitVersion;
  if (task.python && flytekit !== undefined) return { type: R.FLYTE_SDK, version: flytekit, flavor: "python" };
  return { type: R.OTHER, version: VERSION, flavor: "imagespec" };
}

/** The last part of a dotted name, as flytekit names a node after its task (app.steps.clean -> clean). */
function shortName(name: string): string {
  return name.split(".").at(-1)!;
}

/** A node's metadata as flytekit writes it: the task's short name, retries, timeout, and interruptible only when declared. */
function nodeMetadata(task: TaskData): FlyteIdl.core.INodeMetadata {
  return {
    name: shortName(task.name),
    retries: { retries: task.retries },
    ...(task.timeoutSeconds !== undefined ? { timeout: duration(task.timeoutSeconds) } : {}),
    ...(task.interruptible !== undefined ? { interruptible: task.interruptible } : {}),
  };
}

/** The TaskTemplate of a task, its container naming `image`. */
export function taskTemplate(task: TaskData, image: TaskImage, target: Target): FlyteIdl.core.TaskTemplate {
  const c: core = flyteidl.core;
  const mount = { any: c.Secret.MountType.ANY, env: c.Secret.MountType.ENV_VAR, file: c.Secret.MountType.FILE };
  const container: FlyteIdl.core.IContainer = {
    image: image.image,
    command: [...task.command],
    args: [...task.args],
    resources: { requests: resourceEntries(task.resources.requests), limits: resourceEntries(task.resources.limits) },
    env: Object.keys(task.env).sort().map((key) => ({ key, value: task.env[key]! })),
    architecture: image.architecture,
  };
  if (task.rawContainer) {
    const F = c.DataLoadingConfig.LiteralMapFormat;
    container.dataConfig = {
      enabled: true,
      inputPath: task.rawContainer.inputDir,
      outputPath: task.rawContainer.outputDir,
      format: { json: F.JSON, yaml: F.YAML, proto: F.PROTO }[task.rawContainer.metadataFormat],
      ioStrategy: { downloadMode: c.IOStrategy.DownloadMode.DOWNLOAD_EAGER, uploadMode: c.IOStrategy.UploadMode.UPLOAD_ON_EXIT },
    };
  }
  return c.TaskTemplate.create({
    id: identifier(RT().TASK, task.name, target),
    type: task.kind === "python" ? "python-task" : "raw-container",
    metadata: {
      discoverable: task.cache !== undefined,
      discoveryVersion: task.cache?.version ?? "",
      cacheSerializable: task.cache?.serialize ?? false,
      cacheIgnoreInputVars: [...(task.cache?.ignoreInputs ?? [])],
      runtime: runtimeMetadata(task, image),
      ...(task.timeoutSeconds !== undefined ? { timeout: duration(task.timeoutSeconds) } : {}),
      retries: { retries: task.retries },
      ...(task.interruptible !== undefined ? { interruptible: task.interruptible } : {}),
    },
    interface: typedInterface(task.inputs, task.outputs),
    container,
    ...(task.array ? { taskTypeVersion: 1, custom: arrayJob(task.array) } : {}),
    ...(task.secrets.length > 0
      ? { securityContext: { secrets: task.secrets.map((s) => ({ group: s.group, key: s.key ?? "", groupVersion: s.groupVersion ?? "", mountRequirement: mount[s.mountAs ?? "any"] })) } }
      : {}),
  });
}

function binding(variable: string, b: Binding): FlyteIdl.core.IBinding {
  if (b.kind === "promise") return { var: variable, binding: { promise: { nodeId: b.nodeId, var: b.port } } };
  return { var: variable, binding: bindingData(b.value, b.type) };
}

/**
 * A map task's custom field: flytekit's ArrayJob as protobuf JSON (json_format.MessageToDict:
 * camelCase names, int64 as a string), which is what the template of a map task carries.
 */
function arrayJob(settings: MapSettings): NonNullable<FlyteIdl.core.ITaskTemplate["custom"]> {
  return {
    fields: {
      ...(settings.concurrency !== undefined ? { parallelism: { stringValue: String(settings.concurrency) } } : {}),
      ...(settings.minSuccesses !== undefined ? { minSuccesses: { stringValue: String(settings.minSuccesses) } } : { minSuccessRatio: { numberValue: settings.minSuccessRatio } }),
    },
  };
}

/** A node as flytekit's translator writes it, for each kind of target. */
function nodeMessage(node: NodeData, target: Target): FlyteIdl.core.INode {
  const common = {
    id: node.id,
    inputs: Object.keys(node.inputs).sort().map((name) => binding(name, node.inputs[name]!)),
    upstreamNodeIds: [...node.upstream].sort(),
  };
  switch (node.kind) {
    case "task":
      return { ...common, metadata: nodeMetadata(node.task), taskNode: { referenceId: identifier(RT().TASK, node.task.name, target) } };
    case "workflow":
      // flytekit: the sub-workflow's short name, and its default interruptible (false), written.
      return { ...common, metadata: { name: shortName(node.workflow.name), interruptible: false }, workflowNode: { subWorkflowRef: identifier(RT().WORKFLOW, node.workflow.name, target) } };
    case "launchPlan":
      // A launch plan's node metadata is its workflow's.
      return { ...common, metadata: { name: shortName(node.launchPlan.workflow.name), interruptible: false }, workflowNode: { launchplanRef: identifier(RT().LAUNCH_PLAN, node.launchPlan.name, target) } };
    case "map": {
      // The ArrayNode carries the metadata of the mapped runs on its sub-node (named and identified
      // after the map task, upstream of nothing); the outer node only the map task's name.
      const map = node.map;
      return {
        ...common,
        metadata: { name: node.task.name },
        arrayNode: {
          node: { id: node.task.name, metadata: { ...nodeMetadata(node.task), name: node.task.name }, inputs: common.inputs, upstreamNodeIds: [], taskNode: { referenceId: identifier(RT().TASK, node.task.name, target) } },
          ...(map.concurrency !== undefined ? { parallelism: map.concurrency } : {}),
          ...(map.minSuccesses !== undefined ? { minSuccesses: map.minSuccesses } : { minSuccessRatio: map.minSuccessRatio }),
          executionMode: flyteidl.core.ArrayNode.ExecutionMode.MINIMAL_STATE,
          isOriginalSubNodeInterface: { value: false },
        },
      };
    }
  }
}

/** The WorkflowTemplate of a workflow: one node per call, bindings as wired. */
export function workflowTemplate(wf: WorkflowData, target: Target): FlyteIdl.core.WorkflowTemplate {
  const c: core = flyteidl.core;
  return c.WorkflowTemplate.create({
    id: identifier(RT().WORKFLOW, wf.name, target),
    metadata: {},
    metadataDefaults: {},
    interface: typedInterface(wf.inputs, wf.outputs),
    nodes: wf.nodes.map((node) => nodeMessage(node, target)),
    outputs: Object.keys(wf.outputBindings).sort().map((name) => binding(name, wf.outputBindings[name]!)),
  });
}

/** Every workflow run as a sub-workflow node under `wf`, at any depth, each once, by name (flytekit's sub_workflows). */
export function subWorkflows(wf: WorkflowData): WorkflowData[] {
  const found = new Map<string, WorkflowData>();
  const visit = (w: WorkflowData) => {
    for (const node of w.nodes) {
      if (node.kind !== "workflow" || found.has(node.workflow.name)) continue;
      found.set(node.workflow.name, node.workflow);
      visit(node.workflow);
    }
  };
  visit(wf);
  return [...found.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The LaunchPlan (id and spec) of a plan. */
export function launchPlanMessage(plan: LaunchPlanData, target: Target): FlyteIdl.admin.LaunchPlan {
  const parameters = sortedRecord(plan.defaultInputs, (p) => ({
    var: { type: literalType(p.type), description: p.description ?? "" },
    ...(p.hasDefault ? { default: literal(p.default, p.type) } : { required: true }),
  }));
  const fixed = sortedRecord(plan.fixedInputs, (v) => v);
  const fixedLiterals: Record<string, ILiteral> = {};
  for (const [name, value] of Object.entries(fixed)) fixedLiterals[name] = literal(value, plan.workflow.inputs[name]!.type);
  return flyteidl.admin.LaunchPlan.create({
    id: identifier(RT().LAUNCH_PLAN, plan.name, target),
    spec: {
      workflowId: identifier(RT().WORKFLOW, plan.workflow.name, target),
      entityMetadata: plan.schedule ? { schedule: { cronSchedule: { schedule: plan.schedule.cron }, kickoffTimeInputArg: plan.schedule.kickoffTimeInput ?? "" } } : {},
      defaultInputs: { parameters },
      fixedInputs: { literals: fixedLiterals },
    },
  });
}

/** Every entity as flyteidl messages for `target`. */
export function serializeEntities(entities: Entities, images: ReadonlyMap<string, TaskImage>, target: Target): Serialized {
  return {
    target,
    tasks: entities.tasks.map((task) => {
      const image = images.get(task.name);
      if (!image) throw new Error(`no image resolved for task ${task.name}`);
      const template = taskTemplate(task, image, target);
      return { name: task.name, image, id: template.id!, spec: flyteidl.admin.TaskSpec.create({ template, ...(task.description ? { description: { shortDescription: task.description } } : {}) }) };
    }),
    workflows: entities.workflows.map((wf) => {
      const template = workflowTemplate(wf, target);
      return { name: wf.name, id: template.id!, spec: flyteidl.admin.WorkflowSpec.create({ template, subWorkflows: subWorkflows(wf).map((sub) => workflowTemplate(sub, target)) }) };
    }),
    launchPlans: entities.launchPlans.map((plan) => {
      const message = launchPlanMessage(plan, target);
      return { name: plan.name, id: message.id!, plan: message };
    }),
  };
}

/** One serialised entity, in the order FlyteAdmin can take them. */
export type OrderedEntity =
  | { readonly kind: "task"; readonly entity: SerializedTask }
  | { readonly kind: "workflow"; readonly entity: SerializedWorkflow }
  | { readonly kind: "launchplan"; readonly entity: SerializedLaunchPlan };

/**
 * Every entity, each after what it refers to, as FlyteAdmin requires (it compiles a workflow
 * against the tasks and launch plans its nodes name, and a launch plan against its workflow):
 * tasks first, then each workflow after the launch plans its nodes (and sub-workflows' nodes)
 * launch, and each launch plan after its workflow. Names break ties, so the order is stable.
 */
export function entityOrder(serialized: Serialized): OrderedEntity[] {
  const out: OrderedEntity[] = serialized.tasks.map((entity) => ({ kind: "task" as const, entity }));
  const workflows = new Map(serialized.workflows.map((w) => [w.name, w]));
  const plans = new Map(serialized.launchPlans.map((l) => [l.name, l]));
  const done = new Set<string>();
  const launched = (spec: FlyteIdl.admin.IWorkflowSpec): string[] =>
    [spec.template!, ...(spec.subWorkflows ?? [])].flatMap((t) => (t.nodes ?? []).flatMap((n) => {
      const ref = (n.arrayNode?.node ?? n).workflowNode?.launchplanRef?.name;
      return ref ? [ref] : [];
    }));
  const visitWorkflow = (name: string): void => {
    const key = `workflow ${name}`;
    const wf = workflows.get(name);
    if (done.has(key) || !wf) return;
    done.add(key);
    for (const plan of launched(wf.spec).sort()) visitPlan(plan);
    out.push({ kind: "workflow", entity: wf });
  };
  const visitPlan = (name: string): void => {
    const key = `launchplan ${name}`;
    const plan = plans.get(name);
    if (done.has(key) || !plan) return;
    done.add(key);
    visitWorkflow(plan.plan.spec!.workflowId!.name!);
    out.push({ kind: "launchplan", entity: plan });
  };
  for (const name of workflows.keys()) visitWorkflow(name);
  for (const name of plans.keys()) visitPlan(name);
  return out;
}

/** A WorkflowClosure: the workflow's template with the templates of the tasks it runs. */
export function workflowClosure(serialized: Serialized, workflow: string): FlyteIdl.admin.WorkflowClosure {
  const wf = serialized.workflows.find((w) => w.name === workflow);
  if (!wf) throw new WorkflowError("WORKFLOW_NOT_FOUND", `no workflow "${workflow}"`, `workflows: ${serialized.workflows.map((w) => w.name).join(", ")}`);
  const templates = [wf.spec.template!, ...(wf.spec.subWorkflows ?? [])];
  const used = new Set(templates.flatMap((template) => (template.nodes ?? []).map((n) => (n.arrayNode?.node ?? n).taskNode?.referenceId?.name)));
  return flyteidl.admin.WorkflowClosure.create({
    compiledWorkflow: {
      primary: { template: wf.spec.template },
      subWorkflows: (wf.spec.subWorkflows ?? []).map((template) => ({ template })),
      tasks: serialized.tasks.filter((t) => used.has(t.name)).map((t) => ({ template: t.spec.template })),
    },
  });
}

export function encodeTaskSpec(spec: FlyteIdl.admin.ITaskSpec): Uint8Array {
  return flyteidl.admin.TaskSpec.encode(spec).finish();
}
export function encodeWorkflowSpec(spec: FlyteIdl.admin.IWorkflowSpec): Uint8Array {
  return flyteidl.admin.WorkflowSpec.encode(spec).finish();
}
export function encodeLaunchPlan(plan: FlyteIdl.admin.ILaunchPlan): Uint8Array {
  return flyteidl.admin.LaunchPlan.encode(plan).finish();
}

const VERSION_TARGET: Target = { project: "", domain: "", version: "" };

/**
 * The default version: sha256 over every serialised entity (image names included), without
 * project, domain or version, base32-free hex, 20 characters. Any change to a task, an image, a
 * workflow or a plan gives a new version; the same content gives the same one anywhere.
 */
export function contentVersion(entities: Entities, images: ReadonlyMap<string, TaskImage>): string {
  const s = serializeEntities(entities, images, VERSION_TARGET);
  const hash = createHash("sha256");
  const add = (kind: string, name: string, bytes: Uint8Array) => {
    hash.update(`${kind}\0${name}\0${bytes.length}\0`);
    hash.update(bytes);
  };
  for (const t of s.tasks) add("task", t.name, encodeTaskSpec(t.spec));
  for (const w of s.workflows) add("workflow", w.name, encodeWorkflowSpec(w.spec));
  for (const l of s.launchPlans) add("launchplan", l.name, encodeLaunchPlan(l.plan));
  return hash.digest("hex").slice(0, 20);
}
