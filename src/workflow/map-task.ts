// Map tasks: a Python task run once per element of its list inputs, as one ArrayNode, the way
// flytekit's map_task builds it: a separate task (named <module>.map_<function>_<hash>-arraynode)
// whose interface is the task's with every input and output a list, run by pyflyte-map-execute
// with flytekit's ArrayNodeMapTaskResolver wrapping the task's own resolver.
import { createHash } from "node:crypto";
import { WorkflowError } from "./errors.js";
import { callable, type Callable, type MapSettings } from "./graph.js";
import { isTask, pyflyteArgs, taskData, type Task, type TaskData } from "./task.js";
import { t, type Port, type PortDeclaration } from "./types.js";

export const MAP_TASK_BRAND = Symbol.for("imagespec.workflow.mapTask");
/** The resolver flytekit's map tasks run with (flytekit/core/array_node_map_task.py). */
export const MAP_TASK_RESOLVER = "flytekit.core.array_node_map_task.ArrayNodeMapTaskResolver";

export interface MapTaskOptions {
  /** Elements run at once (default: the workflow's parallelism). */
  readonly concurrency?: number;
  /** Elements that must succeed for the node to succeed (takes precedence over minSuccessRatio). */
  readonly minSuccesses?: number;
  /** The fraction of elements that must succeed (default 1). */
  readonly minSuccessRatio?: number;
}

type Declarations = Record<string, PortDeclaration>;
type Listed<P> = { readonly [K in keyof P]: PortDeclaration };

export interface MapTask<I extends Declarations = Declarations, O extends Declarations = Declarations> extends Callable<Listed<I>, Listed<O>> {
  readonly [MAP_TASK_BRAND]: TaskData;
  readonly taskName: string;
}

function fail(where: string, problem: string, hint: string): never {
  throw new WorkflowError("INVALID_WORKFLOW", `${where}: ${problem}`, hint);
}

/** Python's str() of an optional number, as flytekit hashes the settings into the name (1 -> "1.0" for a float). */
function pythonText(value: number | undefined, float = false): string {
  if (value === undefined) return "None";
  return float && Number.isInteger(value) ? value.toFixed(1) : String(value);
}

function listed(ports: Readonly<Record<string, Port>>): Record<string, Port> {
  const out: Record<string, Port> = {};
  for (const [name, port] of Object.entries(ports)) out[name] = { type: t.list(port.type), hasDefault: false, ...(port.description !== undefined ? { description: port.description } : {}) };
  return out;
}

/**
 * A Python task mapped over lists: called in a workflow body with a list for each input, it runs
 * the task once per element and returns a list per output.
 */
export function mapTask<I extends Declarations, O extends Declarations>(task: Task<I, O>, options: MapTaskOptions = {}): MapTask<I, O> {
  if (!isTask(task)) fail("mapTask", "the first argument is not a task", "pass the value pythonTask(...) returned");
  const mapped = taskData(task);
  const where = `map task over "${mapped.name}"`;
  if (!mapped.python) fail(where, "only a pythonTask can be mapped (flytekit maps Python function tasks)", "run the command from a pythonTask, or loop in the container's command");
  const outputs = Object.keys(mapped.outputs);
  if (outputs.length > 1) fail(where, `the task has ${outputs.length} outputs; a map task takes a task with at most one`, "return one value (or a dataclass holding several)");
  const { concurrency, minSuccesses } = options;
  const minSuccessRatio = options.minSuccessRatio ?? 1;
  if (concurrency !== undefined && !(Number.isSafeInteger(concurrency) && concurrency >= 0)) fail(where, `concurrency must be a whole number >= 0, got ${String(concurrency)}`, "0 means no limit; leave it out to use the workflow's parallelism");
  if (minSuccesses !== undefined && !(Number.isSafeInteger(minSuccesses) && minSuccesses >= 0)) fail(where, `minSuccesses must be a whole number >= 0, got ${String(minSuccesses)}`, "write e.g. minSuccesses: 3");
  if (!(typeof minSuccessRatio === "number" && minSuccessRatio >= 0 && minSuccessRatio <= 1)) fail(where, `minSuccessRatio must be between 0 and 1, got ${String(minSuccessRatio)}`, "write e.g. minSuccessRatio: 0.9");
  if (minSuccessRatio !== 1 && outputs.length > 0) {
    fail(where, "with minSuccessRatio below 1 flytekit makes the output a list of optional values, which imagespec's types cannot express yet", "map a task without outputs, or keep minSuccessRatio at 1");
  }
  const { module, function: fn, resolver } = mapped.python;
  const hash = createHash("md5").update(`${pythonText(concurrency)}${pythonText(minSuccesses)}${pythonText(minSuccessRatio, true)}`).digest("hex");
  const settings: MapSettings = { mapped, minSuccessRatio, ...(concurrency !== undefined ? { concurrency } : {}), ...(minSuccesses !== undefined ? { minSuccesses } : {}) };
  const data: TaskData = {
    ...mapped,
    name: `${module}.map_${fn}_${hash}-arraynode`,
    inputs: listed(mapped.inputs),
    outputs: listed(mapped.outputs),
    // No bound inputs: every input is mapped, so "vars" is empty.
    args: pyflyteArgs("pyflyte-map-execute", MAP_TASK_RESOLVER, ["vars", "", "resolver", resolver, "task-module", module, "task-name", fn]),
    array: settings,
  };
  return callable<MapTask<I, O>>({ kind: "map", task: data, map: settings }, MAP_TASK_BRAND, data, { taskName: data.name });
}
