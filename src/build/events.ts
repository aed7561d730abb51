// What a build reports and returns, whichever builder and publisher do the work: the driver
// (image-builder.ts), the native builder (native.ts) and the Dockerfile builder (builders/) emit
// BuildEvents through BuildOptions.onEvent; the driver returns a BuildResult per image.
import type { Compression } from "../layer/index.js";
import type { LayoutReference } from "../oci/index.js";
import type { PushEvent, Registry } from "../registry/index.js";
import type { AptStepSource } from "./apt-step.js";
import type { BackendName } from "./backends/types.js";
import type { Plan } from "./plan.js";
import type { PythonStepProgress, PythonStepResult, PythonStepSource } from "./python-step.js";

export type BuildEvent =
  | { kind: "plan"; image: string; plan: Plan }
  | { kind: "exists"; image: string; digest: string }
  | { kind: "base"; image: string; platform: string; reference: string; digest?: string }
  | { kind: "layer"; image: string; step: string; digest: string; size: number; fromCache?: boolean }
  /** Where the Python layers of one platform came from; `resolved`: a resolver ran (native, uv or pip), not a cached resolution or a lock. */
  | {
      kind: "python";
      image: string;
      platform: string;
      source: PythonStepSource;
      /** How the base's interpreter was found: cached listings, reading the base layers, or the registry's step cache. */
      base: PythonStepResult["discoveredFrom"];
      interpreter: string;
      layers: number;
      wheels: number;
      resolved: boolean;
    }
  /** The Python step of one platform at work: resolving, downloading wheels, writing layers. */
  | { kind: "python-progress"; image: string; platform: string; progress: PythonStepProgress }
  /** The apt layer of one platform: where it came from and the packages in it (`name=version`). */
  | {
      kind: "apt";
      image: string;
      platform: string;
      source: AptStepSource;
      packages: readonly string[];
      /** Requested packages the base already has in a satisfying version (`name version`); not installed again. */
      alreadyInstalled: readonly string[];
    }
  /** The step-cache artifact in the target repository after the push: already there, or written now. */
  | { kind: "step-cache"; image: string; platform: string; step: "base-python" | "python" | "apt" | "files"; tag: string; status: "present" | "stored" }
  /** Something went wrong that did not affect the image (a step cache that could not be read or written). */
  | { kind: "warning"; image: string; message: string }
  | { kind: "push"; image: string; event: PushEvent }
  /** Which builder builds the image, and why (the driver's choice). */
  | { kind: "builder"; image: string; builder: "native" | BackendName; reason: string }
  /** A line of a Dockerfile builder's output, as it runs `step` ("build", "push", ...). */
  | { kind: "output"; image: string; builder: BackendName; step: string; stream: "stdout" | "stderr"; line: string }
  | { kind: "done"; image: string; digest: string };

export interface BuildOptions {
  /** The registry client (its keychain, CA file and insecure hosts apply to base pulls and pushes). */
  registry?: Registry;
  /** `oci:DIR` or `oci:DIR:TAG`, or the layout as a value: write an OCI layout there instead of pushing. */
  output?: string | LayoutReference;
  /** Build and push even when the tag exists. The spec's forcePush does the same. */
  force?: boolean;
  /** Folder for reusable build data (listings, resolutions, wheels, layers, step records). Default `$XDG_CACHE_HOME/imagespec`. */
  cacheDir?: string;
  /** Resolve Python requirements again and build the apt layer again, ignoring cached resolutions and step caches (local and registry). */
  refresh?: boolean;
  /** Wheels above this many bytes get a layer of their own (default 1 MiB: DEFAULT_LARGE_WHEEL_BYTES of src/python). */
  largeWheelBytes?: number;
  /**
   * A files layer of at least this many bytes (the files' sizes summed) that goes to a registry is
   * only uploaded, as it is compressed, with no copy in the cache dir (default 128 MiB:
   * UPLOAD_ONLY_MIN_BYTES). Infinity keeps a copy of every layer.
   */
  uploadOnlyBytes?: number;
  compression?: Compression;
  /** The compressor's level: gzip 0-9 (default 1), zstd 1-19 (default 3). Part of every layer's identity, so a change rebuilds them. */
  compressionLevel?: number;
  /** Mtime of every file and the config's creation time, in seconds. Default SOURCE_DATE_EPOCH, else 0. */
  epoch?: number;
  onEvent?: (event: BuildEvent) => void;
  signal?: AbortSignal;
}

export interface BuildResult {
  /** The full image name that was checked and written. */
  image: string;
  /** `exists`: the tag was already there, nothing was built. */
  status: "exists" | "built";
  digest: string;
  /** Where the image is, for display: a registry reference or `oci:DIR:TAG` (the driver keeps the destination as a value). */
  location: string;
  platforms: string[];
  /** Bytes uploaded to the registry or written to the layout. */
  bytesWritten: number;
  /** Blobs that were already at the destination (or mounted there) and not sent again. */
  blobsSkipped: number;
}
