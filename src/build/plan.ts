// The planner: spec -> ordered steps, with what changes least at the bottom (base, system
// packages (apt), Python packages, then the user's files, then config). `imagespec build --dry-run`
// prints this plan; the native builder executes it.
import { relative, resolve } from "node:path";
import { ImagespecError } from "../errors.js";
import { formatPlatform, type Platform } from "../oci/index.js";
import type { PythonRequirements } from "../python/index.js";
import { parseReference, formatReference, redactSecrets, redactUrl } from "../reference/index.js";
import { humanSize } from "../units.js";
import { collectFiles, imageName, type FileEntry, type ImageSpec } from "../spec/index.js";
import { defaultCacheDir } from "./cache-dir.js";
import { previewPython, type PythonPreview } from "./python-preview.js";

/** Docker's name for the empty base image. */
export const SCRATCH = "scratch";

export type BaseSource =
  | { kind: "scratch" }
  | { kind: "image"; reference: string }
  | { kind: "spec"; spec: ImageSpec; reference: string };

export type Step =
  | { kind: "base"; base: BaseSource }
  /** Debian packages laid into one layer per platform (src/apt); `mirror` replaces the base's main archive. */
  | { kind: "apt"; packages: readonly string[]; mirror?: string }
  | { kind: "python"; requirements: PythonRequirements; preview: readonly PythonPreview[] }
  | { kind: "files"; entries: readonly FileEntry[]; workdir: string }
  | { kind: "config"; env: Readonly<Record<string, string>>; specId: string };

/** A field the native builder cannot honour, and why. */
export interface Blocker {
  field: string;
  reason: string;
  /** Only a builder that runs commands in the image (a Dockerfile builder) can do it. */
  needs: "dockerfile";
}

export interface Plan {
  readonly spec: ImageSpec;
  /** The full image name, `registry/name:tag` or `name:tag`. */
  readonly image: string;
  readonly platforms: readonly Platform[];
  readonly steps: readonly Step[];
  readonly blockers: readonly Blocker[];
}

export interface PlanOptions {
  /** Where cached resolutions are looked up for the plan's Python preview. Default `$XDG_CACHE_HOME/imagespec`. */
  cacheDir?: string;
  /** Look up cached resolutions to show which wheel goes into which layer (default true). */
  preview?: boolean;
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

/** What the native builder cannot do: commands and conda run inside the image, so they need a Dockerfile builder. */
function nativeBlockers(spec: ImageSpec): Blocker[] {
  const blockers: Blocker[] = [];
  const runsInside = "it runs inside the image";
  if (spec.commands.length > 0) blockers.push({ field: "commands", reason: runsInside, needs: "dockerfile" });
  if (spec.condaPackages.length > 0) blockers.push({ field: "condaPackages", reason: `conda ${runsInside}`, needs: "dockerfile" });
  return blockers;
}

/** The spec's `builderOptions.aptMirror`: an http(s) or file URL that replaces the base's main Debian archive. */
export function aptMirror(spec: ImageSpec): string | undefined {
  const value = spec.builderOptions.aptMirror;
  if (value === undefined) return undefined;
  let url: URL | undefined;
  try {
    url = typeof value === "string" ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (url === undefined || !["http:", "https:", "file:"].includes(url.protocol)) {
    throw new ImagespecError("INVALID_BUILDER_OPTIONS", `builderOptions.aptMirror: expected an http, https or file URL of a Debian archive, got ${JSON.stringify(value)}`, {
      hint: "write the archive's root, as in sources.list: e.g. http://mirror.internal/debian",
    });
  }
  return value as string;
}

/** The spec's Python inputs, with the requirements file as an absolute host path; undefined when it installs none. */
export function pythonRequirements(spec: ImageSpec): PythonRequirements | undefined {
  if (spec.packages.length === 0 && spec.requirements === undefined) return undefined;
  return {
    packages: [...spec.packages],
    ...(spec.requirements !== undefined ? { requirementsFile: resolve(spec.baseDir, spec.requirements) } : {}),
    ...(spec.pipIndex !== undefined ? { indexUrl: spec.pipIndex } : {}),
    ...(spec.pipExtraIndexUrl.length > 0 ? { extraIndexUrls: [...spec.pipExtraIndexUrl] } : {}),
    ...(spec.pipExtraArgs !== undefined ? { extraArgs: spec.pipExtraArgs } : {}),
  };
}

export async function planBuild(spec: ImageSpec, options: PlanOptions = {}): Promise<Plan> {
  const image = await imageName(spec);
  const base = await baseSource(spec);
  const platforms = spec.platforms();
  const steps: Step[] = [{ kind: "base", base }];
  if (spec.aptPackages.length > 0) {
    const mirror = aptMirror(spec);
    steps.push({ kind: "apt", packages: [...spec.aptPackages], ...(mirror !== undefined ? { mirror } : {}) });
  }
  // Files first: collecting them checks that every path the spec names (requirements too) exists.
  const entries = await collectFiles(spec);
  const requirements = pythonRequirements(spec);
  if (requirements !== undefined) {
    const preview =
      options.preview === false
        ? []
        : await previewPython(requirements, platforms, base.kind === "scratch" ? undefined : base.reference, options.cacheDir ?? defaultCacheDir());
    steps.push({ kind: "python", requirements, preview });
  }
  if (entries.length > 0) steps.push({ kind: "files", entries, workdir: spec.workdir });
  steps.push({ kind: "config", env: configEnv(spec, entries.length > 0), specId: image.slice(image.lastIndexOf(":") + 1) });
  return { spec, image, platforms, steps, blockers: nativeBlockers(spec) };
}

/** The spec's env, plus PYTHONPATH so copied code imports (the spec id is added after these). */
export function configEnv(spec: ImageSpec, hasFiles: boolean): Record<string, string> {
  const env: Record<string, string> = { ...spec.env };
  if (hasFiles && env.PYTHONPATH === undefined) env.PYTHONPATH = spec.workdir;
  return env;
}

export function describePlan(plan: Plan): string {
  const lines = [`image ${plan.image}`, `platforms ${plan.platforms.map(formatPlatform).join(", ")}`];
  const indent = " ".repeat(13);
  plan.steps.forEach((step, i) => {
    const n = `${i + 1}.`;
    switch (step.kind) {
      case "base":
        lines.push(`${n} base      ${step.base.kind === "scratch" ? "scratch (empty)" : step.base.reference}${step.base.kind === "spec" ? " (built first from its spec)" : ""}`);
        break;
      case "apt":
        lines.push(
          `${n} apt       ${step.packages.join(", ")} (resolved at build time from the base's apt sources${step.mirror !== undefined ? `, main archive replaced by ${redactUrl(step.mirror)}` : ""})`,
        );
        break;
      case "python": {
        lines.push(`${n} python    ${describeRequirements(step.requirements, plan.spec.baseDir)}`);
        for (const preview of step.preview) lines.push(...describePreview(preview).map((line) => `${indent}${line}`));
        break;
      }
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

function describeRequirements(requirements: PythonRequirements, baseDir: string): string {
  const parts: string[] = [];
  if (requirements.packages.length > 0) parts.push(`packages ${requirements.packages.join(", ")}`);
  if (requirements.requirementsFile !== undefined) parts.push(`requirements ${relative(baseDir, requirements.requirementsFile)}`);
  if (requirements.indexUrl !== undefined) parts.push(`index ${redactUrl(requirements.indexUrl)}`);
  for (const url of requirements.extraIndexUrls ?? []) parts.push(`extra index ${redactUrl(url)}`);
  if (requirements.extraArgs !== undefined) parts.push(`pip args ${redactSecrets(requirements.extraArgs)}`);
  return parts.join("; ");
}

function describePreview(preview: PythonPreview): string[] {
  switch (preview.status) {
    case "unknown":
      return [`${preview.platform}: resolved at build time (the base's Python has not been read on this machine yet)`];
    case "unresolved":
      return [`${preview.platform}: Python ${preview.python.version} (${preview.python.interpreter}); not resolved yet, resolved at build time`];
    case "resolved": {
      const head = `${preview.platform}: Python ${preview.python.version} (${preview.python.interpreter}); resolution cached, ${preview.wheels.length} wheels`;
      if (preview.layers === undefined) return [`${head} (layers decided once they are downloaded)`, ...preview.wheels.map((w) => `  ${w}`)];
      if (preview.layers.length === 0) return [`${head}: no layer`];
      return [`${head}:`, ...preview.layers.map((layer, i) => `  layer ${i + 1} (${layer.kind}, ${humanSize(layer.size)}): ${layer.wheels.join(", ")}`)];
    }
  }
}

