// The errors for specs the native builder cannot build (commands and conda run inside the image;
// apt packages it installs itself, see src/apt). What they say depends on the spec's
// `builder`: forced to `native`, the spec itself is at fault; left to `auto`, the spec is fine but
// needs a Dockerfile builder, which ImageBuilder / buildImage (what `imagespec build` runs) picks
// by itself; the native builder alone refuses. They never pretend a builder ran.
import { ImagespecError } from "../errors.js";
import { PythonError } from "../python/errors.js";
import { DOCKERFILE_BUILDERS } from "../spec/schema.js";
import type { Builder } from "../spec/index.js";
import type { Plan } from "./plan.js";

export { DOCKERFILE_BUILDERS };

const DOCKERFILE = `a Dockerfile builder (${DOCKERFILE_BUILDERS.join(", ")})`;
const PICKS_ONE = `build with builder: auto through ImageBuilder / buildImage (what \`imagespec build\` runs), which picks ${DOCKERFILE} that is installed`;

/**
 * The error for a plan with blockers (commands, condaPackages: they run inside the image). A
 * native build that was asked for (the spec's `builder: native`, or `requested`, the --builder
 * override) is bad input (INVALID_BUILDER, exit 2), refused the same way by the dry run and the build.
 */
export function blockedError(plan: Plan, requested: Builder = plan.spec.builder): ImagespecError {
  const { spec } = plan;
  const fields = plan.blockers.map((b) => `${b.field} (${b.reason})`).join("; ");
  if (requested === "native" && spec.builder !== "native") {
    return new ImagespecError("INVALID_BUILDER", `--builder native was given, but the native builder cannot build ${fields} of spec "${spec.name}"`, {
      hint: "drop --builder native, or remove those fields",
    });
  }
  if (spec.builder === "native") {
    return new ImagespecError("INVALID_BUILDER", `spec "${spec.name}" sets builder: native, but the native builder cannot build ${fields}`, {
      hint: `remove those fields, or set builder to auto or one of ${DOCKERFILE_BUILDERS.join(", ")}: ${DOCKERFILE} runs them inside the image`,
    });
  }
  return new ImagespecError("NATIVE_UNSUPPORTED", `spec "${spec.name}" uses fields the native builder cannot build: ${fields}`, {
    hint: `${DOCKERFILE} is needed: ${PICKS_ONE}; or remove those fields to build natively`,
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
      ? `the spec sets builder: native, which installs wheels only; pin a version that publishes a wheel for this platform, or set builder to one of ${DOCKERFILE_BUILDERS.join(", ")} to build from source inside the image`
      : `pin a version that publishes a wheel for this platform, or set builder to one of ${DOCKERFILE_BUILDERS.join(", ")}: ${DOCKERFILE} runs pip inside the image and can build from source`;
  return new PythonError(error.code, `spec "${spec.name}": ${error.message}`, { hint, cause: error });
}
