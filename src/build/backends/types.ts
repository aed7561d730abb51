// The interface every Dockerfile builder implements: detect whether the tool is there and works,
// say which commands a build runs (pure, so tests check the argv), and run them.
import { DOCKERFILE_BUILDERS } from "../../spec/schema.js";
import type { BuildContext } from "../context.js";

/** One backend per Dockerfile builder the spec admits, in `auto`'s order. */
export const BACKEND_NAMES = DOCKERFILE_BUILDERS;
export type BackendName = (typeof BACKEND_NAMES)[number];

export type Detection =
  | { ok: true; name: BackendName; version: string; path: string }
  /** `missing`: not installed; `broken`: installed but not working (daemon down, no address, ...). */
  | { ok: false; name: BackendName; status: "missing" | "broken"; reason: string; install: string };

/** One process a build runs. `env` holds only what is added to the environment the backend was given. */
export interface Invocation {
  argv: string[];
  env: Record<string, string>;
  /** What the step does, for messages: "build", "push". */
  step: string;
  /** Clean-up: a failure is ignored. */
  optional?: boolean;
  /** A clean-up step that runs only when the required steps succeeded. */
  afterSuccessOnly?: boolean;
}

export interface BackendBuildRequest {
  context: BuildContext;
  /** Unique per build (hex): names the local image in the tool's storage, so parallel builds do not collide. */
  buildId: string;
  /** The full target reference, `host/repo:tag`. */
  image: string;
  /** e.g. ["linux/amd64", "linux/arm64"]. */
  platforms: readonly string[];
  /** Hosts among the target and the pulled images that speak plain HTTP or have untrusted TLS. */
  insecureHosts: ReadonlySet<string>;
  /** The target's registry host. */
  targetHost: string;
  /** The registry hosts of the images the Dockerfile pulls. */
  pullHosts: readonly string[];
  /** A temp dir (0700) with the credentials: `auth.json` (containers) and `config.json` (docker). */
  authDir?: string;
}

export interface OutputLine {
  stream: "stdout" | "stderr";
  line: string;
}

export interface BackendRunOptions {
  onLine?: (line: OutputLine, step: string) => void;
  signal?: AbortSignal;
}

export interface Backend {
  readonly name: BackendName;
  /** Runs the tool's version command (and, where cheap, a check that it can build). */
  detect(): Promise<Detection>;
  /** The processes a build runs, in order. */
  invocations(request: BackendBuildRequest): Invocation[];
  /** Runs them; rejects with BUILDER_FAILED (last lines, exit code) when one fails. */
  build(request: BackendBuildRequest, options?: BackendRunOptions): Promise<void>;
}

/** What every backend is configured with. */
export interface BackendOptions {
  /** The environment the tools run in (default process.env); tests give a PATH of their own. */
  env?: NodeJS.ProcessEnv;
}
