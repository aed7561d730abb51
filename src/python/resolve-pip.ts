// Resolution with pip: `pip install --dry-run --ignore-installed --report` told to pretend it
// installs for the target (platform tags, Python version, ABI) and to take wheels only. pip
// runs isolated from the host's pip configuration unless asked, so the result depends on the
// spec and not on whose laptop ran the build.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { splitArguments } from "./arguments.js";
import { PythonError, redactUrl } from "./errors.js";
import { runTool } from "./process.js";
import type { ResolvedWheel } from "./resolution.js";
import { errorLines, filenameOf, indexUrlsOf, noWheelForTarget, requirementName, unreachableIndex, withoutCredentials, type ResolverRun } from "./resolver.js";
import { describeTarget, pipTargetArgs, type PythonTarget } from "./tags.js";
import { normalizeProjectName } from "./wheel-filename.js";

/** The pip command line for a resolution (without the interpreter). */
export function pipResolveArgs(run: Pick<ResolverRun, "requirements" | "target" | "workDir" | "inheritConfig">): string[] {
  const { requirements } = run;
  return [
    "-m",
    "pip",
    "install",
    ...(run.inheritConfig ? [] : ["--isolated"]),
    "--dry-run",
    "--ignore-installed",
    "--report",
    join(run.workDir, "report.json"),
    "--only-binary=:all:",
    ...pipTargetArgs(run.target),
    "--target",
    join(run.workDir, "target"),
    "--disable-pip-version-check",
    "--no-input",
    "--progress-bar",
    "off",
    ...(requirements.indexUrl ? ["--index-url", requirements.indexUrl] : []),
    ...(requirements.extraIndexUrls ?? []).flatMap((url) => ["--extra-index-url", url]),
    ...(requirements.extraArgs ? splitArguments(requirements.extraArgs) : []),
    ...(requirements.requirementsFile ? ["-r", requirements.requirementsFile] : []),
    ...(requirements.packages.length > 0 ? ["--", ...requirements.packages] : []),
  ];
}

export async function resolveWithPip(python: string, run: ResolverRun): Promise<ResolvedWheel[]> {
  const env = run.inheritConfig ? run.env : { ...run.env, PIP_CONFIG_FILE: "/dev/null" };
  let result;
  try {
    result = await runTool(python, pipResolveArgs(run), { env, timeoutMs: run.timeoutMs, signal: run.signal });
  } catch (error) {
    if (run.signal?.aborted) throw error;
    throw new PythonError("PYTHON_TOOL_MISSING", `cannot run ${python} to resolve Python packages: ${(error as Error).message}`, {
      hint: "install python3 with pip (22.2 or newer), or uv, on the machine that builds; or use the Dockerfile builder (builder: docker or buildah)",
      cause: error,
    });
  }
  if (result.timedOut) {
    throw new PythonError("PYTHON_RESOLUTION_FAILED", `pip did not finish resolving within ${Math.round((run.timeoutMs ?? 0) / 1000)} s`, {
      hint: "check that the package index is reachable from this machine",
    });
  }
  if (result.code !== 0) throw pipFailure(result.stderr, result.stdout, python, run);
  let report: unknown;
  try {
    report = JSON.parse(await readFile(join(run.workDir, "report.json"), "utf8"));
  } catch (error) {
    throw new PythonError("PYTHON_RESOLUTION_FAILED", `pip succeeded but wrote no readable --report: ${(error as Error).message}`, {
      hint: "pip 22.2 or newer is needed; upgrade it with python3 -m pip install -U pip",
      cause: error,
    });
  }
  return parsePipReport(report, run.target);
}

/** The wheels in a pip installation report (format version 1). */
export function parsePipReport(report: unknown, target: PythonTarget): ResolvedWheel[] {
  const items = (report as { install?: unknown }).install;
  if (!Array.isArray(items)) throw new PythonError("PYTHON_RESOLUTION_FAILED", "pip's --report has no install list");
  return items.map((item: PipReportItem) => {
    const name = normalizeProjectName(String(item.metadata?.name ?? ""));
    const version = String(item.metadata?.version ?? "");
    const info = item.download_info;
    if (!name || !version || typeof info?.url !== "string") {
      throw new PythonError("PYTHON_RESOLUTION_FAILED", `pip's --report lists an install item without name, version or URL: ${JSON.stringify(item).slice(0, 200)}`);
    }
    if (info.archive_info === undefined) {
      throw new PythonError("PYTHON_NO_WHEEL_FOR_TARGET", `${name} resolves to ${redactUrl(info.url)}, a ${info.vcs_info ? "version-control checkout" : "local directory"}, not a wheel`, {
        hint: `the native builder installs wheels only (${describeTarget(target)}); build a wheel for it, or use the Dockerfile builder (builder: buildah or docker)`,
      });
    }
    const hashes = info.archive_info.hashes ?? {};
    const legacy = /^sha256=([0-9a-f]{64})$/i.exec(info.archive_info.hash ?? "")?.[1];
    const url = withoutCredentials(info.url);
    return { name, version, url, sha256: (hashes.sha256 ?? legacy)?.toLowerCase(), filename: filenameOf(url) };
  });
}

interface PipReportItem {
  metadata?: { name?: unknown; version?: unknown };
  download_info?: { url?: unknown; archive_info?: { hash?: string; hashes?: Record<string, string> }; vcs_info?: unknown; dir_info?: unknown };
}

const NO_DISTRIBUTION = /No matching distribution found for (\S+)/;
const NO_VERSION = /Could not find a version that satisfies the requirement (\S+)/;

function pipFailure(stderr: string, stdout: string, python: string, run: Pick<ResolverRun, "requirements" | "target">): PythonError {
  const { target, requirements } = run;
  // Checked first: an unreachable index also ends in "No matching distribution found".
  const unreachable = unreachableIndex("pip", stderr, indexUrlsOf(requirements), target);
  if (unreachable) return unreachable;
  const missing = NO_DISTRIBUTION.exec(stderr)?.[1] ?? NO_VERSION.exec(stderr)?.[1];
  if (missing !== undefined) return noWheelForTarget(requirementName(missing), target, stderr);
  if (/No module named pip/.test(stderr)) {
    return new PythonError("PYTHON_TOOL_MISSING", `${python} has no pip module, which resolves Python packages`, {
      hint: `install it (${python} -m ensurepip, or apt-get install python3-pip), or install uv`,
    });
  }
  if (/no such option: --(report|dry-run)/.test(stderr)) {
    return new PythonError("PYTHON_TOOL_MISSING", "the pip on this machine is too old to resolve without installing (it lacks --dry-run --report)", {
      hint: `upgrade it to 22.2 or newer: ${python} -m pip install -U pip`,
    });
  }
  return new PythonError("PYTHON_RESOLUTION_FAILED", `pip could not resolve the Python packages for ${describeTarget(target)}:\n${errorLines(stderr || stdout)}`, {
    hint: "check the package names and version constraints; conflicting pins are listed above",
  });
}

