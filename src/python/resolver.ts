// What a resolver (pip or uv) is given, and the pieces both share: URLs made safe to store,
// wheel names taken from URLs, and the error for a package with no wheel for the target.
import { redactSecrets } from "../reference/redact.js";
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

/** The index URLs a resolution uses, as given (redact before showing). */
export function indexUrlsOf(requirements: PythonRequirements): string[] {
  return [requirements.indexUrl, ...(requirements.extraIndexUrls ?? [])].filter((u): u is string => u !== undefined);
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
  return redactSecrets(shown.join("\n"));
}

// What pip (urllib3) and uv (reqwest) print when an index cannot be reached at all: refused, reset,
// timed out, unknown host, TLS or proxy failure. Then "no matching distribution" only means "no answer".
const CONNECTION_PROBLEM =
  /NewConnectionError|Failed to establish a new connection|Max retries exceeded|Connect(?:ion)?TimeoutError|ReadTimeoutError|ProtocolError|RemoteDisconnected|SSLError|ProxyError|Name or service not known|nodename nor servname|Temporary failure in name resolution|Could not fetch URL|Connection refused|Connection reset|error sending request|dns error|tcp connect error|client error \(Connect\)|certificate verify failed/i;
/** At most this many of the resolver's connection lines are kept (pip prints one per retry). */
const SHOWN_CONNECTION_LINES = 8;

/**
 * The error for an index that could not be reached, with the resolver's own connection lines
 * (redacted); undefined when the output shows no connection problem.
 */
export function unreachableIndex(tool: "pip" | "uv", output: string, indexUrls: readonly string[], target: PythonTarget): PythonError | undefined {
  const lines = output.split(/\r?\n/).filter((l) => CONNECTION_PROBLEM.test(l));
  if (lines.length === 0) return undefined;
  const shown = [...new Set(lines.map((l) => `  ${l.trim()}`))].slice(0, SHOWN_CONNECTION_LINES);
  const where = indexUrls.length > 0 ? indexUrls.map((u) => redactSecrets(u)).join(", ") : "the default index (https://pypi.org/simple)";
  return new PythonError("PYTHON_INDEX_UNREACHABLE", `${tool} could not reach the package index ${where} while resolving for ${describeTarget(target)}:\n${redactSecrets(shown.join("\n"))}`, {
    hint: "check the index URL (pip_index, pip_extra_index_url) and that this machine can reach it: network, proxy (HTTPS_PROXY), TLS certificates; the packages were not looked up",
  });
}
