// What a resolution is (the pinned wheels for one target), the key that identifies its inputs,
// and the on-disk cache that lets the same inputs skip the resolver entirely.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeJsonRecord } from "../json-record.js";
import { sha256 } from "../oci/index.js";
import { parseRequirement } from "../spec/index.js";
import { normalizeProjectName } from "./wheel-filename.js";
import { cpythonAbi, platformTags, type PythonTarget } from "./tags.js";

export interface ResolvedWheel {
  /** PEP 503 normalised project name. */
  readonly name: string;
  readonly version: string;
  /** Where to fetch the wheel (credentials removed; see download.ts for how they come back). */
  readonly url: string;
  /** Hex sha256 as the index published it; undefined when the index gave none. */
  readonly sha256: string | undefined;
  readonly filename: string;
}

/** The Python inputs of a spec: `packages`, the requirements file and the pip options. */
export interface PythonRequirements {
  readonly packages: readonly string[];
  /** Host path of a requirements file (its content is part of the key, its path is not). */
  readonly requirementsFile?: string;
  readonly indexUrl?: string;
  readonly extraIndexUrls?: readonly string[];
  /** Extra resolver arguments as one string, split like shell words. */
  readonly extraArgs?: string;
}

/** A resolver (imagespec's own, "native", or pip/uv), or the lock file whose locked set was taken as it is. */
export type ResolverName = "native" | "pip" | "uv" | "uv.lock" | "poetry.lock";

export interface Resolution {
  /** `sha256:<hex>` over the inputs; names the cache entry. */
  readonly key: string;
  readonly wheels: readonly ResolvedWheel[];
  readonly resolver: ResolverName;
  readonly fromCache: boolean;
}

/** Bump when the meaning of a cached resolution changes, so old entries are not read. */
export const RESOLUTION_FORMAT = 2;

/**
 * A requirement as the key sees it: `Requests[Socks , security]>= 2.0` and `requests[security,socks]>=2.0`
 * resolve alike, so they share a cache entry. What does not parse is kept as written.
 */
export function normalizedRequirement(text: string): string {
  try {
    const r = parseRequirement(text);
    const extras = [...new Set(r.extras.map(normalizeProjectName))].sort();
    const specifiers = r.specifiers.map((s) => `${s.operator}${s.version}`).sort();
    return `${normalizeProjectName(r.name)}${extras.length > 0 ? `[${extras.join(",")}]` : ""}${r.url !== undefined ? ` @ ${r.url}` : specifiers.join(",")}${r.marker !== undefined ? ` ; ${r.marker}` : ""}`;
  } catch {
    return text.trim();
  }
}

/**
 * Everything that can change the outcome: the requirements (normalised; the file by content), the indexes,
 * the extra arguments, the target's tags, Python version and ABI, and any resolver settings
 * taken from the environment. Packages are sorted: their order does not change what resolves.
 */
export function resolutionKey(
  requirements: PythonRequirements,
  requirementsContent: string | undefined,
  target: PythonTarget,
  environment: Readonly<Record<string, string>> = {},
): string {
  const inputs = {
    format: RESOLUTION_FORMAT,
    packages: requirements.packages.map(normalizedRequirement).sort(),
    requirements: requirementsContent ?? null,
    indexUrl: requirements.indexUrl ?? null,
    extraIndexUrls: [...(requirements.extraIndexUrls ?? [])],
    extraArgs: requirements.extraArgs ?? "",
    platforms: platformTags(target),
    pythonVersion: target.pythonVersion.trim(),
    implementation: "cp",
    abi: cpythonAbi(target),
    environment: Object.fromEntries(Object.entries(environment).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
  };
  return sha256(JSON.stringify(inputs));
}

interface CachedResolution {
  format: number;
  key: string;
  resolver: ResolverName;
  wheels: ResolvedWheel[];
}

export function resolutionCachePath(cacheDir: string, key: string): string {
  return join(cacheDir, "resolutions", "python", `${key.replace(/^sha256:/, "")}.json`);
}

/** The cached resolution for a key; undefined when absent, unreadable or of another format. */
export async function readCachedResolution(cacheDir: string, key: string): Promise<Omit<Resolution, "fromCache"> | undefined> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(resolutionCachePath(cacheDir, key), "utf8"));
  } catch {
    return undefined;
  }
  const cached = parsed as Partial<CachedResolution>;
  if (cached.format !== RESOLUTION_FORMAT || cached.key !== key || !Array.isArray(cached.wheels)) return undefined;
  if (cached.resolver !== "native" && cached.resolver !== "pip" && cached.resolver !== "uv") return undefined;
  const valid = cached.wheels.every(
    (w) => typeof w.name === "string" && typeof w.version === "string" && typeof w.url === "string" && typeof w.filename === "string" && (w.sha256 === undefined || typeof w.sha256 === "string"),
  );
  return valid ? { key, resolver: cached.resolver, wheels: cached.wheels } : undefined;
}

/** Written to a temp name and renamed, so a reader never sees half a file. */
export async function writeCachedResolution(cacheDir: string, resolution: Omit<Resolution, "fromCache">): Promise<void> {
  const body: CachedResolution = { format: RESOLUTION_FORMAT, key: resolution.key, resolver: resolution.resolver, wheels: [...resolution.wheels] };
  await writeJsonRecord(resolutionCachePath(cacheDir, resolution.key), body);
}
