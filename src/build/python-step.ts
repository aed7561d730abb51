// The Python step for one platform. First the base image's interpreter and install scheme:
// from its layer listings (cached per layer on this machine), or, when those would have to be
// downloaded and the image goes to a registry, from the `base-python` entry an earlier build left
// there. Then the layers holding the resolved wheels, cheapest source first:
//
//   1. the local step record (same key: same inputs)         -> the layer files on this disk
//   2. the step-cache artifact in the target repository      -> layers already in the registry
//   3. resolve (cached by inputs), download (cached by hash), then per layer group either the
//      locally cached layer (same wheels) or a freshly written one, two groups at a time
//
// The key of 1 and 2 is computed before resolution from the resolution inputs, the install target
// and the layer identity, so a hit costs no resolver run and no download. `refresh` skips 1, 2 and
// the registry's base-python entry, and re-resolves; the per-group layer cache of 3 still applies
// (same wheels, same bytes).
import { basename, join } from "node:path";
import { pipeline, Transform } from "node:stream";
import { mapLimited } from "../concurrency.js";
import { layerFromTarStream, tarStream, type FileLayer, type LayerWriteOptions } from "../layer/index.js";
import { formatPlatform, type Blob, type ImageConfig, type Platform } from "../oci/index.js";
import {
  DEFAULT_LARGE_WHEEL_BYTES,
  discoverPython,
  downloadWheels,
  parseWheelFilename,
  planWheelLayers,
  indexUrlsOf,
  readRequirementsFile,
  resolutionKey,
  resolveRequirements,
  wheelGroupEntries,
  wheelLayerCacheKey,
  type DiscoveredPython,
  type DownloadedWheel,
  type DownloadProgress,
  type PythonRequirements,
  type PythonTarget,
  type WheelLayerGroup,
} from "../python/index.js";
import { baseListingCached, readBaseListing } from "./base-listing.js";
import { basePythonCodec, rememberBasePython, type BasePythonFacts } from "./base-python.js";
import { pythonCodec, type PythonStepLayer, type PythonStepRecord, type StepCacheLookup } from "./python-record.js";
import { StepCache, type RegistryCache } from "./steps/cache.js";
import { cachedLayerOf } from "./steps/cached-layer.js";
import { readLayerRecord, writeLayerRecord } from "./steps/layer-record.js";
import { basePythonKey, pythonStepKey, wheelLayerKey, type LayerIdentity } from "./step-keys.js";

export interface PythonStepOptions {
  readonly requirements: PythonRequirements;
  readonly platform: Platform;
  readonly base: { readonly config: ImageConfig | undefined; readonly layers: readonly Blob[]; readonly reference?: string };
  /** The spec's pythonVersion: the interpreter must be this version. */
  readonly pythonVersion?: string;
  readonly cacheDir: string;
  readonly compression: LayerWriteOptions;
  readonly identity: LayerIdentity;
  readonly refresh?: boolean;
  readonly largeWheelBytes?: number;
  /** What the step is doing while it builds the layers (resolution, each download, each layer written). */
  readonly onProgress?: (progress: PythonStepProgress) => void;
  /** The repository the image is pushed to, whose step cache is read before resolving. */
  readonly registryCache?: RegistryCache;
  readonly signal?: AbortSignal;
}

export type PythonStepSource = "local-cache" | "registry-cache" | "built";

/**
 * The long part of a cold Python step, as it happens: resolution, the wheel transfers (counts and
 * bytes over all wheels; `wheel` is the one that just moved), then each layer being written (`read`:
 * uncompressed bytes fed to the compressor so far).
 */
export type PythonStepProgress =
  | { readonly phase: "resolving"; readonly packages: readonly string[]; readonly requirementsFile?: string }
  | { readonly phase: "resolved"; readonly wheels: number; readonly fromCache: boolean }
  | {
      readonly phase: "downloading";
      readonly wheels: number;
      /** Wheels finished, of which `cached` were already on disk. */
      readonly done: number;
      readonly cached: number;
      readonly bytes: number;
      /** Sum of the sizes known so far (servers that send no length leave it short). */
      readonly knownBytes: number;
      readonly wheel: DownloadProgress;
    }
  | { readonly phase: "layer"; readonly index: number; readonly layers: number; readonly wheels: number; readonly status: "compressing" | "written" | "cached"; readonly read: number; readonly size?: number };

export interface PythonStepResult {
  readonly python: DiscoveredPython;
  readonly target: PythonTarget;
  readonly source: PythonStepSource;
  readonly record: PythonStepRecord;
  /** The layers, in record order. */
  readonly layers: readonly Blob[];
  /** What the registry's step cache answered, when it was asked. */
  readonly registryLookup?: StepCacheLookup;
  /** How the interpreter was found; `layers` means the base layers were read, and `learned` is worth storing in the registry. */
  readonly discoveredFrom: "listing-cache" | "layers" | "registry-cache";
  readonly learned?: { readonly key: string; readonly facts: BasePythonFacts };
  /** Problems that did not stop the step (an unreadable registry entry). */
  readonly warnings: readonly string[];
  /** Whether pip/uv ran (false when its answer came from a cache). */
  readonly resolved: boolean;
}

export async function runPythonStep(options: PythonStepOptions): Promise<PythonStepResult> {
  const { cacheDir, platform, requirements } = options;
  const warnings: string[] = [];
  const found = await findBasePython(options, warnings);
  const { python } = found;
  const target: PythonTarget = { platform, pythonVersion: targetVersion(python.version, options.pythonVersion), ...(found.libc ? { libc: found.libc } : {}) };
  if (options.base.reference !== undefined) {
    await rememberBasePython(cacheDir, options.base.reference, platform, {
      version: target.pythonVersion,
      interpreter: python.interpreter,
      ...(found.libc ? { libc: found.libc } : {}),
    });
  }
  const largeWheelBytes = options.largeWheelBytes ?? DEFAULT_LARGE_WHEEL_BYTES;
  const content = requirements.requirementsFile === undefined ? undefined : await readRequirementsFile(requirements.requirementsFile);
  const key = pythonStepKey({ resolutionKey: resolutionKey(requirements, content, target), target: python, largeWheelBytes, ...options.identity });
  let resolved = false;
  const step = await new StepCache(pythonCodec, options).run(
    key,
    async () => {
      const built = await buildPythonLayers(options, { key, python, target, largeWheelBytes }, warnings);
      resolved = built.resolved;
      return built;
    },
    (message) => warnings.push(message),
  );
  return {
    python,
    target,
    source: step.source,
    record: step.record,
    layers: step.layers,
    resolved,
    discoveredFrom: found.from,
    ...(found.learned ? { learned: found.learned } : {}),
    warnings,
    ...(step.registry ? { registryLookup: step.registry } : {}),
  };
}

/** A cold Python step: resolve (cached by inputs), download (cached by hash), then per layer group the cached layer or a new one. */
async function buildPythonLayers(
  options: PythonStepOptions,
  step: { key: string; python: DiscoveredPython; target: PythonTarget; largeWheelBytes: number },
  warnings: string[],
): Promise<{ record: PythonStepRecord; layers: Blob[]; resolved: boolean }> {
  const { cacheDir, platform, requirements } = options;
  const { key, python, target, largeWheelBytes } = step;
  const report = options.onProgress ?? (() => undefined);
  report({ phase: "resolving", packages: requirements.packages, ...(requirements.requirementsFile !== undefined ? { requirementsFile: basename(requirements.requirementsFile) } : {}) });
  const resolution = await resolveRequirements(requirements, target, { cacheDir, ...(options.refresh ? { refresh: true } : {}), ...(options.signal ? { signal: options.signal } : {}) });
  report({ phase: "resolved", wheels: resolution.wheels.length, fromCache: resolution.fromCache });
  const indexUrls = indexUrlsOf(requirements);
  const onDownload = downloadTally(resolution.wheels.length, report);
  const wheels = await downloadWheels(resolution.wheels, { cacheDir, indexUrls, onProgress: onDownload, warn: (message) => warnings.push(message), ...(options.signal ? { signal: options.signal } : {}) });
  const { groups } = planWheelLayers(wheels, { largeWheelBytes });
  // Two groups at a time: while one group's wheels are inflated, tarred and hashed on this thread,
  // the other's blocks keep the compressor's workers busy. The largest start first, so the last
  // one to finish is small. Results come back in group order: same layers, same record.
  const order = groups.map((_, index) => index).sort((a, b) => groups[b]!.size - groups[a]!.size || a - b);
  const made = new Array<{ layer: FileLayer; warnings: string[] }>(groups.length);
  await mapLimited(
    order,
    LAYERS_AT_ONCE,
    async (index) => {
      made[index] = await groupLayer(options, groups[index]!, { index: index + 1, layers: groups.length, python, report });
    },
    { signal: options.signal },
  );
  const layers: Blob[] = [];
  const recorded: PythonStepLayer[] = [];
  for (const [index, group] of groups.entries()) {
    const { layer, warnings: found } = made[index]!;
    // In group order, whichever finished first, so the warnings read the same on every run.
    warnings.push(...found);
    layers.push(layer);
    recorded.push({ ...cachedLayerOf(layer), kind: group.kind, wheels: group.wheels.map((w) => w.filename) });
  }
  const record: PythonStepRecord = {
    key,
    platform: formatPlatform(platform),
    python: { version: target.pythonVersion, interpreter: python.interpreter },
    wheels: wheels.map((w) => ({ filename: w.filename, sha256: w.sha256 })).sort((a, b) => (a.filename < b.filename ? -1 : a.filename > b.filename ? 1 : 0)),
    layers: recorded,
  };
  // A lock is taken as it is: no resolver ran.
  return { record, layers, resolved: !resolution.fromCache && (resolution.resolver === "native" || resolution.resolver === "pip" || resolution.resolver === "uv") };
}

/** Layer groups made at once; two keep both cores of a small machine busy (see buildPythonLayers). */
const LAYERS_AT_ONCE = 2;

/** One group's layer: the locally cached one (same wheels), or a new one written to the cache. */
async function groupLayer(
  options: PythonStepOptions,
  group: WheelLayerGroup<DownloadedWheel>,
  at: { index: number; layers: number; python: DiscoveredPython; report: (progress: PythonStepProgress) => void },
): Promise<{ layer: FileLayer; warnings: string[] }> {
  const { cacheDir } = options;
  const { python, report } = at;
  const warnings: string[] = [];
  const layerKey = wheelLayerKey(wheelLayerCacheKey(group.wheels, python), options.identity);
  const where = { phase: "layer", index: at.index, layers: at.layers, wheels: group.wheels.length } as const;
  const cached = await readLayerRecord(cacheDir, layerKey, (message) => warnings.push(message));
  if (cached !== undefined) {
    report({ ...where, status: "cached", read: 0, size: cached.descriptor.size });
    return { layer: cached, warnings };
  }
  const { entries } = await wheelGroupEntries(group.wheels, python);
  let read = 0;
  let reported = 0;
  report({ ...where, status: "compressing", read });
  const tar = tarStream(entries, { epoch: options.identity.epoch });
  const counted = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      read += chunk.length;
      // About every MiB: the tar comes in small chunks, and each report redraws a view.
      if (read - reported >= 1 << 20) {
        reported = read;
        report({ ...where, status: "compressing", read });
      }
      callback(null, chunk);
    },
  });
  // A failing tar destroys the counter with its error, which the compressor then sees.
  pipeline(tar, counted, () => undefined);
  const layer = await layerFromTarStream(counted, { cacheDir: join(cacheDir, "layers"), ...options.compression });
  await writeLayerRecord(cacheDir, layerKey, layer);
  report({ ...where, status: "written", read, size: layer.descriptor.size });
  return { layer, warnings };
}

/** Folds each wheel's transfer events into counts and bytes over all wheels. */
function downloadTally(total: number, report: (progress: PythonStepProgress) => void): (wheel: DownloadProgress) => void {
  const bytes = new Map<string, number>();
  const sizes = new Map<string, number>();
  let done = 0;
  let cached = 0;
  const sum = (map: Map<string, number>) => [...map.values()].reduce((a, b) => a + b, 0);
  return (wheel) => {
    if (wheel.kind === "done") {
      done++;
      if (wheel.fromCache) cached++;
      bytes.set(wheel.filename, wheel.size);
      sizes.set(wheel.filename, wheel.size);
    } else {
      bytes.set(wheel.filename, wheel.kind === "bytes" ? wheel.bytes : 0);
      if (wheel.kind === "bytes" && wheel.size !== undefined) sizes.set(wheel.filename, wheel.size);
    }
    report({ phase: "downloading", wheels: total, done, cached, bytes: sum(bytes), knownBytes: sum(sizes), wheel });
  };
}

interface FoundPython extends BasePythonFacts {
  readonly from: PythonStepResult["discoveredFrom"];
  readonly learned?: { readonly key: string; readonly facts: BasePythonFacts };
}

/** The base's interpreter: from cached listings, else the registry's base-python entry, else by reading the layers. */
async function findBasePython(options: PythonStepOptions, warnings: string[]): Promise<FoundPython> {
  const { base, cacheDir } = options;
  const env = base.config?.config?.Env ?? [];
  const key = basePythonKey({ layers: base.layers.map((l) => l.descriptor.digest), env, pythonVersion: options.pythonVersion });
  const listed = await baseListingCached(base.layers, { cacheDir });
  if (!listed) {
    const { hit } = await new StepCache(basePythonCodec, options).lookup(key, (message) => warnings.push(message));
    if (hit) return { ...hit.record, from: "registry-cache" };
  }
  const listing = await readBaseListing(base.layers, { cacheDir });
  const python = discoverPython(listing.paths, env, {
    ...(options.pythonVersion !== undefined ? { pythonVersion: options.pythonVersion } : {}),
    ...(base.reference !== undefined ? { image: base.reference } : {}),
  });
  const facts: BasePythonFacts = { python, ...(listing.libc ? { libc: listing.libc } : {}) };
  return listed ? { ...facts, from: "listing-cache" } : { ...facts, from: "layers", learned: { key, facts } };
}

/** `imagespec: python (shared) greet==1.0 helper==1.2`: the history line of a Python layer. */
export function pythonLayerHistory(layer: Pick<PythonStepLayer, "kind" | "wheels">): string {
  const names = layer.wheels.map((filename) => {
    const parsed = parseWheelFilename(filename);
    return `${parsed.project}==${parsed.version}`;
  });
  return `imagespec: python (${layer.kind}) ${names.join(" ")}`;
}

/** A patch level in the spec (3.11.7) is passed on to the resolver when it matches the interpreter's 3.11. */
function targetVersion(discovered: string, wanted: string | undefined): string {
  const trimmed = wanted?.trim();
  return trimmed !== undefined && /^\d+\.\d+\.\d+$/.test(trimmed) && trimmed.startsWith(`${discovered}.`) ? trimmed : discovered;
}

