// Resolution with uv when it is installed: `uv pip compile` for the target's platform and Python
// version, written as a PEP 751 lock file (pylock.toml), which names each package's wheels with
// URLs and hashes. uv resolves from metadata alone, so no wheel is fetched twice. Among the
// wheels listed for a package the best one for the target is chosen with the same tag order pip
// uses.
import { readFile, writeFile } from "node:fs/promises";
import { join, resolve as resolvePath } from "node:path";
import { pathToFileURL } from "node:url";
import { parse as parseToml } from "smol-toml";
import { splitArguments } from "./arguments.js";
import { PythonError } from "./errors.js";
import { runTool } from "./process.js";
import { errorLines, filenameOf, indexUrlsOf, noWheelForTarget, requirementName, unreachableIndex, withoutCredentials, type ResolverRun } from "./resolver.js";
import type { ResolvedWheel } from "./resolution.js";
import { describeTarget, wheelArchitecture, wheelRank, type PythonTarget, DEFAULT_GLIBC } from "./tags.js";
import { normalizeProjectName } from "./wheel-filename.js";

/** Variables through which uv would pick up an index the spec does not name. */
const UV_INDEX_VARIABLES = ["UV_INDEX", "UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS", "UV_CONFIG_FILE"];

/** uv's `--python-platform` for the target: `aarch64-manylinux_2_36`, `x86_64-unknown-linux-musl`. */
export function uvPythonPlatform(target: PythonTarget): string {
  const arch = wheelArchitecture(target.platform);
  const libc = target.libc ?? DEFAULT_GLIBC;
  if (libc.family === "musl") return `${arch}-unknown-linux-musl`;
  return `${arch}-manylinux_${libc.version.trim().replace(".", "_")}`;
}

export function uvResolveArgs(run: Pick<ResolverRun, "requirements" | "target" | "workDir" | "inheritConfig">, inputFile: string): string[] {
  const { requirements } = run;
  return [
    "pip",
    "compile",
    inputFile,
    "--output-file",
    join(run.workDir, "pylock.toml"),
    "--python-version",
    run.target.pythonVersion.trim(),
    "--python-platform",
    uvPythonPlatform(run.target),
    "--only-binary",
    ":all:",
    "--no-header",
    "--quiet",
    ...(run.inheritConfig ? [] : ["--no-config"]),
    ...(requirements.indexUrl ? ["--index-url", requirements.indexUrl] : []),
    ...(requirements.extraIndexUrls ?? []).flatMap((url) => ["--extra-index-url", url]),
    ...(requirements.extraArgs ? splitArguments(requirements.extraArgs) : []),
  ];
}

export async function resolveWithUv(uv: string, run: ResolverRun): Promise<ResolvedWheel[]> {
  // uv compiles files, so the packages and the requirements file become one input file.
  const inputFile = join(run.workDir, "requirements.in");
  const lines = [...run.requirements.packages];
  if (run.requirements.requirementsFile) lines.push(`-r ${resolvePath(run.requirements.requirementsFile)}`);
  await writeFile(inputFile, `${lines.join("\n")}\n`);
  const env = { ...run.env };
  if (!run.inheritConfig) for (const name of UV_INDEX_VARIABLES) delete env[name];

  let result;
  try {
    result = await runTool(uv, uvResolveArgs(run, inputFile), { env, timeoutMs: run.timeoutMs, signal: run.signal });
  } catch (error) {
    if (run.signal?.aborted) throw error;
    throw new PythonError("PYTHON_TOOL_MISSING", `cannot run ${uv}: ${(error as Error).message}`, { cause: error });
  }
  if (result.timedOut) throw new PythonError("PYTHON_RESOLUTION_FAILED", "uv did not finish resolving in time", { hint: "check that the package index is reachable" });
  if (result.code !== 0) throw uvFailure(result.stderr, run);
  const lockPath = join(run.workDir, "pylock.toml");
  return parsePylock(await readFile(lockPath, "utf8"), run.target, run.workDir);
}

interface PylockWheel {
  name?: string;
  url?: string;
  path?: string;
  hashes?: Record<string, string>;
}

interface PylockPackage {
  name?: string;
  version?: string;
  wheels?: PylockWheel[];
  sdist?: unknown;
  directory?: unknown;
  vcs?: unknown;
}

/** The best wheel of every package in a pylock.toml, for the target. */
export function parsePylock(text: string, target: PythonTarget, lockDir: string): ResolvedWheel[] {
  let lock: { packages?: PylockPackage[] };
  try {
    lock = parseToml(text) as typeof lock;
  } catch (error) {
    throw new PythonError("PYTHON_RESOLUTION_FAILED", `uv wrote a pylock.toml that cannot be read: ${(error as Error).message}`, { cause: error });
  }
  return (lock.packages ?? []).map((pkg) => {
    const name = normalizeProjectName(String(pkg.name ?? ""));
    const version = String(pkg.version ?? "");
    if (!name || !version) throw new PythonError("PYTHON_RESOLUTION_FAILED", `pylock.toml lists a package without name or version: ${JSON.stringify(pkg).slice(0, 200)}`);
    let best: { wheel: PylockWheel; url: string; filename: string; rank: number } | undefined;
    for (const wheel of pkg.wheels ?? []) {
      const url = wheel.url !== undefined ? withoutCredentials(wheel.url) : wheel.path !== undefined ? pathToFileURL(resolvePath(lockDir, wheel.path)).toString() : undefined;
      if (url === undefined) continue;
      const filename = wheel.name ?? filenameOf(url);
      const rank = wheelRank(filename, target);
      if (rank !== undefined && (best === undefined || rank < best.rank)) best = { wheel, url, filename, rank };
    }
    if (best === undefined) {
      throw noWheelForTarget(name, target, `  pylock.toml lists ${pkg.wheels?.length ?? 0} wheel(s) of ${name} ${version}, none for this target`);
    }
    return { name, version, url: best.url, sha256: best.wheel.hashes?.sha256?.toLowerCase(), filename: best.filename };
  });
}

// uv explains a failed resolution as "Because <package> ... we can conclude ..." lines.
const UV_CULPRIT = /Because (?:only |all versions of |there (?:is|are) no versions of )?([A-Za-z0-9][A-Za-z0-9._-]*)/;

function uvFailure(stderr: string, run: Pick<ResolverRun, "requirements" | "target">): PythonError {
  const { target } = run;
  const unreachable = unreachableIndex("uv", stderr, indexUrlsOf(run.requirements), target);
  if (unreachable) return unreachable;
  const culprit = /No solution found/.test(stderr) ? UV_CULPRIT.exec(stderr)?.[1] : undefined;
  if (culprit !== undefined) return noWheelForTarget(requirementName(culprit), target, stderr);
  return new PythonError("PYTHON_RESOLUTION_FAILED", `uv could not resolve the Python packages for ${describeTarget(target)}:\n${errorLines(stderr)}`, {
    hint: "check the package names and version constraints",
  });
}
