// The planner: spec -> ordered steps, with what changes least at the bottom (base, system
// packages, Python packages, then the user's files, then config). `imagespec build --dry-run`
// prints this plan; the native builder executes it.
import { ImagespecError } from "../errors.js";
import { formatPlatform, type Platform } from "../oci/index.js";
import { parseReference, formatReference } from "../reference/index.js";
import { collectFiles, imageName, type FileEntry, type ImageSpec } from "../spec/index.js";

/** Docker's name for the empty base image. */
export const SCRATCH = "scratch";

export type BaseSource =
  | { kind: "scratch" }
  | { kind: "image"; reference: string }
  | { kind: "spec"; spec: ImageSpec; reference: string };

export type Step =
  | { kind: "base"; base: BaseSource }
  | { kind: "files"; entries: readonly FileEntry[]; workdir: string }
  | { kind: "config"; env: Readonly<Record<string, string>>; specId: string };

/** A field the native builder cannot honour in this version, and why. */
export interface Blocker {
  field: string;
  reason: string;
}

export interface Plan {
  readonly spec: ImageSpec;
  /** The full image name, `registry/name:tag` or `name:tag`. */
  readonly image: string;
  readonly platforms: readonly Platform[];
  readonly steps: readonly Step[];
  readonly blockers: readonly Blocker[];
}

/** The env var carrying the spec's tag, so a running container knows which spec made it. */
export const SPEC_ID_ENV = "IMAGESPEC_ID";

export function baseSource(spec: ImageSpec): Promise<BaseSource> | BaseSource {
  const base = spec.baseImage;
  if (base === undefined) {
    throw new ImagespecError("NO_BASE_IMAGE", `spec "${spec.name}" has no baseImage`, {
      hint: "set base_image to an image reference (e.g. python:3.12-slim from your registry), or to scratch for an empty base",
    });
  }
  if (typeof base !== "string") return imageName(base).then((reference) => ({ kind: "spec", spec: base, reference }));
  const ref = parseReference(base);
  if (ref.registry === "docker.io" && ref.repository === `library/${SCRATCH}` && ref.digest === undefined) return { kind: "scratch" };
  return { kind: "image", reference: formatReference(ref) };
}

/** What the native builder cannot do yet: these fields need a Dockerfile builder or a later version. */
function nativeBlockers(spec: ImageSpec): Blocker[] {
  const blockers: Blocker[] = [];
  const dockerfile = "it runs inside the image, which needs a Dockerfile builder";
  if (spec.commands.length > 0) blockers.push({ field: "commands", reason: dockerfile });
  if (spec.condaPackages.length > 0) blockers.push({ field: "condaPackages", reason: dockerfile });
  if (spec.packages.length > 0) blockers.push({ field: "packages", reason: "native Python package installation is not in this version" });
  if (spec.requirements !== undefined) blockers.push({ field: "requirements", reason: "native Python package installation is not in this version" });
  if (spec.aptPackages.length > 0) blockers.push({ field: "aptPackages", reason: "native apt installation is not in this version" });
  return blockers;
}

export async function planBuild(spec: ImageSpec): Promise<Plan> {
  const image = await imageName(spec);
  const base = await baseSource(spec);
  const steps: Step[] = [{ kind: "base", base }];
  const entries = await collectFiles(spec);
  if (entries.length > 0) steps.push({ kind: "files", entries, workdir: spec.workdir });
  steps.push({ kind: "config", env: configEnv(spec, entries.length > 0), specId: image.slice(image.lastIndexOf(":") + 1) });
  return { spec, image, platforms: spec.platforms(), steps, blockers: nativeBlockers(spec) };
}

/** The spec's env, plus PYTHONPATH so copied code imports (the spec id is added after these). */
export function configEnv(spec: ImageSpec, hasFiles: boolean): Record<string, string> {
  const env: Record<string, string> = { ...spec.env };
  if (hasFiles && env.PYTHONPATH === undefined) env.PYTHONPATH = spec.workdir;
  return env;
}

/** The error for a plan the native builder cannot execute. */
export function blockedError(plan: Plan): ImagespecError {
  const fields = plan.blockers.map((b) => `${b.field} (${b.reason})`).join("; ");
  return new ImagespecError("NATIVE_UNSUPPORTED", `spec "${plan.spec.name}" uses fields the native builder cannot build: ${fields}`, {
    hint: "remove those fields, or build this spec with a Dockerfile builder once one is configured (builder: buildah | podman | docker)",
  });
}

export function describePlan(plan: Plan): string {
  const lines = [`image ${plan.image}`, `platforms ${plan.platforms.map(formatPlatform).join(", ")}`];
  plan.steps.forEach((step, i) => {
    const n = `${i + 1}.`;
    switch (step.kind) {
      case "base":
        lines.push(`${n} base      ${step.base.kind === "scratch" ? "scratch (empty)" : step.base.reference}${step.base.kind === "spec" ? " (built first from its spec)" : ""}`);
        break;
      case "files": {
        const files = step.entries.filter((e) => e.type !== "dir");
        const bytes = files.reduce((sum, e) => sum + e.size, 0);
        lines.push(`${n} files     ${files.length} files, ${bytes} bytes -> ${step.workdir} (one layer)`);
        break;
      }
      case "config":
        lines.push(`${n} config    env ${[...Object.keys(step.env).sort(), SPEC_ID_ENV].join(", ")}; entrypoint, cmd, workdir, user, labels`);
        break;
    }
  });
  for (const b of plan.blockers) lines.push(`   cannot build natively: ${b.field}: ${b.reason}`);
  return lines.join("\n");
}
