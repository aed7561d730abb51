// The errors for specs the native builder cannot build. What they say depends on the spec's
// `builder`: forced to `native`, the spec itself is at fault; left to `auto`, the spec is fine but
// needs a Dockerfile builder, which this version of imagespec does not have yet. They never
// pretend one ran.
import { ImagespecError } from "../errors.js";
import { PythonError } from "../python/index.js";
import type { Plan } from "./plan.js";

/** The builders that run a generated Dockerfile (not available in this version). */
export const DOCKERFILE_BUILDERS = ["docker", "podman", "buildah", "buildkit"] as const;

const NOT_YET = `a Dockerfile builder (${DOCKERFILE_BUILDERS.join(", ")}) is needed, and this version of imagespec has none yet`;

/** The error for a plan with blockers. */
export function blockedError(plan: Plan): ImagespecError {
  const { spec } = plan;
  const fields = plan.blockers.map((b) => `${b.field} (${b.reason})`).join("; ");
  const needsDockerfile = plan.blockers.some((b) => b.needs === "dockerfile");
  if (spec.builder === "native") {
    return new ImagespecError("NATIVE_UNSUPPORTED", `spec "${spec.name}" sets builder: native, but the native builder cannot build ${fields}`, {
      hint: needsDockerfile
        ? `remove those fields, or set builder to one of ${DOCKERFILE_BUILDERS.join(", ")} once a Dockerfile builder is available (${NOT_YET})`
        : "remove those fields; a later version of the native builder will handle them",
    });
  }
  return new ImagespecError("NATIVE_UNSUPPORTED", `spec "${spec.name}" uses fields the native builder cannot build: ${fields}`, {
    hint: needsDockerfile ? `${NOT_YET}; remove those fields to build natively` : "remove those fields to build natively; a later version of the native builder will handle them",
  });
}

/**
 * A package without a wheel for the target: the resolver's error (which names the package and
 * the target) with the spec named and a hint that matches the spec's builder setting.
 */
export function noWheelError(plan: Plan, error: PythonError): PythonError {
  const { spec } = plan;
  const hint =
    spec.builder === "native"
      ? `the spec sets builder: native, which installs wheels only; pin a version that publishes a wheel for this platform, or drop builder: native once a Dockerfile builder (${DOCKERFILE_BUILDERS.join(", ")}) is available to build from source`
      : `pin a version that publishes a wheel for this platform; building from source distributions needs ${NOT_YET}`;
  return new PythonError(error.code, `spec "${spec.name}": ${error.message}`, { hint, cause: error });
}
