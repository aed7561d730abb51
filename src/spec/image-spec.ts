// ImageSpec: an immutable, validated image description. Builder methods return a new spec, as
// go-containerregistry's mutate does for images. Constructing one does no I/O: relative paths are
// kept as written and resolved against `baseDir` when files are collected (src/spec/files.ts).
import { resolve } from "node:path";
import { ValidationError, type ValidationIssue } from "../errors.js";
import { parsePlatform, type Platform } from "../oci/types.js";
import { parseReference, parseRegistryLocation, type RegistryLocation } from "../reference/reference.js";
import {
  IMAGE_SPEC_BRAND,
  isImageSpecValue,
  type CopyInput,
  type ImageSpecFields,
  type ImageSpecSchemaInput,
} from "./schema.js";
import { validateSpecInput } from "./validate.js";

/** A spec as code writes it. `baseImage` may be a reference, another ImageSpec, or a nested spec object. */
export type ImageSpecInput = Omit<ImageSpecSchemaInput, "baseImage"> & { baseImage?: string | ImageSpec | ImageSpecInput };

export interface ImageSpecOptions {
  /** The folder relative paths (copy, sourceRoot, requirements) resolve against. Default: the current directory. */
  baseDir?: string;
}

/** The schema's fields an ImageSpec exposes as they are (`forcePush` is read as `isForcePush`). */
type PlainField = Exclude<keyof ImageSpecFields, "forcePush" | "baseImage">;

/**
 * The spec's fields as an ImageSpec holds them: declared once, by the schema (src/spec/schema.ts,
 * where each field is documented), read-only, each present (an optional one may be undefined), and
 * with a nested base as an ImageSpec.
 */
export type ImageSpecFieldValues = { readonly [K in PlainField]: Readonly<ImageSpecFields[K]> } & {
  /** A reference, or a nested ImageSpec that is built first. */
  readonly baseImage: string | ImageSpec | undefined;
};

// The class declares no field the schema already declares: this interface gives it their types,
// and the constructor assigns them from the parsed fields (Object.assign below), so each is set.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging, @typescript-eslint/no-empty-object-type
export interface ImageSpec extends ImageSpecFieldValues {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class ImageSpec {
  readonly [IMAGE_SPEC_BRAND] = true as const;

  /** Push even when the tag already exists in the registry (set with `forcePush()`). */
  readonly isForcePush: boolean;
  /** Absolute folder that relative paths resolve against. */
  readonly baseDir: string;
  /** "cwd" when no baseDir was given: loaders then rebind the spec to its file's folder. */
  readonly baseDirSource: "explicit" | "cwd";
  /** Problems that do not stop a build, e.g. an AWS region newer than imagespec's table. */
  readonly warnings: readonly ValidationIssue[];

  readonly #fields: ImageSpecFields;

  /** Validates the input; throws ValidationError listing every problem. */
  constructor(input: ImageSpecInput, options: ImageSpecOptions = {}) {
    this.baseDir = resolve(options.baseDir ?? process.cwd());
    this.baseDirSource = options.baseDir === undefined ? "cwd" : "explicit";
    const { fields, issues, warnings } = validateSpecInput(input, this.baseDir, this.baseDirSource === "explicit");
    if (!fields || issues.length > 0) throw new ValidationError(issues);
    this.#fields = deepFreeze(fields);
    const { forcePush, ...rest } = this.#fields;
    Object.assign(this, rest);
    this.isForcePush = forcePush;
    this.warnings = Object.freeze(warnings);
    Object.freeze(this);
  }

  /** This package's ImageSpec for a value branded as one (possibly from another copy of the package). */
  static from(value: unknown): ImageSpec {
    if (value instanceof ImageSpec) return value;
    if (!isImageSpecValue(value)) throw new TypeError("not an ImageSpec");
    // Another copy's instance: rebuild it from its public data.
    const foreign = value as ImageSpec;
    return new ImageSpec(foreign.toJSON(), foreign.baseDirSource === "explicit" ? { baseDir: foreign.baseDir } : {});
  }

  /** The platforms to build, parsed; `linux/amd64` unless the spec says otherwise. */
  platforms(): Platform[] {
    return this.platform.map((p) => parsePlatform(p));
  }

  /** The registry as host and repository prefix, or undefined when no registry is set. */
  registryLocation(): RegistryLocation | undefined {
    return this.registry === undefined ? undefined : parseRegistryLocation(this.registry);
  }

  /** The repository path inside the registry: the registry's prefix, `/`, the name (`team/app`). */
  repository(): string {
    const location = this.registryLocation();
    if (!location) return this.name;
    // Parsing applies Docker Hub's `library/` rule, so the path is the one the registry uses.
    return parseReference(`${location.host}/${location.prefix ? `${location.prefix}/` : ""}${this.name}`).repository;
  }

  withPackages(...packages: string[]): ImageSpec {
    return this.#with({ packages: [...this.packages, ...packages] });
  }

  withAptPackages(...packages: string[]): ImageSpec {
    return this.#with({ aptPackages: [...this.aptPackages, ...packages] });
  }

  withCommands(...commands: string[]): ImageSpec {
    return this.#with({ commands: [...this.commands, ...commands] });
  }

  withCopy(...entries: CopyInput[]): ImageSpec {
    return this.#with({ copy: [...this.copy, ...entries] });
  }

  /** Adds or overrides environment variables. */
  withEnv(env: Record<string, string>): ImageSpec {
    return this.#with({ env: { ...this.env, ...env } });
  }

  withRequirements(path: string): ImageSpec {
    return this.#with({ requirements: path });
  }

  /** The same spec pushed to another registry (`host[:port][/prefix]`). Not part of the tag. */
  withRegistry(registry: string): ImageSpec {
    return this.#with({ registry });
  }

  /** The same spec for other platforms (`linux/amd64,linux/arm64` or a list). Part of the tag. */
  withPlatform(platform: string | readonly string[]): ImageSpec {
    return this.#with({ platform: typeof platform === "string" ? platform : [...platform] });
  }

  /** Adds or overrides builder options (flytekit's `with_builder_options`), checked as the field is. Not part of the tag. */
  withBuilderOptions(options: NonNullable<ImageSpecInput["builderOptions"]>): ImageSpec {
    return this.#with({ builderOptions: { ...this.builderOptions, ...options } });
  }

  /** The same spec, pushed even if its tag already exists (flytekit's `force_push()`). Not part of the tag. */
  forcePush(): ImageSpec {
    return this.#with({ forcePush: true });
  }

  /** The same spec with relative paths resolved against `dir`; nested specs without their own folder follow. */
  withBaseDir(dir: string): ImageSpec {
    const base = this.baseImage instanceof ImageSpec && this.baseImage.baseDirSource === "cwd" ? this.baseImage.withBaseDir(dir) : this.baseImage;
    return new ImageSpec({ ...this.#input(), baseImage: base }, { baseDir: dir });
  }

  /** The fields as plain camelCase data (a nested base as its own fields), e.g. for JSON.stringify. */
  toJSON(): ImageSpecInput {
    const input = this.#input();
    return this.baseImage instanceof ImageSpec ? { ...input, baseImage: this.baseImage.toJSON() } : input;
  }

  #input(): ImageSpecInput {
    return structuredCloneFields(this.#fields);
  }

  #with(changes: Partial<ImageSpecInput>): ImageSpec {
    return new ImageSpec({ ...this.#input(), ...changes }, this.baseDirSource === "explicit" ? { baseDir: this.baseDir } : {});
  }
}

/** A mutable copy of the fields (the schema's output is valid input), keeping a nested ImageSpec as is. */
function structuredCloneFields(fields: ImageSpecFields): ImageSpecInput {
  const { baseImage, ...rest } = fields;
  const copy = structuredClone(rest) as ImageSpecInput;
  if (baseImage !== undefined) copy.baseImage = baseImage;
  return copy;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value) && !isImageSpecValue(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
