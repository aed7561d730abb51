// The ImageSpec schema: the single source of truth for which fields exist, their types, defaults and
// per-field rules. Field names are camelCase; src/spec/keys.ts maps flytekit's snake_case onto them.
// Checks that need the file system (does the requirements file exist?) live in src/spec/files.ts,
// so building an ImageSpec value stays pure.
import { z } from "zod";
import { checkTag, parseReference, parseRegistryLocation } from "../reference/reference.js";
import { formatPlatform, parsePlatform } from "../oci/types.js";
import { ImagespecError } from "../errors.js";
import { checkRequirement } from "./pep508.js";
import { parseAptPackage } from "./debian.js";
import { checkContainedPath, checkImagePath, normaliseContainedPath, normaliseImagePath } from "./paths.js";
import type { ImageSpec } from "./image-spec.js";
import { specVendors, specVendorsVersion, type VendorSettings, type VendorSettingsInput } from "./vendor.js";

/**
 * The builders that run a generated Dockerfile (src/build/backends), in the order `auto` tries them.
 * The one list of builder names: BUILDERS, the backends, `auto`'s order and the CLI's completion derive from it.
 */
export const DOCKERFILE_BUILDERS = ["docker", "podman", "buildah", "buildkit"] as const;
export const BUILDERS = ["auto", "native", ...DOCKERFILE_BUILDERS] as const;
/** flytekit's builder names that imagespec does not have, and what to write instead. */
export const FLYTEKIT_BUILDERS: Readonly<Record<string, string>> = {
  default:
    `flytekit's default builder writes a Dockerfile and runs docker buildx; here that is builder: docker (or auto: the native builder when it can build the spec, else the first of ${DOCKERFILE_BUILDERS.join(", ")} that works)`,
  envd: `imagespec has no envd builder; use builder: auto (the native builder, or a Dockerfile builder for commands and conda), or name one of ${DOCKERFILE_BUILDERS.join(", ")}`,
  noop: "flytekit's noop builder builds nothing and uses base_image as it is; imagespec builds what a spec describes, so give the image reference itself where the image is used (a task's image may be a reference such as ghcr.io/org/app:1.0)",
};
const DOCKERFILE_BUILDER_OPTIONS = ["pythonInstaller", "uvImage", "micromambaImage", "pythonEnv", "venvPath", "python", "commandsAfterCopy"] as const;
/**
 * The `builderOptions` keys each builder reads (docs/spec.md#builder-options); `auto` may pick any
 * builder, so it takes them all. A key the builder does not read is an error, not silently ignored.
 */
export const BUILDER_OPTIONS: Readonly<Record<(typeof BUILDERS)[number], readonly string[]>> = {
  native: ["aptMirror"],
  docker: [...DOCKERFILE_BUILDER_OPTIONS, "dockerBuilder"],
  podman: DOCKERFILE_BUILDER_OPTIONS,
  buildah: DOCKERFILE_BUILDER_OPTIONS,
  buildkit: [...DOCKERFILE_BUILDER_OPTIONS, "buildkitAddress"],
  auto: ["aptMirror", ...DOCKERFILE_BUILDER_OPTIONS, "dockerBuilder", "buildkitAddress"],
};
type BuilderOptionKey = "aptMirror" | (typeof DOCKERFILE_BUILDER_OPTIONS)[number] | "dockerBuilder" | "buildkitAddress";
export const DEFAULT_WORKDIR = "/root";
export const DEFAULT_PLATFORM = "linux/amd64";
/** The placeholder in `tagFormat` that the spec hash replaces (flytekit's name for it). */
export const SPEC_HASH_PLACEHOLDER = "{spec_hash}";
/** Length of the spec hash in a tag: 26 base32 characters, 130 bits. */
export const SPEC_HASH_LENGTH = 26;

/** Marks ImageSpec values, also across two copies of this package (a CLI and a user's import). */
export const IMAGE_SPEC_BRAND: unique symbol = Symbol.for("imagespec.ImageSpec") as never;

export function isImageSpecValue(value: unknown): value is ImageSpec {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[IMAGE_SPEC_BRAND] === true;
}

export type Check<T> = (value: T) => { message: string; hint?: string } | undefined;

/** Attaches a check that reports its message (and hint) as a custom issue on the value's path. */
function checked<S extends z.ZodType>(schema: S, check: Check<z.output<S>>): S {
  return schema.superRefine((value, ctx) => {
    const problem = check(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem.message, input: value, params: { hint: problem.hint } });
  }) as S;
}

/** A list whose items are each checked; issues land on `field[i]`. */
export function checkedList(item: z.ZodType<string>, check: Check<string>) {
  return z.array(item).superRefine((items, ctx) => {
    items.forEach((value, index) => {
      const problem = check(value);
      if (problem) ctx.addIssue({ code: "custom", message: problem.message, path: [index], input: value, params: { hint: problem.hint } });
    });
  });
}

export const text = z.string().min(1);
/** YAML turns `PORT: 8080` into a number; environment values and labels are strings, so convert. */
export const scalarText = z.union([z.string(), z.number(), z.boolean()], { error: "expected a string" }).transform(String);

const nameSchema = checked(
  z.string().transform((name) => name.trim().toLowerCase()),
  (name) => {
    const components = name.split("/");
    const bad = components.find((c) => !/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/.test(c));
    if (bad === undefined && name.length <= 255) return undefined;
    return {
      message: `${JSON.stringify(name)} is not a valid image name: expected lower-case letters and digits separated by '.', '_', '-' (and '/' between path parts)`,
      hint: "name the image like a repository, e.g. my-app or team/my-app",
    };
  },
);

const registrySchema = checked(z.string(), (registry) => {
  let host: string;
  try {
    host = parseRegistryLocation(registry).host;
  } catch (error) {
    if (!(error instanceof ImagespecError)) throw error;
    return { message: error.message, hint: error.hint ?? "write the registry as host[:port][/path]" };
  }
  // A registry vendor checks the hosts it claims (an ECR region typo: "did you mean us-east-1?").
  for (const vendor of specVendors()) {
    const { problem } = vendor.checkRegistry(registry, host);
    if (problem) return problem;
  }
  return undefined;
});

/** A reference string, or a nested ImageSpec (plain objects are turned into ImageSpecs before parsing). */
const baseImageSchema = z
  .union([z.string(), z.custom<ImageSpec>(isImageSpecValue)], { error: "expected an image reference (like python:3.12-slim) or a nested ImageSpec" })
  .superRefine((value, ctx) => {
    if (typeof value !== "string") return;
    try {
      parseReference(value);
    } catch (error) {
      if (!(error instanceof ImagespecError)) throw error;
      ctx.addIssue({ code: "custom", message: error.message, input: value, params: { hint: error.hint } });
    }
  });

const pythonVersionSchema = z
  .union([z.string(), z.number()], { error: "expected a Python version like \"3.12\"" })
  .superRefine((value, ctx) => {
    if (typeof value === "number") {
      ctx.addIssue({
        code: "custom",
        message: `${value} is a number; write the version as a string such as "3.12", since YAML reads 3.10 as 3.1`,
        input: value,
        params: { hint: 'quote it: python_version: "3.12"' },
      });
    } else if (!/^3\.\d{1,2}(?:\.\d{1,2})?$/.test(value)) {
      ctx.addIssue({ code: "custom", message: `${JSON.stringify(value)} is not a Python 3 version: expected major.minor like "3.12" (or "3.12.4")`, input: value });
    }
  })
  .transform(String);

/** `cuda: "12.4"`: the majors with NVIDIA runtime wheels (src/python/gpu.ts maps them). */
const cudaSchema = checked(z.string(), (value) =>
  /^(?:11|12)(?:\.\d+){0,2}$/.test(value.trim())
    ? undefined
    : { message: `${JSON.stringify(value)} is not a CUDA version imagespec installs: expected 11.x or 12.x, e.g. "12.4"`, hint: "for another CUDA, start from a base image that has it, e.g. nvidia/cuda:<version>-runtime-ubuntu22.04" },
);
/** `cudnn: "9"`: cuDNN 8 or 9. */
const cudnnSchema = checked(z.string(), (value) =>
  /^(?:8|9)(?:\.\d+){0,3}$/.test(value.trim()) ? undefined : { message: `${JSON.stringify(value)} is not a cuDNN version imagespec installs: expected 8.x or 9.x, e.g. "9"` },
);

const requirementList = checkedList(z.string(), (requirement) => {
  const problem = checkRequirement(requirement);
  if (problem === undefined) return undefined;
  return {
    message: `${JSON.stringify(requirement)} is not a PEP 508 requirement: ${problem}`,
    hint: 'write name[extras] op version[, op version] [; marker] or name @ url, e.g. "numpy>=1.26" or "torch==2.3.0; sys_platform == \'linux\'"',
  };
});

const aptList = checkedList(z.string(), (pkg) => {
  const parsed = parseAptPackage(pkg);
  return "problem" in parsed ? { message: parsed.problem, hint: "write an apt package as name[:arch][=version], e.g. libssl-dev or curl=7.88.1-10+deb12u5" } : undefined;
});

const wordList = checkedList(text, (word) =>
  /\s/.test(word.trim()) || word.trim() === "" ? { message: `${JSON.stringify(word)} must be one word without spaces` } : undefined,
);

const condaPackageList = checkedList(z.string(), (spec) => (spec.trim() === "" ? { message: "a conda package spec is empty" } : undefined));

const containedPath = checked(z.string(), (path) => {
  const problem = checkContainedPath(path);
  return problem ? { message: problem, hint: "paths are relative to the spec file's folder and stay inside it" } : undefined;
}).transform(normaliseContainedPath);

/** The requirements file may live anywhere: it is hashed by content, not copied by path. */
const requirementsPath = checked(z.string(), (path) => (path.trim() === "" ? { message: "the requirements path is empty" } : undefined));

const imagePath = checked(z.string(), (path) => {
  const problem = checkImagePath(path);
  return problem ? { message: problem } : undefined;
}).transform(normaliseImagePath);

const copyDestination = checked(z.string(), (dest) => {
  if (dest.startsWith("/")) {
    const problem = checkImagePath(dest);
    return problem ? { message: problem } : undefined;
  }
  if (dest.trim() === "" || dest.includes("\\") || dest.split("/").includes("..")) {
    return {
      message: `${JSON.stringify(dest)} is not a destination: expected an absolute path in the image or a path relative to workdir, with '/' and no '..'`,
      hint: "a relative destination lands under workdir; an absolute one is used as is",
    };
  }
  return undefined;
});

/** `copy` item: a path copied to the same relative path under workdir (flytekit), or {src, dest}. */
export const copyEntrySchema = z
  .union([z.string(), z.strictObject({ src: z.string(), dest: copyDestination.optional() })], {
    error: 'expected a relative path (like "src") or {src, dest}',
  })
  // The path check sits outside the union so that its message, not "no option matched", is reported.
  .superRefine((entry, ctx) => {
    const src = typeof entry === "string" ? entry : entry.src;
    const problem = checkContainedPath(src);
    if (problem) {
      ctx.addIssue({ code: "custom", message: problem, path: typeof entry === "string" ? [] : ["src"], input: src, params: { hint: "copy paths are relative to the spec file's folder and stay inside it" } });
    }
  })
  .transform((entry) => (typeof entry === "string" ? normaliseContainedPath(entry) : { ...entry, src: normaliseContainedPath(entry.src) }));

const platformSchema = z
  .union([z.string(), z.array(z.string())], { error: 'expected a platform like "linux/amd64", a comma-separated list, or a list' })
  .transform((value, ctx) => {
    const written = typeof value === "string" ? value.split(",") : value;
    const platforms = new Set<string>();
    written.forEach((entry, index) => {
      const where = typeof value === "string" ? [] : [index];
      try {
        const platform = parsePlatform(entry);
        if (platform.os !== "linux") {
          ctx.addIssue({ code: "custom", message: `${JSON.stringify(entry)}: only linux images can be built`, path: where, input: entry });
          return;
        }
        // arm64 has one variant in practice; writing it or not must not change the image.
        if (platform.architecture === "arm64" && platform.variant === "v8") delete platform.variant;
        platforms.add(formatPlatform(platform));
      } catch (error) {
        if (!(error instanceof ImagespecError)) throw error;
        ctx.addIssue({ code: "custom", message: error.message, path: where, input: entry, params: { hint: error.hint } });
      }
    });
    if (written.length === 0) ctx.addIssue({ code: "custom", message: "the platform list is empty", input: value });
    return [...platforms];
  });

const urlSchema = checked(z.string(), (url) => {
  try {
    const parsed = new URL(url);
    if (["http:", "https:", "file:"].includes(parsed.protocol)) return undefined;
  } catch {
    // reported below
  }
  return { message: `${JSON.stringify(url)} is not an http(s) or file URL`, hint: "an index URL looks like https://pypi.org/simple" };
});

// An image config's Env is "NAME=value" C strings: a NUL would cut the variable short at run time.
const environmentSchema = z.record(z.string(), scalarText).superRefine((env, ctx) => {
  for (const [key, value] of Object.entries(env)) {
    if (key === "" || key.includes("=") || key.includes("\0")) {
      ctx.addIssue({ code: "custom", message: `${JSON.stringify(key)} is not an environment variable name: it must be non-empty and contain no '=' and no NUL character`, path: [key], input: key, params: { hint: "name variables like LOG_LEVEL" } });
    } else if (value.includes("\0")) {
      ctx.addIssue({ code: "custom", message: "the value contains a NUL character (\\0), which cannot be passed in an environment", path: [key], input: value, params: { hint: "remove the NUL character from the value" } });
    }
  }
});

const labelSchema = z.record(z.string(), scalarText).superRefine((labels, ctx) => {
  for (const key of Object.keys(labels)) {
    if (key.trim() === "") ctx.addIssue({ code: "custom", message: "a label key is empty", path: [key], input: key });
  }
});

const argvSchema = z.array(z.string(), {
  error: (issue) => (typeof issue.input === "string" ? `expected a list of arguments, like ["python", "main.py"], not the string ${JSON.stringify(issue.input)}` : undefined),
});

const userSchema = checked(z.string(), (user) =>
  /^[A-Za-z0-9_.][A-Za-z0-9_.-]*(?::[A-Za-z0-9_.][A-Za-z0-9_.-]*)?$/.test(user)
    ? undefined
    : { message: `${JSON.stringify(user)} is not a user: expected name, uid, name:group or uid:gid` },
);

const tagFormatSchema = checked(z.string(), (format) => {
  if (!format.includes(SPEC_HASH_PLACEHOLDER)) {
    return {
      message: `${JSON.stringify(format)} has no ${SPEC_HASH_PLACEHOLDER}; without it the tag would not change with the spec and a stale image would be reused`,
      hint: `put ${SPEC_HASH_PLACEHOLDER} in the format, e.g. "${SPEC_HASH_PLACEHOLDER}-gpu"`,
    };
  }
  const other = format.replaceAll(SPEC_HASH_PLACEHOLDER, "").match(/\{[^}]*\}/);
  if (other) return { message: `${JSON.stringify(format)}: unknown placeholder ${other[0]}; the only placeholder is ${SPEC_HASH_PLACEHOLDER}` };
  const problem = checkTag(format.replaceAll(SPEC_HASH_PLACEHOLDER, "a".repeat(SPEC_HASH_LENGTH)));
  return problem ? { message: `${JSON.stringify(format)} does not make a valid tag: ${problem}` } : undefined;
});

/** The spec's own fields; vendors' settings blocks (`ecr`) are added by imageSpecSchema(). */
const specShape = {
  /** Repository name inside the registry, lower-cased (flytekit lower-cases it too). */
  name: nameSchema,
  /** `host[:port][/prefix]`; without it the image is named `name:tag`. */
  registry: registrySchema.optional(),
  baseImage: baseImageSchema.optional(),
  pythonVersion: pythonVersionSchema.optional(),
  /** CUDA runtime version (`"12.4"`): NVIDIA's wheels natively, conda's `cuda` on the Dockerfile path. */
  cuda: cudaSchema.optional(),
  /** cuDNN version (`"9"`); needs `cuda`. */
  cudnn: cudnnSchema.optional(),
  packages: requirementList.default([]),
  /** Path of a requirements.txt, relative to baseDir. */
  requirements: requirementsPath.optional(),
  aptPackages: aptList.default([]),
  condaPackages: condaPackageList.default([]),
  condaChannels: wordList.default([]),
  env: environmentSchema.default({}),
  commands: z.array(text).default([]),
  copy: z.array(copyEntrySchema).default([]),
  sourceRoot: containedPath.optional(),
  /** Normalised platform strings, e.g. ["linux/amd64", "linux/arm64"]. */
  platform: platformSchema.prefault(DEFAULT_PLATFORM),
  pipIndex: urlSchema.optional(),
  pipExtraIndexUrl: z
    .union([urlSchema, z.array(urlSchema)], { error: "expected an index URL or a list of them" })
    .transform((urls) => (typeof urls === "string" ? [urls] : urls))
    .prefault([]),
  pipExtraArgs: z.string().optional(),
  entrypoint: argvSchema.optional(),
  cmd: argvSchema.optional(),
  workdir: imagePath.default(DEFAULT_WORKDIR),
  user: userSchema.optional(),
  labels: labelSchema.default({}),
  tagFormat: tagFormatSchema.optional(),
  builder: z.enum(BUILDERS, { error: (issue) => (typeof issue.input === "string" ? flytekitBuilder(issue.input) : undefined) }).default("auto"),
  // Known keys only (snake_case accepted, typos answered with the nearest key, see keys.ts); which
  // builder reads which is checked in validate.ts, the values where they are used.
  builderOptions: z.strictObject(Object.fromEntries(BUILDER_OPTIONS.auto.map((key) => [key, z.unknown().optional()])) as Record<BuilderOptionKey, z.ZodOptional<z.ZodUnknown>>).default({}),
};

/** The spec's own fields, without vendor settings: the shape the field types come from. */
export const baseSpecSchema = z.strictObject({ ...specShape, forcePush: z.boolean().default(false) });

/** The whole spec schema: parses to ImageSpecFields; `shape` has every field, the vendors' blocks too. */
export type SpecSchema = z.ZodType<ImageSpecFields, ImageSpecSchemaInput> & { readonly shape: Readonly<Record<string, z.ZodType>> };

let built: { version: number; schema: SpecSchema } | undefined;

/**
 * The whole spec schema: the spec's fields, each registered vendor's settings block (`ecr`,
 * defaulted when absent), and the vendors' checks of a spec pushing to their registries. Built
 * again when a vendor is registered.
 */
export function imageSpecSchema(): SpecSchema {
  if (built?.version !== specVendorsVersion()) {
    const vendors = specVendors();
    const schema = z
      .strictObject({
        ...specShape,
        ...Object.fromEntries(vendors.map((vendor) => [vendor.key, vendor.settings.prefault({})])),
        forcePush: z.boolean().default(false),
      })
      .superRefine((spec, ctx) => {
        if (spec.registry === undefined) return;
        let host: string;
        try {
          host = parseRegistryLocation(spec.registry).host;
        } catch {
          return; // the registry field reports it
        }
        for (const vendor of vendors) {
          if (!vendor.claims(host) || vendor.checkRegistry(spec.registry, host).problem) continue;
          const settings = (spec as Record<string, unknown>)[vendor.key];
          for (const problem of vendor.checkSpec({ name: spec.name, registry: spec.registry, settings })) {
            ctx.addIssue({ code: "custom", message: problem.message, path: [...problem.path], input: problem.path[0] === vendor.key ? settings : spec.registry, params: { hint: problem.hint } });
          }
        }
      });
    built = { version: specVendorsVersion(), schema: schema as unknown as SpecSchema };
  }
  return built.schema;
}

function flytekitBuilder(name: string): string | undefined {
  const instead = Object.hasOwn(FLYTEKIT_BUILDERS, name) ? FLYTEKIT_BUILDERS[name] : undefined;
  return instead === undefined ? undefined : `${JSON.stringify(name)} is a flytekit builder that imagespec does not have: ${instead}`;
}

/** A spec as code writes it (camelCase), with the vendors' settings blocks. Files may also use snake_case; see keys.ts. */
export type ImageSpecSchemaInput = z.input<typeof baseSpecSchema> & Partial<VendorSettingsInput>;
/** A parsed spec: defaults applied, values normalised, the vendors' settings blocks filled in. */
export type ImageSpecFields = z.output<typeof baseSpecSchema> & VendorSettings;
export type CopyEntry = z.output<typeof copyEntrySchema>;
export type CopyInput = z.input<typeof copyEntrySchema>;
export type Builder = (typeof BUILDERS)[number];
