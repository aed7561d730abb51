// Declaring workflows: the body runs once at declaration time with promises for the workflow's
// inputs; each task call adds a node, and every binding is type-checked right there, so a wiring
// mistake is reported at the line that made it, naming the node and the port.
import { WorkflowError } from "./errors.js";
import type { TaskData } from "./task.js";
import { assignable, checkValue, describeType, ports, type FlyteType, type Port, type PortDeclaration } from "./types.js";

export const PROMISE_BRAND = Symbol.for("imagespec.workflow.promise");
export const WORKFLOW_BRAND = Symbol.for("imagespec.workflow.workflow");
export const LAUNCH_PLAN_BRAND = Symbol.for("imagespec.workflow.launchPlan");
/** The node id Flyte gives a workflow's inputs. */
export const START_NODE = "start-node";
/** The node id Flyte's compiler gives a workflow's outputs. */
export const END_NODE = "end-node";

/** A value that will exist when the workflow runs: an output of a node, or a workflow input. */
export interface Promised {
  readonly [PROMISE_BRAND]: true;
  readonly nodeId: string;
  readonly port: string;
  readonly type: FlyteType;
  /** For messages: `input "n" of the workflow` or `output "o" of node n0 (task "t")`. */
  readonly origin: string;
}

export function isPromise(value: unknown): value is Promised {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[PROMISE_BRAND] === true;
}

export type Binding = { readonly kind: "promise"; readonly nodeId: string; readonly port: string } | { readonly kind: "value"; readonly type: FlyteType; readonly value: unknown };

/** How a map task fans out, as flytekit's map_task takes it. */
export interface MapSettings {
  /** The task each element runs (the map task's template is derived from it). */
  readonly mapped: TaskData;
  /** Elements run at once (unset: the workflow's parallelism). */
  readonly concurrency?: number;
  /** Elements that must succeed; takes precedence over minSuccessRatio. */
  readonly minSuccesses?: number;
  readonly minSuccessRatio: number;
}

/** What a node runs: a task, a sub-workflow, a launch plan, or a task mapped over lists (an ArrayNode). */
export type NodeTarget =
  | { readonly kind: "task"; readonly task: TaskData }
  | { readonly kind: "workflow"; readonly workflow: WorkflowData }
  | { readonly kind: "launchPlan"; readonly launchPlan: LaunchPlanData }
  | { readonly kind: "map"; readonly task: TaskData; readonly map: MapSettings };

export type NodeData = NodeTarget & {
  readonly id: string;
  readonly inputs: Readonly<Record<string, Binding>>;
  readonly upstream: readonly string[];
};

/** A node's target as messages name it: task "x", workflow "y", launch plan "z", map task "t". */
export function describeTarget(target: NodeTarget): string {
  switch (target.kind) {
    case "task":
      return `task "${target.task.name}"`;
    case "workflow":
      return `workflow "${target.workflow.name}"`;
    case "launchPlan":
      return `launch plan "${target.launchPlan.name}"`;
    case "map":
      return `map task over "${target.map.mapped.name}"`;
  }
}

const NOUN: Record<NodeTarget["kind"], string> = { task: "task", workflow: "workflow", launchPlan: "launch plan", map: "map task" };

/** The ports a call of the target takes and returns (a launch plan's fixed inputs are not callable). */
function targetPorts(target: NodeTarget): { inputs: Readonly<Record<string, Port>>; outputs: Readonly<Record<string, Port>> } {
  switch (target.kind) {
    case "task":
    case "map":
      return target.task;
    case "workflow":
      return target.workflow;
    case "launchPlan":
      return { inputs: target.launchPlan.defaultInputs, outputs: target.launchPlan.workflow.outputs };
  }
}

export interface WorkflowData {
  readonly name: string;
  readonly inputs: Readonly<Record<string, Port>>;
  readonly outputs: Readonly<Record<string, Port>>;
  readonly nodes: readonly NodeData[];
  readonly outputBindings: Readonly<Record<string, Binding>>;
  readonly description?: string;
}

export interface Schedule {
  /** A cron expression (5 fields, or @hourly, @daily, ...). */
  readonly cron: string;
  /** A datetime input that receives the scheduled time of each run. */
  readonly kickoffTimeInput?: string;
}

export interface LaunchPlanData {
  readonly name: string;
  readonly workflow: WorkflowData;
  readonly fixedInputs: Readonly<Record<string, unknown>>;
  /** The workflow's inputs a run may set, with their defaults (after the plan's overrides). */
  readonly defaultInputs: Readonly<Record<string, Port>>;
  readonly schedule?: Schedule;
  readonly isDefault: boolean;
}

type Declarations = Record<string, PortDeclaration>;
/** The inputs a call takes: a promise or a plain value for each port. */
export type CallInputs<I> = { readonly [K in keyof I]?: Promised | unknown };
export type CallOutputs<O> = { readonly [K in keyof O]: Promised };
/** What calling a task, workflow, launch plan or map task inside a workflow body looks like. */
export type Callable<I, O> = (inputs?: CallInputs<I>, options?: { nodeId?: string }) => CallOutputs<O>;

/** A workflow; called inside another workflow's body it becomes a sub-workflow node. */
export interface Workflow<I extends Declarations = Declarations, O extends Declarations = Declarations> extends Callable<I, O> {
  readonly [WORKFLOW_BRAND]: WorkflowData;
  readonly workflowName: string;
}
/** A launch plan; called inside a workflow's body it becomes a node that launches it. */
export interface LaunchPlan<I extends Declarations = Declarations, O extends Declarations = Declarations> extends Callable<I, O> {
  readonly [LAUNCH_PLAN_BRAND]: LaunchPlanData;
  readonly launchPlanName: string;
}

function branded(value: unknown, brand: symbol): boolean {
  return (typeof value === "function" || (typeof value === "object" && value !== null)) && typeof (value as Record<symbol, unknown>)[brand] === "object";
}
export function isWorkflow(value: unknown): value is Workflow {
  return branded(value, WORKFLOW_BRAND);
}
export function isLaunchPlan(value: unknown): value is LaunchPlan {
  return branded(value, LAUNCH_PLAN_BRAND);
}

/** A function that adds a node running `target` to the workflow being declared, with its data under `brand`. */
export function callable<T>(target: NodeTarget, brand: symbol, data: object, names: Record<string, string>): T {
  const call = (inputs: Record<string, unknown> = {}, options: { nodeId?: string } = {}) => currentBuilder(describeTarget(target)).addNode(target, inputs, options.nodeId);
  Object.defineProperty(call, brand, { value: data, enumerable: false });
  for (const [key, value] of Object.entries(names)) Object.defineProperty(call, key, { value, enumerable: true });
  return call as unknown as T;
}

function fail(message: string, hint: string): never {
  throw new WorkflowError("INVALID_WORKFLOW", message, hint);
}

class Builder {
  readonly nodes: NodeData[] = [];
  private readonly ids = new Set<string>([START_NODE]);

  constructor(readonly workflow: string) {}

  addNode(target: NodeTarget, given: Record<string, unknown>, nodeId?: string): Record<string, Promised> {
    const id = nodeId ?? `n${this.nodes.length}`;
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(id)) fail(`workflow "${this.workflow}": node id ${JSON.stringify(id)} is not valid`, "use lower-case letters, digits and -");
    if (id === START_NODE || id === END_NODE) fail(`workflow "${this.workflow}": node id ${JSON.stringify(id)} is reserved`, `Flyte's compiler names a workflow's inputs ${START_NODE} and its outputs ${END_NODE}; choose another nodeId`);
    if (this.ids.has(id)) fail(`workflow "${this.workflow}": two nodes have the id ${JSON.stringify(id)}`, "give each call its own nodeId");
    this.ids.add(id);
    const label = describeTarget(target);
    const node = `workflow "${this.workflow}": node ${id} (${label})`;
    const { inputs: declared, outputs: produced } = targetPorts(target);
    if (typeof given !== "object" || given === null) fail(`${node}: call it with an object of inputs`, "write e.g. task({ n: inputs.n })");
    for (const name of Object.keys(given)) {
      if (target.kind === "launchPlan" && name in target.launchPlan.fixedInputs) fail(`${node}: input "${name}" is fixed by the launch plan`, "leave it out of the call, or call a plan that does not fix it");
      if (!(name in declared)) fail(`${node}: ${NOUN[target.kind]} has no input "${name}"`, `its inputs are: ${Object.keys(declared).join(", ") || "(none)"}`);
    }
    const inputs: Record<string, Binding> = {};
    const upstream = new Set<string>();
    for (const [name, p] of Object.entries(declared)) {
      const value = given[name];
      if (value === undefined) {
        if (p.hasDefault) {
          inputs[name] = { kind: "value", type: p.type, value: p.default };
          continue;
        }
        fail(`${node}: input "${name}" (${describeType(p.type)}) is not bound`, "pass it in the call, or give the input a default where it is declared");
      }
      inputs[name] = bind(value, p.type, `${node} input "${name}"`);
      if (isPromise(value) && value.nodeId !== START_NODE) upstream.add(value.nodeId);
    }
    this.nodes.push({ ...target, id, inputs, upstream: [...upstream] });
    const outputs: Record<string, Promised> = {};
    for (const [name, p] of Object.entries(produced)) outputs[name] = promise(id, name, p.type, `output "${name}" of node ${id} (${label})`);
    return outputs;
  }
}

function promise(nodeId: string, port: string, type: FlyteType, origin: string): Promised {
  return { [PROMISE_BRAND]: true, nodeId, port, type, origin };
}

/** A binding of `value` to a port of `type`, checked. */
function bind(value: unknown, type: FlyteType, where: string): Binding {
  if (isPromise(value)) {
    if (!assignable(value.type, type)) {
      throw new WorkflowError("INVALID_WORKFLOW_TYPES", `${where}: expected ${describeType(type)}, but ${value.origin} is ${describeType(value.type)}`, "connect a port of the same type, or change one of the declarations");
    }
    return { kind: "promise", nodeId: value.nodeId, port: value.port };
  }
  checkValue(value, type, where);
  return { kind: "value", type, value };
}

const stack: Builder[] = [];

/** The workflow being declared; a task called outside a workflow body is an error. */
export function currentBuilder(what: string): Builder {
  const builder = stack.at(-1);
  if (!builder) fail(`${what} was called outside a workflow body`, "call tasks inside workflow({...}, (inputs) => { ... })");
  return builder;
}

export type WorkflowInputs<I> = { readonly [K in keyof I]: Promised };

export interface WorkflowOptions<I, O> {
  readonly name: string;
  readonly inputs?: I;
  readonly outputs?: O;
  readonly description?: string;
}

/**
 * Declares a workflow: `body` gets promises for the inputs, calls tasks, and returns a promise (or a
 * constant) for each declared output.
 */
export function workflow<I extends Declarations = Record<never, never>, O extends Declarations = Record<never, never>>(
  options: WorkflowOptions<I, O>,
  body: (inputs: WorkflowInputs<I>) => { readonly [K in keyof O]: Promised | unknown } | void,
): Workflow<I, O> {
  const name = options.name;
  if (typeof name !== "string" || !/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(name)) fail(`workflow ${JSON.stringify(name)}: a workflow name is letters, digits, _ . and -`, "write e.g. name: \"training-pipeline\"");
  const where = `workflow "${name}"`;
  const inputs = ports(options.inputs, `${where} input`);
  const outputs = ports(options.outputs, `${where} output`);
  const promises: Record<string, Promised> = {};
  for (const [port, p] of Object.entries(inputs)) promises[port] = promise(START_NODE, port, p.type, `input "${port}" of the workflow`);
  const builder = new Builder(name);
  stack.push(builder);
  let returned: Record<string, unknown>;
  try {
    returned = (body(promises as WorkflowInputs<I>) ?? {}) as Record<string, unknown>;
  } finally {
    stack.pop();
  }
  if (typeof returned !== "object" || returned === null) fail(`${where}: the body must return an object of outputs`, "return e.g. { result: node.out }");
  for (const key of Object.keys(returned)) if (!(key in outputs)) fail(`${where}: returns "${key}", which is not a declared output`, `declared outputs are: ${Object.keys(outputs).join(", ") || "(none)"}`);
  const outputBindings: Record<string, Binding> = {};
  for (const [port, p] of Object.entries(outputs)) {
    if (returned[port] === undefined) fail(`${where}: output "${port}" (${describeType(p.type)}) is not returned`, "return a node output for it from the body");
    outputBindings[port] = bind(returned[port], p.type, `${where} output "${port}"`);
  }
  const data: WorkflowData = { name, inputs, outputs, nodes: builder.nodes, outputBindings, ...(options.description !== undefined ? { description: options.description } : {}) };
  return callable<Workflow<I, O>>({ kind: "workflow", workflow: data }, WORKFLOW_BRAND, data, { workflowName: name });
}

const CRON_ALIASES = new Set(["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]);
const CRON_FIELD = /^[0-9A-Za-z*?,/\-#LW]+$/;

export interface LaunchPlanOptions {
  readonly name: string;
  /** Inputs set by the plan that a run cannot change. */
  readonly fixedInputs?: Readonly<Record<string, unknown>>;
  /** Defaults that replace the workflow's; a run may still override them. */
  readonly defaultInputs?: Readonly<Record<string, unknown>>;
  readonly schedule?: Schedule;
}

/** The launch plan Flyte expects for every workflow: its name, the workflow's defaults, no fixed inputs. */
export function defaultLaunchPlanData(wf: WorkflowData): LaunchPlanData {
  return { name: wf.name, workflow: wf, fixedInputs: {}, defaultInputs: wf.inputs, isDefault: true };
}

/** A named launch plan of a workflow, with fixed and default inputs and an optional cron schedule. */
export function launchPlan<I extends Declarations, O extends Declarations>(wf: Workflow<I, O>, options: LaunchPlanOptions): LaunchPlan<I, O> {
  if (!isWorkflow(wf)) fail(`launch plan ${JSON.stringify(options?.name)}: the first argument is not a workflow`, "pass the value workflow(...) returned");
  const data = wf[WORKFLOW_BRAND];
  const name = options.name;
  const where = `launch plan ${JSON.stringify(name)} of workflow "${data.name}"`;
  if (typeof name !== "string" || !/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(name)) fail(`${where}: a launch plan name is letters, digits, _ . and -`, "write e.g. name: \"nightly\"");
  if (name === data.name) fail(`${where}: the name is the workflow's, which its default launch plan has`, "choose another name");
  const fixed: Record<string, unknown> = {};
  const defaults: Record<string, Port> = { ...data.inputs };
  for (const [port, value] of Object.entries(options.fixedInputs ?? {})) {
    const p = data.inputs[port];
    if (!p) fail(`${where}: fixed input "${port}" is not an input of the workflow`, `its inputs are: ${Object.keys(data.inputs).join(", ") || "(none)"}`);
    checkValue(value, p.type, `${where} fixed input "${port}"`);
    fixed[port] = value;
    delete defaults[port];
  }
  for (const [port, value] of Object.entries(options.defaultInputs ?? {})) {
    const p = data.inputs[port];
    if (!p) fail(`${where}: default input "${port}" is not an input of the workflow`, `its inputs are: ${Object.keys(data.inputs).join(", ") || "(none)"}`);
    if (port in fixed) fail(`${where}: input "${port}" is both fixed and defaulted`, "keep one of the two");
    checkValue(value, p.type, `${where} default input "${port}"`);
    defaults[port] = { ...p, hasDefault: true, default: value };
  }
  let schedule: Schedule | undefined;
  if (options.schedule !== undefined) {
    const cron = options.schedule.cron;
    const fields = typeof cron === "string" ? cron.trim().split(/\s+/) : [];
    if (!(typeof cron === "string" && (CRON_ALIASES.has(cron.trim()) || (fields.length === 5 && fields.every((f) => CRON_FIELD.test(f)))))) {
      fail(`${where}: schedule cron ${JSON.stringify(cron)} is not a cron expression`, "write five fields (minute hour day month weekday), e.g. \"0 3 * * *\", or @hourly / @daily");
    }
    const kickoff = options.schedule.kickoffTimeInput;
    if (kickoff !== undefined) {
      const p = data.inputs[kickoff];
      if (!p || p.type.kind !== "simple" || p.type.simple !== "datetime") fail(`${where}: kickoffTimeInput "${kickoff}" must be a datetime input of the workflow`, "declare it as t.datetime");
      if (kickoff in fixed) fail(`${where}: kickoffTimeInput "${kickoff}" is a fixed input`, "leave it out of fixedInputs");
    }
    schedule = { cron: cron.trim(), ...(kickoff !== undefined ? { kickoffTimeInput: kickoff } : {}) };
  }
  for (const [port, p] of Object.entries(defaults)) {
    if (!p.hasDefault && schedule !== undefined && schedule.kickoffTimeInput !== port) {
      fail(`${where}: a scheduled plan must set every input, but "${port}" has no value`, "give it a fixed or default input in the plan, or a default in the workflow");
    }
  }
  const planData: LaunchPlanData = { name, workflow: data, fixedInputs: fixed, defaultInputs: defaults, ...(schedule ? { schedule } : {}), isDefault: false };
  return callable<LaunchPlan<I, O>>({ kind: "launchPlan", launchPlan: planData }, LAUNCH_PLAN_BRAND, planData, { launchPlanName: name });
}

export function workflowData(value: Workflow): WorkflowData {
  return value[WORKFLOW_BRAND];
}
export function launchPlanData(value: LaunchPlan): LaunchPlanData {
  return value[LAUNCH_PLAN_BRAND];
}
