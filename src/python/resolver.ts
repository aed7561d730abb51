// What a resolver (pip or uv) is given, and the pieces both share: URLs made safe to store,
// wheel names taken from URLs, and the error for a package with no wheel for the target.
import { PythonError } from "./errors.js";
import type { PythonRequirements } from "./resolution.js";
import { describeTarget, type PythonTarget } from "./tags.js";

export interface ResolverRun {
  readonly requirements: PythonRequirements;
  readonly target: PythonTarget;
  /** An empty directory the resolver may use. */
  readonly workDir: string;
  readonly env: NodeJS.ProcessEnv;
  /** Use the host's resolver configuration (pip.conf, PIP_* variables) instead of ignoring it. */
  readonly inheritConfig: boolean;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** Credentials and fragment removed: what is stored in the resolution cache. */
export function withoutCredentials(url: string): string {
  const parsed = new URL(url);
  parsed.username = "";
  parsed.password = "";
  parsed.hash = "";
  return parsed.toString();
}

export function filenameOf(url: string): string {
  const path = new URL(url).pathname;
  return decodeURIComponent(path.slice(path.lastIndexOf("/") + 1));
}

/** The project name at the start of a requirement (`numpy>=2` -> `numpy`). */
export function requirementName(requirement: string): string {
  return /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?/.exec(requirement.trim())?.[0] ?? requirement;
}

export function noWheelForTarget(name: string, target: PythonTarget, output: string): PythonError {
  return new PythonError(
    "PYTHON_NO_WHEEL_FOR_TARGET",
    `no installable wheel of ${JSON.stringify(name)} for ${describeTarget(target)}:\n${errorLines(output)}`,
    {
      hint:
        `check that ${name} exists on the index and that the version constraint can be met; if it publishes only source ` +
        "distributions or no wheel for this platform, use the Dockerfile builder (builder: buildah or docker), which runs pip inside the image and can compile",
    },
  );
}

/** The lines that say why, with any credentials in URLs removed. */
export function errorLines(output: string): string {
  const lines = output.split(/\r?\n/).filter((l) => l.trim() !== "");
  const errors = lines.filter((l) => /^(ERROR|error|\s*×|\s*╰─▶|\s*Because|\s*And because)/.test(l));
  const shown = (errors.length > 0 ? errors : lines.slice(-20)).map((l) => `  ${l.trim()}`);
  return shown.join("\n").replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi, "$1***@");
}
