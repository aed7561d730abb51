// Which builder builds a spec. `native` when asked, or under `auto` when the plan has no blockers;
// otherwise a Dockerfile builder: the one named, or under `auto` the first that is installed and
// works (docker, podman, buildah, then buildkit when an address is configured). The choice comes
// with the reason, and when nothing works the error lists what each builder lacked.
import { ImagespecError } from "../errors.js";
import type { Builder } from "../spec/index.js";
import type { BackendsConfig } from "./backends/index.js";
import { BACKEND_NAMES, type Backend, type BackendName, type Detection } from "./backends/types.js";
import type { Plan } from "./plan.js";
import { blockedError } from "./unsupported.js";

/** The order `auto` tries the Dockerfile builders in. */
export const AUTO_ORDER: readonly BackendName[] = BACKEND_NAMES;

export type Selection =
  | { kind: "native"; reason: string }
  | { kind: "dockerfile"; backend: Backend; detection: Extract<Detection, { ok: true }>; reason: string; tried: Detection[] };

export interface SelectOptions {
  /** Overrides the spec's `builder` (the CLI's --builder). */
  builder?: Builder;
  backends?: BackendsConfig;
  /** Makes a backend (tests and embedders); default createBackend. */
  createBackend?: (name: BackendName, config: BackendsConfig) => Backend;
}

function describeBlockers(plan: Plan): string {
  return plan.blockers.map((b) => b.field).join(", ");
}

function unavailable(detection: Extract<Detection, { ok: false }>): string {
  return `${detection.name}: ${detection.reason}`;
}

/**
 * The native builder, when it builds the plan (asked for, or under `auto` with no blockers), with
 * the reason; undefined when a Dockerfile builder does. Decided without looking for any tool. A
 * native build asked for a plan with blockers is refused (INVALID_BUILDER) here, before any work.
 */
export function nativeSelection(plan: Plan, builder?: Builder): Extract<Selection, { kind: "native" }> | undefined {
  const requested = builder ?? plan.spec.builder;
  if (requested === "native") {
    if (plan.blockers.length > 0) throw blockedError(plan, requested);
    return { kind: "native", reason: "builder: native was asked for" };
  }
  if (requested === "auto" && plan.blockers.length === 0) return { kind: "native", reason: "the native builder can build every field of the spec" };
  return undefined;
}

export async function selectBuilder(plan: Plan, options: SelectOptions = {}): Promise<Selection> {
  const native = nativeSelection(plan, options.builder);
  if (native) return native;
  const requested = options.builder ?? plan.spec.builder;
  // The backends load only when a Dockerfile builder is looked for.
  const make = options.createBackend ?? (await import("./backends/index.js")).createBackend;
  const config = options.backends ?? {};

  // nativeSelection has answered (or refused) every request for native.
  if (requested !== "auto" && requested !== "native") {
    const backend = make(requested, config);
    const detection = await backend.detect();
    if (!detection.ok) {
      throw new ImagespecError("BUILDER_UNAVAILABLE", `builder ${requested} was asked for, but ${detection.reason}`, {
        hint: `${detection.install}; or set builder to auto to use whichever builder works`,
      });
    }
    return { kind: "dockerfile", backend, detection, reason: `builder: ${requested} was asked for (${detection.version})`, tried: [detection] };
  }

  const tried: Detection[] = [];
  for (const name of AUTO_ORDER) {
    const backend = make(name, config);
    const detection = await backend.detect();
    tried.push(detection);
    if (detection.ok) {
      const skipped = tried.filter((d): d is Extract<Detection, { ok: false }> => !d.ok).map(unavailable);
      return {
        kind: "dockerfile",
        backend,
        detection,
        reason: `${describeBlockers(plan)} need a Dockerfile builder; ${name} (${detection.version}) is installed and works${skipped.length > 0 ? ` (skipped ${skipped.join("; ")})` : ""}`,
        tried,
      };
    }
  }
  const failures = tried.filter((d): d is Extract<Detection, { ok: false }> => !d.ok);
  throw new ImagespecError(
    "NO_DOCKERFILE_BUILDER",
    `spec "${plan.spec.name}" needs a Dockerfile builder for ${describeBlockers(plan)}, and none works here:\n  ${failures.map(unavailable).join("\n  ")}`,
    { hint: `install one: ${failures.map((d) => d.install).join("; or ")}; or remove ${describeBlockers(plan)} to build natively` },
  );
}
