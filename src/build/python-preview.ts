// What `build --dry-run` can say about the Python step without running a resolver or reading the
// base: with the interpreter the last build found in this base and a cached resolution for these
// inputs, which wheel goes into which layer; otherwise only that resolution is still to come.
import { stat } from "node:fs/promises";
import { formatPlatform, type Platform } from "../oci/index.js";
import {
  planWheelLayers,
  readRequirementsFile,
  readCachedResolution,
  resolutionKey,
  wheelCachePath,
  type LayerWheel,
  type PythonRequirements,
  type PythonTarget,
} from "../python/index.js";
import { recallBasePython, type BasePython } from "./base-python.js";

export interface PreviewLayer {
  readonly kind: "large" | "shared";
  readonly size: number;
  readonly wheels: readonly string[];
}

export type PythonPreview =
  /** The base's Python has not been seen on this machine yet. */
  | { readonly platform: string; readonly status: "unknown" }
  | { readonly platform: string; readonly status: "unresolved"; readonly python: BasePython }
  /** `layers` is there when every wheel is in the wheel cache (their sizes decide the grouping). */
  | { readonly platform: string; readonly status: "resolved"; readonly python: BasePython; readonly wheels: readonly string[]; readonly layers?: readonly PreviewLayer[] };

export async function previewPython(
  requirements: PythonRequirements,
  platforms: readonly Platform[],
  baseReference: string | undefined,
  cacheDir: string,
): Promise<PythonPreview[]> {
  const content = requirements.requirementsFile === undefined ? undefined : await readRequirementsFile(requirements.requirementsFile).catch(() => undefined);
  return Promise.all(
    platforms.map(async (platform): Promise<PythonPreview> => {
      const name = formatPlatform(platform);
      const python = baseReference === undefined ? undefined : await recallBasePython(cacheDir, baseReference, platform);
      if (python === undefined) return { platform: name, status: "unknown" };
      const target: PythonTarget = { platform, pythonVersion: python.version, ...(python.libc ? { libc: python.libc } : {}) };
      const resolution = await readCachedResolution(cacheDir, resolutionKey(requirements, content, target));
      if (resolution === undefined) return { platform: name, status: "unresolved", python };
      const wheels = resolution.wheels.map((w) => w.filename);
      const sized = await Promise.all(resolution.wheels.map((w) => cachedWheel(cacheDir, w.filename, w.sha256)));
      if (sized.some((w) => w === undefined)) return { platform: name, status: "resolved", python, wheels };
      const layers = planWheelLayers(sized as LayerWheel[]).groups.map((g) => ({ kind: g.kind, size: g.size, wheels: g.wheels.map((w) => w.filename) }));
      return { platform: name, status: "resolved", python, wheels, layers };
    }),
  );
}

async function cachedWheel(cacheDir: string, filename: string, sha256: string | undefined): Promise<LayerWheel | undefined> {
  if (sha256 === undefined) return undefined;
  try {
    return { filename, sha256, size: (await stat(wheelCachePath(cacheDir, sha256))).size };
  } catch {
    return undefined;
  }
}
