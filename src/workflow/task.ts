// Declaring tasks. A task is a function: called inside a workflow body it adds a node and returns
// the node's outputs as promises. Its settings are plain data under TASK, read by the serialiser
// (which may be another copy of this module: a user's .ts file is imported through tsx).
import type { ImageSpec } from "../spec/index.js";
import { isImageSpecValue } from "../spec/schema.js";
import { WorkflowError } from "./errors.js";
import { ports, parseDuration, type Port, type PortDeclaration } from "./types.js";
import { callable, type Callable, type MapSettings } from "./graph.js";

export const TASK_BRAND = Symbol.for("imagespec.workflow.task");

export type ResourceName = "cpu" | "memory" | "gpu" | "ephemeralStorage";
export type ResourceValues = Partial<Record<ResourceName, string | number>>;
export interface Resources {
  readonly requests?: ResourceValues;
  readonly limits?: ResourceValues;
}

export interface Secret {
  readonly group: string;
  readonly key?: string;
  readonly groupVersion?: string;
  /** How the secret reaches the task: env var, file, or whatever the platform chooses (any). */
  readonly mountAs?: "any" | "env" | "file";
}

export interface CacheSettings {
  /** Bump to invalidate earlier results (Flyte's discovery version). */
  readonly version: string;
  /** Run one execution at a time for the same inputs, the others wait for its result. */
  readonly serialize?: boolean;
  /** Inputs left out of the cache key. */
  readonly ignoreInputs?: readonly string[];
}

interface CommonTaskOptions<I, O> {
  /** The image the task runs in: a spec (built when missing) or an exact image reference. */
  readonly image: ImageSpec | string;
  readonly inputs?: I;
  readonly outputs?: O;
  readonly resources?: Resources;
  readonly env?: Readonly<Record<string, string>>;
  readonly retries?: number;
  /** "1h30m", "45s", or seconds. */
  readonly timeout?: string | number;
  readonly cache?: CacheSettings;
  /** May run on spot / preemptible nodes. Written on the task and on every node that calls it (Flyte's executor reads the node's). */
  readonly interruptible?: boolean;
  readonly secrets?: readonly Secret[];
  readonly description?: string;
}

export interface ContainerTaskOptions<I, O> extends CommonTaskOptions<I, O> {
  /** The task's name in Flyte. */
  readonly name: string;
  readonly command: readonly string[];
  readonly args?: readonly string[];
  /** Where inputs are written as files before the command runs (default /var/flyte/inputs). */
  readonly inputDir?: string;
  /** Where the command writes one file per output (default /var/flyte/outputs). */
  readonly outputDir?: string;
  /** How the inputs file and outputs file are encoded besides the one-file-per-value form (default json). */
  readonly metadataFormat?: "json" | "yaml" | "proto";
}

export interface PythonTaskOptions<I, O> extends CommonTaskOptions<I, O> {
  /** The Python module holding the function, as the image imports it (e.g. "app.tasks"). */
  readonly module: string;
  /** The function's name in the module. */
  readonly function: string;
  /** The task's name in Flyte; default module.function, as flytekit names it. */
  readonly name?: string;
  /** flytekit's task resolver (default flytekit's default_task_resolver). */
  readonly resolver?: string;
  /**
   * The flytekit version installed in the image, recorded as the task's runtime. Default: the version
   * the image spec pins (`flytekit==X` in packages or its requirements file); unknown otherwise.
   */
  readonly flytekitVersion?: string;
  /**
   * The function returns a typing.NamedTuple whose fields are the declared output names. Without it,
   * outputs must be named as flytekit names a plain return value: o0, o1, ...
   */
  readonly namedOutputs?: boolean;
}

/** What the serialiser reads from a task. */
export interface TaskData {
  readonly kind: "container" | "python";
  readonly name: string;
  readonly image: ImageSpec | string;
  readonly inputs: Readonly<Record<string, Port>>;
  readonly outputs: Readonly<Record<string, Port>>;
  readonly command: readonly string[];
  readonly args: readonly string[];
  readonly resources: { readonly requests: Readonly<ResourceValues>; readonly limits: Readonly<ResourceValues> };
  readonly env: Readonly<Record<string, string>>;
  readonly retries: number;
  readonly timeoutSeconds?: number;
  readonly cache?: CacheSettings;
  /** Unset unless declared, as flytekit leaves it. */
  readonly interruptible?: boolean;
  readonly secrets: readonly Secret[];
  readonly description?: string;
  readonly rawContainer?: { readonly inputDir: string; readonly outputDir: string; readonly metadataFormat: "json" | "yaml" | "proto" };
  /** What pyflyte-execute loads, for a Python task. */
  readonly python?: PythonEntry;
  /** For a map task: how it fans out (the template then carries flytekit's ArrayJob settings). */
  readonly array?: MapSettings;
}

export interface PythonEntry {
  readonly module: string;
  readonly function: string;
  readonly resolver: string;
  readonly flytekitVersion?: string;
}

type Declarations = Record<string, PortDeclaration>;

export interface Task<I extends Declarations = Declarations, O extends Declarations = Declarations> extends Callable<I, O> {
  readonly [TASK_BRAND]: TaskData;
  readonly taskName: string;
}

export function isTask(value: unknown): value is Task {
  return typeof value === "function" && typeof (value as unknown as Record<symbol, unknown>)[TASK_BRAND] === "object";
}

export function taskData(value: Task): TaskData {
  return value[TASK_BRAND];
}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
/** A Kubernetes quantity: 500m, 2, 1.5, 4Gi, 10G, 1e3. */
const QUANTITY = /^(\d+(\.\d+)?|\.\d+)([eE][+-]?\d+|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const RESOURCE_NAMES: readonly ResourceName[] = ["cpu", "memory", "gpu", "ephemeralStorage"];

function fail(where: string, problem: string, hint: string): never {
  throw new WorkflowError("INVALID_WORKFLOW", `${where}: ${problem}`, hint);
}

/** A quantity as an exact fraction (numerator, denominator), so 1.5, "1500m" and "3/2" compare equal. */
export function quantityValue(text: string): { readonly num: bigint; readonly den: bigint } {
  const match = /^(\d*)(?:\.(\d+))?(?:[eE]([+-]?\d+)|(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei))?$/.exec(text);
  if (!match) throw new Error(`not a quantity: ${text}`);
  const [, whole = "", fraction = "", exponent, suffix] = match;
  let num = BigInt(`${whole}${fraction}` || "0");
  let den = 10n ** BigInt(fraction.length);
  const power = exponent !== undefined ? Number(exponent) : suffix === "m" ? -3 : ({ k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 } as Record<string, number>)[suffix ?? ""] ?? 0;
  if (power >= 0) num *= 10n ** BigInt(power);
  else den *= 10n ** BigInt(-power);
  const binary = ({ Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 } as Record<string, number>)[suffix ?? ""];
  if (binary !== undefined) num *= 2n ** BigInt(binary);
  return { num, den };
}

function compareQuantities(a: string, b: string): number {
  const x = quantityValue(a);
  const y = quantityValue(b);
  const left = x.num * y.den;
  const right = y.num * x.den;
  return left < right ? -1 : left > right ? 1 : 0;
}

/**
 * The rules FlyteAdmin applies when a task is registered (and Kubernetes when its pod is made),
 * checked when the task is declared, before any image is built: GPUs are whole numbers, a GPU
 * request equals its limit, and no request is above its limit.
 */
function checkResourceRules(requests: ResourceValues, limits: ResourceValues, where: string): void {
  for (const [kind, values] of [["requests", requests], ["limits", limits]] as const) {
    const gpu = values.gpu;
    if (gpu !== undefined) {
      const { num, den } = quantityValue(String(gpu));
      if (num % den !== 0n) fail(`${where} resources.${kind}.gpu`, `${JSON.stringify(gpu)} is not a whole number of GPUs`, "GPUs are not shared: ask for 1, 2, ...");
    }
  }
  if (requests.gpu !== undefined && limits.gpu !== undefined && compareQuantities(String(requests.gpu), String(limits.gpu)) !== 0) {
    fail(`${where} resources`, `the GPU request (${requests.gpu}) differs from the GPU limit (${limits.gpu})`, "FlyteAdmin requires them equal for GPUs: give one of the two, or the same number in both");
  }
  for (const name of ["cpu", "memory", "ephemeralStorage"] as const) {
    const request = requests[name];
    const limit = limits[name];
    if (request !== undefined && limit !== undefined && compareQuantities(String(request), String(limit)) > 0) {
      fail(`${where} resources`, `the ${name} request (${request}) is above its limit (${limit})`, `raise limits.${name} or lower requests.${name}`);
    }
  }
}

function resourceValues(values: unknown, where: string): ResourceValues {
  if (values === undefined) return {};
  if (typeof values !== "object" || values === null) fail(where, "expected { cpu, memory, gpu, ephemeralStorage }", "write e.g. requests: { cpu: \"1\", memory: \"2Gi\" }");
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(values as Record<string, unknown>)) {
    if (!(RESOURCE_NAMES as readonly string[]).includes(name)) fail(where, `unknown resource ${JSON.stringify(name)}`, `use ${RESOURCE_NAMES.join(", ")}`);
    const text = typeof value === "number" ? String(value) : value;
    if (typeof text !== "string" || !QUANTITY.test(text)) fail(`${where}.${name}`, `${JSON.stringify(value)} is not a quantity`, "write a Kubernetes quantity: \"500m\", \"2\", \"4Gi\"");
    out[name] = text;
  }
  return out;
}

function common(options: CommonTaskOptions<unknown, unknown>, where: string): Omit<TaskData, "kind" | "name" | "command" | "args" | "rawContainer"> {
  if (typeof options.image !== "string" && !isImageSpecValue(options.image)) fail(where, "image must be an ImageSpec or an image reference string", "write image: new ImageSpec({...}) or image: \"ghcr.io/org/app:1.0\"");
  if (typeof options.image === "string" && options.image.trim() === "") fail(where, "image is empty", "name the image the task runs in");
  const retries = options.retries ?? 0;
  if (!Number.isSafeInteger(retries) || retries < 0) fail(where, `retries must be a whole number >= 0, got ${String(options.retries)}`, "write e.g. retries: 3");
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (typeof value !== "string") fail(`${where} env.${key}`, "expected a string", "quote the value");
    env[key] = value;
  }
  const secrets = (options.secrets ?? []).map((secret, i) => {
    if (typeof secret?.group !== "string" || secret.group === "") fail(`${where} secrets[${i}]`, "a secret needs a group", "write { group: \"aws\", key: \"token\" }");
    if (secret.mountAs !== undefined && !["any", "env", "file"].includes(secret.mountAs)) fail(`${where} secrets[${i}].mountAs`, `expected any, env or file, got ${JSON.stringify(secret.mountAs)}`, "leave it out to let the platform choose");
    return { ...secret };
  });
  if (options.cache !== undefined && (typeof options.cache.version !== "string" || options.cache.version === "")) {
    fail(`${where} cache`, "a cached task needs a cache version", "write cache: { version: \"1\" } and bump it when the task's behaviour changes");
  }
  const inputs = ports(options.inputs, `${where} input`);
  const outputs = ports(options.outputs, `${where} output`);
  for (const ignored of options.cache?.ignoreInputs ?? []) if (!(ignored in inputs)) fail(`${where} cache.ignoreInputs`, `${JSON.stringify(ignored)} is not an input`, `inputs are: ${Object.keys(inputs).join(", ") || "(none)"}`);
  for (const [name, p] of Object.entries(outputs)) if (p.hasDefault) fail(`${where} output "${name}"`, "outputs have no defaults", "drop default from the output");
  if (options.interruptible !== undefined && typeof options.interruptible !== "boolean") fail(where, `interruptible must be true or false, got ${JSON.stringify(options.interruptible)}`, "write interruptible: true, or leave it out");
  const requests = resourceValues(options.resources?.requests, `${where} resources.requests`);
  const limits = resourceValues(options.resources?.limits, `${where} resources.limits`);
  checkResourceRules(requests, limits, where);
  return {
    image: options.image,
    inputs,
    outputs,
    resources: { requests, limits },
    env,
    retries,
    ...(options.timeout !== undefined ? { timeoutSeconds: parseDuration(options.timeout, `${where} timeout`) } : {}),
    ...(options.cache !== undefined ? { cache: { ...options.cache } } : {}),
    ...(options.interruptible !== undefined ? { interruptible: options.interruptible } : {}),
    secrets,
    ...(options.description !== undefined ? { description: options.description } : {}),
  };
}

function makeTask<I extends Declarations, O extends Declarations>(data: TaskData): Task<I, O> {
  return callable<Task<I, O>>({ kind: "task", task: data }, TASK_BRAND, data, { taskName: data.name });
}

/**
 * A task running any command in the image, with Flyte's raw-container protocol: inputs are written
 * as files to inputDir (one file per input, plus inputs.json), and the command writes one file per
 * output to outputDir. `{{.inputs.NAME}}` in command and args is replaced by the input's value.
 */
export function containerTask<I extends Declarations = Record<never, never>, O extends Declarations = Record<never, never>>(options: ContainerTaskOptions<I, O>): Task<I, O> {
  const where = `task ${JSON.stringify(options.name)}`;
  if (typeof options.name !== "string" || !NAME.test(options.name)) fail(`task ${JSON.stringify(options.name)}`, "a task name is letters, digits, _ . and -", "write e.g. name: \"prepare-data\"");
  if (!Array.isArray(options.command) || options.command.length === 0 || options.command.some((c) => typeof c !== "string")) fail(where, "command must be a non-empty list of strings", "write e.g. command: [\"sh\", \"-c\", \"...\"]");
  if (options.args !== undefined && (!Array.isArray(options.args) || options.args.some((c) => typeof c !== "string"))) fail(where, "args must be a list of strings", "write e.g. args: [\"--flag\"]");
  const format = options.metadataFormat ?? "json";
  if (!["json", "yaml", "proto"].includes(format)) fail(where, `metadataFormat ${JSON.stringify(format)} is not json, yaml or proto`, "leave it out for json");
  return makeTask<I, O>({
    kind: "container",
    name: options.name,
    ...common(options, where),
    command: [...options.command],
    args: [...(options.args ?? [])],
    rawContainer: { inputDir: options.inputDir ?? "/var/flyte/inputs", outputDir: options.outputDir ?? "/var/flyte/outputs", metadataFormat: format },
  });
}

/** flytekit's default task resolver: loads `task-module` and takes `task-name` from it. */
export const DEFAULT_TASK_RESOLVER = "flytekit.core.python_auto_container.default_task_resolver";

/**
 * The container args flytekit writes for a Python function task: pyflyte-execute with Flyte's
 * templated paths, the resolver, then the resolver's loader args (module and function name).
 */
export function pyflyteExecuteArgs(module: string, fn: string, resolver = DEFAULT_TASK_RESOLVER): string[] {
  return pyflyteArgs("pyflyte-execute", resolver, ["task-module", module, "task-name", fn]);
}

/** flytekit's entrypoint (pyflyte-execute, pyflyte-map-execute) with Flyte's templated paths, the resolver and its loader args. */
export function pyflyteArgs(entrypoint: string, resolver: string, loaderArgs: readonly string[]): string[] {
  return [
    entrypoint,
    "--inputs",
    "{{.input}}",
    "--output-prefix",
    "{{.outputPrefix}}",
    "--raw-output-data-prefix",
    "{{.rawOutputDataPrefix}}",
    "--checkpoint-path",
    "{{.checkpointOutputPrefix}}",
    "--prev-checkpoint",
    "{{.prevCheckpointPrefix}}",
    "--resolver",
    resolver,
    "--",
    ...loaderArgs,
  ];
}

const PYTHON_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A PEP 440 release with optional pre, post and dev parts: 1.16.1, 1.16.0b2, 1.16.1.post1. */
export const PEP440_RELEASE = /^\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?$/;

/** A Python function in the image's source, run by flytekit's pyflyte-execute (so the image needs flytekit). */
export function pythonTask<I extends Declarations = Record<never, never>, O extends Declarations = Record<never, never>>(options: PythonTaskOptions<I, O>): Task<I, O> {
  const where = `task ${JSON.stringify(options.name ?? `${String(options.module)}.${String(options.function)}`)}`;
  if (typeof options.module !== "string" || !options.module.split(".").every((part) => PYTHON_NAME.test(part))) fail(where, `module ${JSON.stringify(options.module)} is not a Python module path`, "write e.g. module: \"app.tasks\"");
  if (typeof options.function !== "string" || !PYTHON_NAME.test(options.function)) fail(where, `function ${JSON.stringify(options.function)} is not a Python identifier`, "write the function's name, e.g. function: \"train\"");
  const name = options.name ?? `${options.module}.${options.function}`;
  if (!NAME.test(name)) fail(where, "a task name is letters, digits, _ . and -", "write e.g. name: \"app.tasks.train\"");
  if (options.flytekitVersion !== undefined && (typeof options.flytekitVersion !== "string" || !PEP440_RELEASE.test(options.flytekitVersion))) {
    fail(where, `flytekitVersion ${JSON.stringify(options.flytekitVersion)} is not a version`, "write the version pip installed, e.g. flytekitVersion: \"1.16.1\"");
  }
  const data = common(options, where);
  if (options.namedOutputs !== true) {
    Object.keys(data.outputs).forEach((output, i) => {
      if (output !== `o${i}`) {
        fail(`${where} output "${output}"`, `flytekit names the outputs of a function that returns plain values o0, o1, ... (this one would be o${i})`, `name the outputs ${Object.keys(data.outputs).map((_, j) => `o${j}`).join(", ")}, or return a typing.NamedTuple with these field names from the function and set namedOutputs: true`);
      }
    });
  }
  const resolver = options.resolver ?? DEFAULT_TASK_RESOLVER;
  return makeTask<I, O>({
    kind: "python",
    name,
    ...data,
    command: [],
    args: pyflyteExecuteArgs(options.module, options.function, resolver),
    python: { module: options.module, function: options.function, resolver, ...(options.flytekitVersion !== undefined ? { flytekitVersion: options.flytekitVersion } : {}) },
  });
}
