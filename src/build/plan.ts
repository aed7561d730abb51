// The planner: spec -> ordered steps, with what changes least at the bottom (base, system
// packages (apt), Python packages, then the user's files, then config). `imagespec build --dry-run`
// prints this plan; the native builder executes it.
import { relative, resolve } from "node:path";
import { ImagespecError } from "../errors.js";
import { formatPlatform, type Platform } from "../oci/index.js";
import { gpuCondaPackages, gpuRequirements } from "../python/gpu.js";
import type { PythonRequirements } from "../python/index.js";
import { parseReference, formatReference, redactSecrets, redactUrl } from "../reference/index.js";
import { humanSize } from "../units.js";
import { collectFiles, imageName, lockKindOf, type FileEntry, type ImageSpec } from "../spec/index.js";
import { defaultCacheDir, fileHashingIn } from "./cache-dir.js";
import type { DockerfileSettings } from "./dockerfile.js";
import type { PythonPreview } from "./python-preview.js";
import type { Selection } from "./select.js";

/** Docker's name for the empty base image. */
export const SCRATCH = "scratch";

export type BaseSource =
  | { kind: "scratch" }
  /** `byDefault`: the spec has no baseImage; this is the default base for its pythonVersion. */
  | { kind: "image"; reference: string; byDefault?: true }
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
  /**
   * The build cache: where cached resolutions are looked up for the plan's Python preview (default
   * `$XDG_CACHE_HOME/imagespec`), and, only when given, where the digests of big files are
   * remembered between builds (`digests/`), so a build whose image exists reads none of them.
   */
  cacheDir?: string;
  /** Look up cached resolutions to show which wheel goes into which layer (default true). */
  preview?: boolean;
}

/** The env var carrying the spec's tag, so a running container knows which spec made it. */
export const SPEC_ID_ENV = "IMAGESPEC_ID";

/**
 * The base of a spec that sets pythonVersion but no baseImage, for every builder: the official
 * Python image on Debian 12 (flytekit's default builder starts from debian:bookworm-slim and adds
 * Python with micromamba; this image has the same Debian and Python without conda). The tag
 * hashes pythonVersion, not this name: changing the mapping needs an IMAGESPEC_HASH_VERSION bump.
 */
export function defaultBaseImage(pythonVersion: string): string {
  const [major, minor] = pythonVersion.trim().split(".");
  return `docker.io/library/python:${major}.${minor}-slim-bookworm`;
}

export function baseSource(spec: ImageSpec): Promise<BaseSource> | BaseSource {
  const base = spec.baseImage;
  if (base === undefined) {
    if (spec.pythonVersion !== undefined) return { kind: "image", reference: defaultBaseImage(spec.pythonVersion), byDefault: true };
    throw new ImagespecError("NO_BASE_IMAGE", `spec "${spec.name}" has neither baseImage nor pythonVersion`, {
      hint: `set python_version (e.g. "3.12") for the default base ${defaultBaseImage("3.12")}, or base_image to an image reference, or to scratch for an empty base`,
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
  if (spec.commands.length > 0) blockers.push({ field: "commands", reason: "they run inside the image", needs: "dockerfile" });
  if (spec.condaPackages.length > 0) blockers.push({ field: "condaPackages", reason: "conda runs inside the image", needs: "dockerfile" });
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
  // cuda/cudnn: NVIDIA's runtime wheels, installed like the spec's own packages.
  const gpu = gpuRequirements(spec.cuda, spec.cudnn);
  if (spec.packages.length === 0 && spec.requirements === undefined && gpu.length === 0) return undefined;
  return {
    packages: [...spec.packages, ...gpu],
    ...(spec.requirements !== undefined ? { requirementsFile: resolve(spec.baseDir, spec.requirements) } : {}),
    ...(spec.pipIndex !== undefined ? { indexUrl: spec.pipIndex } : {}),
    ...(spec.pipExtraIndexUrl.length > 0 ? { extraIndexUrls: [...spec.pipExtraIndexUrl] } : {}),
    ...(spec.pipExtraArgs !== undefined ? { extraArgs: spec.pipExtraArgs } : {}),
  };
}

export async function planBuild(spec: ImageSpec, options: PlanOptions = {}): Promise<Plan> {
  const image = await imageName(spec, options.cacheDir !== undefined ? fileHashingIn(options.cacheDir) : undefined);
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
    // The preview reads cached resolutions with the Python code, which a plan made to build (or to
    // find the image already there) does not load.
    const preview =
      options.preview === false
        ? []
        : await (await import("./python-preview.js")).previewPython(requirements, platforms, base.kind === "scratch" ? undefined : base.reference, options.cacheDir ?? defaultCacheDir());
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

/**
 * The plan as `imagespec build --dry-run` prints it. With the builder chosen (ImageBuilder's
 * `selection`), the builder is named with the reason, and a Dockerfile builder's steps are shown
 * as the Dockerfile runs them (`settings`: the spec's Dockerfile settings), not as the native plan.
 */
export function describePlan(plan: Plan, chosen?: { selection: Selection; settings?: DockerfileSettings }): string {
  const lines = [`image ${plan.image}`, `platforms ${plan.platforms.map(formatPlatform).join(", ")}`];
  if (chosen !== undefined) {
    const { selection } = chosen;
    lines.push(`builder   ${selection.kind === "native" ? "native" : selection.backend.name}; ${selection.reason}`);
    if (selection.kind === "dockerfile") return [...lines, ...describeDockerfileSteps(plan, chosen.settings)].join("\n");
  }
  const indent = " ".repeat(13);
  plan.steps.forEach((step, i) => {
    const n = `${i + 1}.`;
    switch (step.kind) {
      case "base": {
        const note = step.base.kind === "spec" ? " (built first from its spec)" : step.base.kind === "image" && step.base.byDefault ? ` (the default base for python_version ${plan.spec.pythonVersion ?? ""})` : "";
        lines.push(`${n} base      ${step.base.kind === "scratch" ? "scratch (empty)" : step.base.reference}${note}`);
        break;
      }
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
      case "files":
        lines.push(`${n} files     ${describeFiles(step)}`);
        break;
      case "config":
        lines.push(`${n} config    ${describeConfig(step)}`);
        break;
    }
  });
  for (const b of plan.blockers) lines.push(`   cannot build natively: ${b.field}: ${b.reason}`);
  return lines.join("\n");
}

/** What micromamba installs on the Dockerfile path: the spec's conda packages, and cuda/cudnn as flytekit's builder wrote them. */
export function dockerfileCondaPackages(spec: ImageSpec): string[] {
  return [...spec.condaPackages, ...gpuCondaPackages(spec.cuda, spec.cudnn)];
}

/** A Dockerfile builder's steps, in the Dockerfile's order (src/build/dockerfile.ts); everything runs inside the image. */
function describeDockerfileSteps(plan: Plan, settings: DockerfileSettings | undefined): string[] {
  const { spec } = plan;
  const conda = dockerfileCondaPackages(spec);
  const steps: [string, string][] = [];
  for (const step of plan.steps) {
    switch (step.kind) {
      case "base":
        steps.push(["base", step.base.kind === "scratch" ? "scratch (empty)" : `${step.base.reference}${step.base.kind === "spec" ? " (built first from its spec)" : ""}`]);
        break;
      case "apt":
        steps.push(["apt", `${step.packages.join(", ")} (apt-get in the image, from the base's apt sources)`]);
        if (conda.length > 0) steps.push(condaStep(conda, spec.condaChannels));
        break;
      case "python": {
        // Here cuda/cudnn come from conda, not as NVIDIA's wheels; a lock is installed by its own tool.
        const requirements = { ...step.requirements, packages: [...spec.packages] };
        const lock = spec.requirements !== undefined ? lockKindOf(spec.requirements) : undefined;
        const how =
          lock === "uv.lock" ? "uv sync --locked in the image" : lock === "poetry.lock" ? "poetry install --no-root in the image" : `${settings?.pythonInstaller === "pip" ? "pip" : "uv pip"} install in the image, resolved there at build time`;
        if (requirements.packages.length > 0 || requirements.requirementsFile !== undefined) steps.push(["python", `${describeRequirements(requirements, spec.baseDir)} (${how})`]);
        break;
      }
      case "files":
        if (spec.commands.length > 0 && settings?.commandsAfterCopy !== true) steps.push(commandsStep(spec.commands));
        steps.push(["files", describeFiles(step)]);
        if (spec.commands.length > 0 && settings?.commandsAfterCopy === true) steps.push(commandsStep(spec.commands));
        break;
      case "config":
        if (!plan.steps.some((s) => s.kind === "files") && spec.commands.length > 0) steps.push(commandsStep(spec.commands));
        steps.push(["config", describeConfig(step)]);
        break;
    }
    // conda comes right after apt, or after the base when there is no apt step.
    if (step.kind === "base" && spec.aptPackages.length === 0 && conda.length > 0) steps.push(condaStep(conda, spec.condaChannels));
  }
  return steps.map(([kind, text], i) => `${`${i + 1}.`.padEnd(3)}${kind.padEnd(10)}${text}`);
}

function condaStep(packages: readonly string[], channels: readonly string[]): [string, string] {
  return ["conda", `${packages.join(", ")} (micromamba in the image${channels.length > 0 ? `; channels ${channels.join(", ")}` : ""})`];
}

function commandsStep(commands: readonly string[]): [string, string] {
  return ["commands", `${commands.join("; ")} (run in the image)`];
}

function describeFiles(step: Extract<Step, { kind: "files" }>): string {
  const files = step.entries.filter((e) => e.type !== "dir");
  return `${files.length} files, ${files.reduce((sum, e) => sum + e.size, 0)} bytes -> ${step.workdir} (one layer)`;
}

function describeConfig(step: Extract<Step, { kind: "config" }>): string {
  return `env ${[...Object.keys(step.env).sort(), SPEC_ID_ENV].join(", ")}; entrypoint, cmd, workdir, user, labels`;
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

