// The Python side of a pythonTask, checked before anything is built or registered: pyflyte-execute
// imports the module from the image and calls the attribute's dispatch_execute, so when the image
// spec copies sources, the module must be among them and the attribute a decorated function there
// whose parameters are the declared inputs; and the flytekit the spec pins is the runtime the task
// records.
import { readFile } from "node:fs/promises";
import { join, posix } from "node:path";
import { collectFiles, type ImageSpec } from "../spec/index.js";
import { parseRequirement } from "../spec/pep508.js";
import { WorkflowError } from "./errors.js";
import type { TaskData } from "./task.js";
import { describeType, type Port } from "./types.js";

/** The flytekit version recorded for `task` (declared, else pinned by the spec); throws when the module is not where the image imports it from. */
export async function checkPythonTask(task: TaskData, spec: ImageSpec): Promise<string | undefined> {
  const python = task.python!;
  const pinned = await pinnedFlytekit(spec);
  if (python.flytekitVersion !== undefined && pinned !== undefined && pinned.version !== python.flytekitVersion) {
    throw new WorkflowError("INVALID_WORKFLOW", `task "${task.name}": flytekitVersion ${python.flytekitVersion} differs from the flytekit==${pinned.version} its image spec "${spec.name}" installs (${pinned.from})`, "drop flytekitVersion, or make it the version the image installs");
  }
  await checkModule(task, spec);
  return python.flytekitVersion ?? pinned?.version;
}

/** `flytekit==X` (no marker) in the spec's packages or requirements file. */
async function pinnedFlytekit(spec: ImageSpec): Promise<{ version: string; from: string } | undefined> {
  const pin = (text: string): string | undefined => {
    let requirement;
    try {
      requirement = parseRequirement(text.trim());
    } catch {
      return undefined;
    }
    if (requirement.name.toLowerCase().replace(/[-_.]+/g, "-") !== "flytekit" || requirement.marker !== undefined || requirement.specifiers.length !== 1) return undefined;
    const [only] = requirement.specifiers;
    return only!.operator === "==" && !only!.version.includes("*") ? only!.version : undefined;
  };
  for (const text of spec.packages) {
    const version = pin(text);
    if (version !== undefined) return { version, from: "packages" };
  }
  if (spec.requirements !== undefined) {
    const text = await readFile(join(spec.baseDir, spec.requirements), "utf8").catch(() => undefined);
    for (const line of text?.split("\n") ?? []) {
      const version = pin(line.replace(/\s#.*$/, ""));
      if (version !== undefined) return { version, from: spec.requirements };
    }
  }
  return undefined;
}

async function checkModule(task: TaskData, spec: ImageSpec): Promise<void> {
  const { module, function: fn } = task.python!;
  // Without copied sources the module comes from an installed package, which cannot be read here.
  if (spec.sourceRoot === undefined && spec.copy.length === 0) return;
  // The files exactly as the image will hold them (spec/files.ts decides: destinations, ignore files, later entries winning).
  const inImage = new Map((await collectFiles(spec)).filter((entry) => entry.type === "file").map((entry) => [entry.path, entry.source]));
  const where = `task "${task.name}"`;
  const relative = module.split(".").join("/");
  const candidates = [posix.join(spec.workdir, `${relative}.py`), posix.join(spec.workdir, relative, "__init__.py")];
  const file = candidates.map((candidate) => inImage.get(candidate)).find((source) => source !== undefined);
  if (!file) {
    throw new WorkflowError(
      "INVALID_PYTHON_MODULE",
      `${where}: module ${module} is not in the sources image spec "${spec.name}" copies (pyflyte-execute imports it from ${candidates.join(" or ")})`,
      `fix module, or copy the file into the image (sourceRoot or copy); the module path is relative to workdir ${spec.workdir}`,
    );
  }
  const source = await readFile(file, "utf8");
  const lines = source.split("\n");
  const definition = lines.findIndex((line) => new RegExp(`^(async\\s+)?def\\s+${fn}\\s*\\(`).test(line));
  if (definition === -1) {
    if (lines.some((line) => new RegExp(`^${fn}\\s*(:[^=]*)?=`).test(line))) return;
    throw new WorkflowError("INVALID_PYTHON_FUNCTION", `${where}: ${file} defines no ${fn} at module level`, `define it there as a flytekit task (@task above def ${fn}), or fix function`);
  }
  let above = definition - 1;
  while (above >= 0 && /^\s*(#.*)?$/.test(lines[above]!)) above--;
  const decorated = above >= 0 && (/^@/.test(lines[above]!) || /^\s*[)\]]/.test(lines[above]!));
  if (!decorated) {
    throw new WorkflowError("INVALID_PYTHON_TASK", `${where}: ${fn} in ${file} is a plain function; pyflyte-execute calls the attribute's dispatch_execute, which only a flytekit task has`, `decorate it: from flytekit import task; @task def ${fn}(...)`);
  }
  // A map task's function takes one element of each list.
  checkParameters(task.array?.mapped.inputs ?? task.inputs, signature(source, source.indexOf(lines[definition]!)), `${where}: ${fn} in ${file}`);
}

/** The parameter list of the def starting at `start`: the text between its parentheses. */
function signature(source: string, start: number): string {
  const open = source.indexOf("(", start);
  let depth = 0;
  for (let i = open; i < source.length; i++) {
    if ("([{".includes(source[i]!)) depth++;
    else if (")]}".includes(source[i]!) && --depth === 0) return source.slice(open + 1, i);
  }
  return source.slice(open + 1);
}

/** Splits at commas outside brackets. */
function topLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const c of text) {
    if ("([{".includes(c)) depth++;
    if (")]}".includes(c)) depth--;
    if (c === "," && depth === 0) {
      parts.push(current);
      current = "";
    } else current += c;
  }
  return [...parts, current].map((p) => p.replace(/#.*$/gm, "").trim()).filter((p) => p !== "");
}

/** Python annotations that name exactly one of Flyte's simple types. */
const SIMPLE_ANNOTATIONS: Record<string, string> = { int: "integer", float: "float", str: "string", bool: "boolean", datetime: "datetime", "datetime.datetime": "datetime", timedelta: "duration", "datetime.timedelta": "duration" };

/**
 * The function's parameters are the declared inputs, by name (flytekit binds inputs as keyword
 * arguments), and a parameter annotated with a plain int, float, str, bool, datetime or timedelta
 * has that simple type. Other annotations are not read; *args or **kwargs skip the check.
 */
function checkParameters(inputs: Readonly<Record<string, Port>>, parameters: string, where: string): void {
  const params = topLevel(parameters).filter((p) => p !== "/" && p !== "*");
  if (params.some((p) => p.startsWith("*"))) return;
  const declared = new Map(params.map((p) => {
    const [, name = "", annotation] = /^([A-Za-z_][A-Za-z0-9_]*)\s*(?::\s*([^=]+?))?\s*(?:=.*)?$/s.exec(p) ?? [];
    return [name, annotation?.trim()] as const;
  }));
  const missing = Object.keys(inputs).filter((name) => !declared.has(name));
  const extra = [...declared.keys()].filter((name) => !(name in inputs));
  if (missing.length > 0 || extra.length > 0) {
    const problems = [...(missing.length ? [`no parameter for input ${missing.map((m) => JSON.stringify(m)).join(", ")}`] : []), ...(extra.length ? [`parameter ${extra.map((m) => JSON.stringify(m)).join(", ")} is not a declared input`] : [])];
    throw new WorkflowError("INVALID_PYTHON_TASK", `${where}: ${problems.join("; ")}`, `flytekit calls the task with the declared inputs as keyword arguments: name the parameters ${Object.keys(inputs).join(", ") || "(none)"}`);
  }
  for (const [name, annotation] of declared) {
    const simple = annotation !== undefined ? SIMPLE_ANNOTATIONS[annotation] : undefined;
    const type = inputs[name]!.type;
    if (simple !== undefined && !(type.kind === "simple" && type.simple === simple)) {
      throw new WorkflowError("INVALID_PYTHON_TASK", `${where}: parameter "${name}" is ${annotation}, but the input is declared ${describeType(type)}`, `declare the input as t.${simple}, or change the annotation`);
    }
  }
}
