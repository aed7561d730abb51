// Cache keys of the build steps: each a sha256 over exactly what decides the step's layer bytes,
// so an equal key means an equal layer and the step can be skipped. Host paths, times of day and
// the order inputs were written in are never part of a key.
import { sha256 } from "../oci/index.js";
import { PYTHON_LAYER_LAYOUT_VERSION, SCHEME_KEYS, type InstallTarget } from "../python/index.js";
import { base32 } from "../spec/base32.js";
import { digestHex } from "./cache-dir.js";

/** Bump when a step's output changes for the same inputs (layer ordering, records, history text). */
export const STEP_CACHE_VERSION = 1;

/** What decides the compressed bytes of any layer: the compressor (Compressor.id) and the entries' mtime. */
export interface LayerIdentity {
  readonly compressor: string;
  readonly epoch: number;
}

export interface PythonStepKeyInput extends LayerIdentity {
  /** `resolutionKey(...)` of src/python: requirements (file by content), packages, indexes, extra args, platform tags, Python, ABI. */
  readonly resolutionKey: string;
  /** Where the wheels are installed and which interpreter the scripts name. */
  readonly target: InstallTarget;
  /** Wheels above this size get a layer of their own. */
  readonly largeWheelBytes: number;
}

/**
 * The key of a whole Python step, known before anything is resolved or downloaded. The base image
 * is deliberately not in it (only the install target found in it), so a base bump that keeps the
 * interpreter where it was still reuses the step.
 */
export function pythonStepKey(input: PythonStepKeyInput): string {
  return keyOf({
    step: "python",
    resolution: input.resolutionKey,
    scheme: Object.fromEntries(SCHEME_KEYS.map((k) => [k, input.target.scheme[k]])),
    interpreter: input.target.interpreter,
    layout: PYTHON_LAYER_LAYOUT_VERSION,
    largeWheelBytes: input.largeWheelBytes,
    compressor: input.compressor,
    epoch: input.epoch,
  });
}

/** The key of one wheel layer: `wheelLayerCacheKey` (wheel digests, scheme, interpreter, layout) plus the layer identity. */
export function wheelLayerKey(groupKey: string, identity: LayerIdentity): string {
  return keyOf({ step: "wheels", group: groupKey, compressor: identity.compressor, epoch: identity.epoch });
}

/** The key of the files layer: the tree as it lands in the image (`treeDigest`), the workdir and the layer identity. */
export function filesLayerKey(treeDigest: string, workdir: string, identity: LayerIdentity): string {
  return keyOf({ step: "files", tree: treeDigest, workdir, compressor: identity.compressor, epoch: identity.epoch });
}

export interface AptStepKeyInput extends LayerIdentity {
  /** The base's layer digests, bottom first: the layer carries a copy of the base's dpkg status and is laid out through its symlinks. */
  readonly baseLayers: readonly string[];
  /** The resolved packages: name, version, architecture and the .deb's sha256. */
  readonly packages: readonly { readonly name: string; readonly version: string; readonly architecture: string; readonly sha256: string }[];
  /** `APT_LAYER_LAYOUT_VERSION` of src/apt. */
  readonly layout: number;
}

/**
 * The key of the apt layer of one platform, known once the packages are resolved (the signed
 * indexes decide them) and before any .deb is downloaded. Requests and mirrors are not in it: the
 * same packages on the same base make the same layer, whatever asked for them or served them.
 */
export function aptStepKey(input: AptStepKeyInput): string {
  const packages = input.packages
    .map((p) => ({ name: p.name, version: p.version, architecture: p.architecture, sha256: p.sha256 }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.architecture < b.architecture ? -1 : a.architecture > b.architecture ? 1 : 0));
  return keyOf({ step: "apt", base: [...input.baseLayers], packages, layout: input.layout, compressor: input.compressor, epoch: input.epoch });
}

export interface BasePythonKeyInput {
  /** The base's layer digests, bottom first: they decide its file system. */
  readonly layers: readonly string[];
  /** The base config's Env: PATH and VIRTUAL_ENV decide which interpreter is found. */
  readonly env: readonly string[];
  /** The spec's pythonVersion, which picks among several interpreters. */
  readonly pythonVersion: string | undefined;
}

/** The key of the interpreter discovered in a base (bump STEP_CACHE_VERSION when discovery changes). */
export function basePythonKey(input: BasePythonKeyInput): string {
  return keyOf({ step: "base-python", layers: [...input.layers], env: [...input.env], pythonVersion: input.pythonVersion ?? null });
}

function keyOf(inputs: Record<string, unknown>): string {
  return sha256(JSON.stringify({ version: STEP_CACHE_VERSION, ...inputs }));
}

/** Tags of step-cache artifacts start with this, so they are recognisable (and easy to exclude from lifecycle rules). */
export const CACHE_TAG_PREFIX = "imagespec-cache-";

/** `imagespec-cache-<26 base32 characters>` (130 bits of the key): a valid tag on every registry. */
export function cacheTag(key: string): string {
  return `${CACHE_TAG_PREFIX}${base32(Buffer.from(digestHex(key), "hex")).slice(0, 26)}`;
}
