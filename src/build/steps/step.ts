// What the plan's steps share as the executor runs them: the context of a build, and the image of
// one platform as the steps build it up (the base, the layers added on top, what the config needs).
import type { LayerWriteOptions } from "../../layer/index.js";
import type { Blob, Image, ImageConfig, Platform } from "../../oci/index.js";
import type { AddedLayer } from "../config.js";
import type { BuildEvent } from "../events.js";
import type { Plan, Step } from "../plan.js";
import type { LayerIdentity } from "../step-keys.js";
import type { CacheStep } from "./artifact.js";
import type { UploadOnly } from "../files-layer.js";
import type { RegistryCache } from "./cache.js";

/** A base image: its config and layers (reused as they are), and what the image's annotations name. */
export interface Base {
  readonly config: ImageConfig | undefined;
  readonly layers: readonly Blob[];
  readonly reference?: string;
  readonly digest?: string;
}

export interface StepContext {
  readonly plan: Plan;
  /** The plan's image name, on every event. */
  readonly image: string;
  readonly cacheDir: string;
  readonly compression: LayerWriteOptions;
  readonly identity: LayerIdentity;
  /** The target repository, when the image goes to a registry: its step cache is read, and written after the push. */
  readonly registryCache?: RegistryCache;
  /** Ignore cached resolutions and step caches (what is made is still stored). */
  readonly refresh?: boolean;
  readonly largeWheelBytes?: number;
  /** Set when the image goes to a registry that takes uploads while a layer is written: where a big files layer may go without a local copy. */
  readonly uploadOnly?: UploadOnly;
  readonly signal?: AbortSignal;
  readonly emit: (event: BuildEvent) => void;
  /** The base of one platform, from where the driver found (or built) it. */
  readonly base: (platform: Platform) => Promise<Base>;
}

/** A layer a step adds, with its history line. */
export interface AddedBlob {
  readonly blob: Blob;
  readonly history: AddedLayer;
}

/** A registry step-cache entry to write once the image is pushed (its layers are in the repository then). */
export interface CacheWrite {
  readonly step: CacheStep;
  readonly write: () => Promise<{ status: "present" | "stored"; tag: string }>;
}

/** One platform's image as the steps build it, in plan order. */
export interface PlatformImage {
  readonly platform: Platform;
  /** Set by the base step, the first of every plan. */
  base: Base;
  readonly added: AddedBlob[];
  /** Where the Python step put console scripts: the config step puts it on PATH. */
  scripts?: string;
  /** Set by the config step, the last of every plan. */
  image?: Image;
  readonly cacheWrites: CacheWrite[];
}

/**
 * How a kind of plan step runs: `prepare` does once what the platforms share (the files layer),
 * and returns what to do for each platform.
 */
export type StepRunner<S extends Step> = (step: S, context: StepContext) => Promise<(image: PlatformImage) => Promise<void>>;
