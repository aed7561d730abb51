// How wheels are split into layers. A large wheel (torch, a CUDA runtime, numpy, pandas) gets a
// layer of its own, so it is built and pushed once and then shared by every image that needs it,
// whatever else those images install (the registry dedupes the blob, and a push to another
// repository mounts it); the small ones go together into one layer. Each group has a cache
// key over exactly what decides its bytes: the wheels' digests, the install scheme, the
// interpreter in the shebangs and the layout version of this code.
import type { LayerEntry } from "../layer/entries.js";
import { sha256 } from "../oci/index.js";
import { humanSize } from "../units.js";
import { installWheel, type InstalledWheel, type WheelFile } from "./install.js";
import { SCHEME_KEYS, type InstallTarget } from "./scheme.js";

/**
 * Wheels bigger than this (compressed, as downloaded) get a layer of their own. Low enough that
 * the packages two data-science images share (numpy, scipy, pandas, scikit-learn: a few MiB to
 * tens of MiB each) are each one blob; a layer costs a few requests, far less than re-sending a
 * MiB. (At 20 MiB, a second app sharing those four re-sent all but scipy inside its mixed layer.)
 */
export const DEFAULT_LARGE_WHEEL_BYTES = 1024 * 1024;

/**
 * At most this many wheels get layers of their own (the largest; the rest join the group), so a
 * long requirements list stays far from the runtimes' layer limits (overlayfs: 128 lower dirs).
 * Changing it changes the plan for the same inputs: bump STEP_CACHE_VERSION (src/build) with it.
 */
export const MAX_OWN_WHEEL_LAYERS = 32;

/** Bump whenever the entries made from the same wheel change (install.ts, launchers, RECORD). */
export const PYTHON_LAYER_LAYOUT_VERSION = 1;

export interface LayerWheel {
  readonly filename: string;
  /** Hex sha256 of the wheel file. */
  readonly sha256: string;
  /** Bytes of the wheel file. */
  readonly size: number;
}

export interface WheelLayerGroup<W extends LayerWheel = LayerWheel> {
  /** `large`: one big wheel alone; `shared`: all the small ones. */
  readonly kind: "large" | "shared";
  /** Sorted by file name. */
  readonly wheels: readonly W[];
  readonly size: number;
}

export interface WheelLayerPlan<W extends LayerWheel = LayerWheel> {
  /** Large wheels first (by file name), then the shared group; empty groups are left out. */
  readonly groups: readonly WheelLayerGroup<W>[];
}

export function planWheelLayers<W extends LayerWheel>(wheels: readonly W[], options: { largeWheelBytes?: number; maxOwnLayers?: number } = {}): WheelLayerPlan<W> {
  const threshold = options.largeWheelBytes ?? DEFAULT_LARGE_WHEEL_BYTES;
  const most = options.maxOwnLayers ?? MAX_OWN_WHEEL_LAYERS;
  const sorted = [...wheels].sort((a, b) => compare(a.filename, b.filename));
  // The largest ones over the threshold (ties by file name, so the choice is stable).
  const chosen = new Set(
    sorted
      .filter((w) => w.size > threshold)
      .sort((a, b) => b.size - a.size || compare(a.filename, b.filename))
      .slice(0, most),
  );
  const large = sorted.filter((w) => chosen.has(w));
  const small = sorted.filter((w) => !chosen.has(w));
  const groups: WheelLayerGroup<W>[] = large.map((w) => ({ kind: "large", wheels: [w], size: w.size }));
  if (small.length > 0) groups.push({ kind: "shared", wheels: small, size: small.reduce((sum, w) => sum + w.size, 0) });
  return { groups };
}

/** One line per layer, for plan output: `layer 1 (large, 812.4 MiB): torch-2.3.0-cp311-...whl`. */
export function describeWheelLayers(plan: WheelLayerPlan): string[] {
  return plan.groups.map((group, i) => `layer ${i + 1} (${group.kind}, ${humanSize(group.size)}): ${group.wheels.map((w) => w.filename).join(", ")}`);
}

/**
 * `sha256:<hex>` naming the layer a group of wheels makes for an install target. Wheel order
 * does not matter (installation order is fixed by file name), the wheels' names do not either
 * (the content digest decides).
 */
export function wheelLayerCacheKey(wheels: readonly Pick<LayerWheel, "sha256">[], target: InstallTarget): string {
  const scheme = Object.fromEntries(SCHEME_KEYS.map((key) => [key, target.scheme[key]]));
  return sha256(
    JSON.stringify({
      layout: PYTHON_LAYER_LAYOUT_VERSION,
      wheels: wheels.map((w) => w.sha256.toLowerCase()).sort(),
      scheme,
      interpreter: target.interpreter,
    }),
  );
}

export interface WheelGroupEntries {
  readonly entries: readonly LayerEntry[];
  readonly installed: readonly InstalledWheel[];
  /** Paths more than one wheel installs; the wheel later by file name wins, as if pip installed them in that order. */
  readonly overwritten: readonly string[];
}

/** The entries of one layer: every wheel of the group installed, in file-name order. */
export async function wheelGroupEntries(wheels: readonly (WheelFile & LayerWheel)[], target: InstallTarget): Promise<WheelGroupEntries> {
  const byPath = new Map<string, LayerEntry>();
  const overwritten = new Set<string>();
  const installed: InstalledWheel[] = [];
  for (const wheel of [...wheels].sort((a, b) => compare(a.filename, b.filename))) {
    const result = await installWheel(wheel, target);
    installed.push(result);
    for (const entry of result.entries) {
      if (byPath.has(entry.path)) overwritten.add(entry.path);
      byPath.set(entry.path, entry);
    }
  }
  const entries = [...byPath.values()].sort((a, b) => compare(a.path, b.path));
  return { entries, installed, overwritten: [...overwritten].sort(compare) };
}

function compare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

