// The CLI's defaults: flags > environment > project config > user config. The project config is
// the nearest `imagespec.config.{json,yaml,yml}` from the working folder up (stopping at a
// repository root); the user config is `config.{json,yaml,yml}` (or `imagespec.config.*`) in
// $XDG_CONFIG_HOME/imagespec (~/.config/imagespec). Each setting fills the flag of the same
// meaning when the command line leaves it out, so every command sees one set of values.
import type { Command } from "commander";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { ImagespecError } from "../errors.js";
import { COMPRESSION_LEVELS, COMPRESSION_LEVELS_TEXT } from "../layer/levels.js";
import { checkHost } from "../reference/index.js";
import { BUILDERS, FLYTEKIT_BUILDERS } from "../spec/index.js";
import { closest } from "../spec/suggest.js";
import { parseTimeout } from "./registry-options.js";
import { parseSizeOrNever, SIZE_OR_NEVER } from "../units.js";

export const PROJECT_CONFIG_NAMES = ["imagespec.config.json", "imagespec.config.yaml", "imagespec.config.yml"];
const USER_CONFIG_NAMES = ["config.json", "config.yaml", "config.yml", ...PROJECT_CONFIG_NAMES];

type Kind = "string" | "path" | "hosts" | "count" | "builder" | "compression" | "level" | "duration" | "size-or-never";

interface SettingDefinition {
  /** camelCase key in config files (snake_case accepted too). */
  readonly key: string;
  readonly env: string;
  /** The flag it fills (commander's attribute name), and how the flag is written. */
  readonly option: string;
  readonly flag: string;
  readonly kind: Kind;
  readonly description: string;
}

/** Every setting, in the order `imagespec config` prints them. */
export const SETTINGS: readonly SettingDefinition[] = [
  { key: "registry", env: "IMAGESPEC_REGISTRY", option: "registry", flag: "--registry", kind: "string", description: "registry (host[/prefix]) for specs that name none" },
  { key: "builder", env: "IMAGESPEC_BUILDER", option: "builder", flag: "--builder", kind: "builder", description: `builder for every spec: ${BUILDERS.join(", ")}` },
  { key: "platform", env: "IMAGESPEC_PLATFORM", option: "platform", flag: "--platform", kind: "string", description: "platforms to build, e.g. linux/amd64,linux/arm64" },
  { key: "cacheDir", env: "IMAGESPEC_CACHE_DIR", option: "cacheDir", flag: "--cache-dir", kind: "path", description: "local build cache" },
  { key: "awsProfile", env: "IMAGESPEC_AWS_PROFILE", option: "awsProfile", flag: "--aws-profile", kind: "string", description: "AWS profile for Amazon ECR" },
  { key: "insecureRegistries", env: "IMAGESPEC_INSECURE_REGISTRIES", option: "insecureRegistry", flag: "--insecure-registry", kind: "hosts", description: "hosts reached without TLS verification" },
  { key: "caFile", env: "IMAGESPEC_CA_FILE", option: "caFile", flag: "--ca-file", kind: "path", description: "PEM file of extra trusted CA certificates" },
  { key: "concurrency", env: "IMAGESPEC_CONCURRENCY", option: "concurrency", flag: "--concurrency", kind: "count", description: "blobs transferred at once" },
  { key: "timeout", env: "IMAGESPEC_TIMEOUT", option: "timeout", flag: "--timeout", kind: "duration", description: "registry timeout (connect, headers, body idle), e.g. 30s" },
  { key: "compression", env: "IMAGESPEC_COMPRESSION", option: "compression", flag: "--compression", kind: "compression", description: "layer compression: gzip or zstd" },
  { key: "compressionLevel", env: "IMAGESPEC_COMPRESSION_LEVEL", option: "compressionLevel", flag: "--compression-level", kind: "level", description: `compression level: ${COMPRESSION_LEVELS_TEXT}` },
  {
    key: "uploadOnlyAbove",
    env: "IMAGESPEC_UPLOAD_ONLY_ABOVE",
    option: "uploadOnlyAbove",
    flag: "--upload-only-above",
    kind: "size-or-never",
    description: "a files layer this big (e.g. 128MiB) bound for a registry is only uploaded, not copied to the cache dir; never: always copy",
  },
];

export type SettingValue = string | number | string[];

export interface ResolvedSetting {
  readonly key: string;
  readonly value: SettingValue | undefined;
  /** "flag", "env IMAGESPEC_...", the config file's path, or "default". */
  readonly source: string;
}

export interface ConfigFiles {
  readonly project?: string;
  readonly user?: string;
}

export interface LoadedConfig {
  readonly files: ConfigFiles;
  /** Values from the environment and the files (flags are applied by the command). */
  readonly settings: ReadonlyMap<string, { value: SettingValue; source: string }>;
}

export interface ConfigContext {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export class ConfigError extends ImagespecError {
  constructor(message: string, hint: string) {
    super("INVALID_CONFIG", message, { hint });
  }
}

const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** The nearest project config from `cwd` up, stopping after a folder with `.git`. */
export function findProjectConfig(cwd: string): string | undefined {
  let dir = resolve(cwd);
  for (;;) {
    for (const name of PROJECT_CONFIG_NAMES) if (existsSync(join(dir, name))) return join(dir, name);
    const parent = dirname(dir);
    if (existsSync(join(dir, ".git")) || parent === dir) return undefined;
    dir = parent;
  }
}

export function userConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config");
  return join(base, "imagespec");
}

export function findUserConfig(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dir = userConfigDir(env);
  return USER_CONFIG_NAMES.map((n) => join(dir, n)).find((p) => existsSync(p));
}

/** Reads the environment and the config files; throws ConfigError (exit 2) naming the file and key. */
export async function loadConfig(context: ConfigContext = {}): Promise<LoadedConfig> {
  const env = context.env ?? process.env;
  const project = findProjectConfig(context.cwd ?? process.cwd());
  const user = findUserConfig(env);
  const settings = new Map<string, { value: SettingValue; source: string }>();
  // Lowest precedence first; later layers overwrite.
  for (const file of [user, project]) {
    if (file === undefined) continue;
    for (const [key, value] of Object.entries(await readConfigFile(file))) settings.set(key, { value, source: file });
  }
  for (const setting of SETTINGS) {
    const raw = env[setting.env];
    if (raw === undefined || raw.trim() === "") continue;
    settings.set(setting.key, { value: checkValue(setting, raw, `environment variable ${setting.env}`), source: `env ${setting.env}` });
  }
  return { files: { ...(project ? { project } : {}), ...(user ? { user } : {}) }, settings };
}

async function readConfigFile(file: string): Promise<Record<string, SettingValue>> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new ConfigError(`${file}: cannot read the config file (${(error as NodeJS.ErrnoException).code ?? String(error)})`, "check the file's permissions");
  }
  // yaml is loaded only for a YAML config file.
  const parse: (text: string) => unknown = file.endsWith(".json") ? JSON.parse : (await import("../spec/yaml.js")).parse;
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw new ConfigError(`${file}: not valid ${file.endsWith(".json") ? "JSON" : "YAML"}: ${(error as Error).message}`, "fix the syntax near the position given");
  }
  if (document === null || document === undefined) return {};
  if (typeof document !== "object" || Array.isArray(document)) throw new ConfigError(`${file}: expected a mapping of settings at the top`, `write e.g. registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com/team`);
  const byKey = new Map<string, SettingDefinition>();
  for (const s of SETTINGS) {
    byKey.set(s.key, s);
    byKey.set(snake(s.key), s);
  }
  const out: Record<string, SettingValue> = {};
  for (const [name, raw] of Object.entries(document as Record<string, unknown>)) {
    const setting = byKey.get(name);
    if (!setting) {
      const guess = closest(name, byKey.keys());
      throw new ConfigError(
        `${file}: unknown setting ${JSON.stringify(name)}${guess ? `; did you mean ${guess}?` : ""}`,
        `the settings are ${SETTINGS.map((s) => s.key).join(", ")}`,
      );
    }
    if (raw === null || raw === undefined) continue;
    const where = `${file}: ${name}`;
    const value = checkValue(setting, raw, where);
    // Paths in a config file are relative to the file, not to wherever the command runs.
    out[setting.key] = setting.kind === "path" && typeof value === "string" ? resolve(dirname(file), value) : value;
  }
  return out;
}

/** A value from the environment (a string) or a file (any YAML value), checked like its flag. */
function checkValue(setting: SettingDefinition, raw: unknown, where: string): SettingValue {
  const fail = (expected: string): never => {
    throw new ConfigError(`${where}: ${JSON.stringify(raw)} is not valid: expected ${expected}`, `fix or remove it; it is the default for ${setting.flag} (${setting.description})`);
  };
  switch (setting.kind) {
    case "string":
    case "path": {
      const text = Array.isArray(raw) && setting.key === "platform" ? raw.map(String).join(",") : raw;
      if (typeof text !== "string" || text.trim() === "") return fail("a non-empty string");
      return text.trim();
    }
    case "builder": {
      if (typeof raw !== "string" || !(BUILDERS as readonly string[]).includes(raw.trim())) {
        const flytekit = typeof raw === "string" && Object.hasOwn(FLYTEKIT_BUILDERS, raw.trim()) ? `; ${FLYTEKIT_BUILDERS[raw.trim()]}` : "";
        return fail(`one of ${BUILDERS.join(", ")}${flytekit}`);
      }
      return raw.trim();
    }
    case "compression": {
      if (raw !== "gzip" && raw !== "zstd") return fail("gzip or zstd");
      return raw;
    }
    case "level": {
      const n = wholeNumber(raw);
      // Which range applies depends on --compression: the build checks that; here, any level of any compressor.
      const levels = Object.values(COMPRESSION_LEVELS);
      if (!Number.isSafeInteger(n) || n < Math.min(...levels.map((l) => l.min)) || n > Math.max(...levels.map((l) => l.max))) return fail(`a whole number: ${COMPRESSION_LEVELS_TEXT}`);
      return n;
    }
    case "duration": {
      const seconds = typeof raw === "number" ? parseTimeout(String(raw)) : typeof raw === "string" ? parseTimeout(raw) : undefined;
      if (seconds === undefined) return fail("a duration above 0 and at most 1 hour: seconds (30, 30s), minutes (2m) or milliseconds (500ms)");
      return seconds;
    }
    case "size-or-never": {
      const value = typeof raw === "number" ? raw : typeof raw === "string" ? parseSizeOrNever(raw) : undefined;
      if (value !== "never" && (value === undefined || !Number.isSafeInteger(value) || value < 0)) return fail(SIZE_OR_NEVER);
      return value;
    }
    case "count": {
      const n = wholeNumber(raw);
      if (!Number.isSafeInteger(n) || n < 1) return fail("a whole number of at least 1");
      return n;
    }
    case "hosts": {
      const list = typeof raw === "string" ? raw.split(",") : Array.isArray(raw) ? raw : undefined;
      if (list === undefined || !list.every((h) => typeof h === "string")) return fail("hosts as a list or a comma-separated string");
      const hosts = (list as string[]).map((h) => h.trim()).filter((h) => h !== "");
      for (const host of hosts) {
        const problem = checkHost(host);
        if (problem) return fail(`HOST or HOST:PORT without a scheme or path (${JSON.stringify(host)}: ${problem})`);
      }
      return hosts;
    }
  }
}

/** Every setting with its value and where it came from, given the flags a command was run with. */
export function resolveSettings(config: LoadedConfig, flags: Readonly<Record<string, unknown>> = {}): ResolvedSetting[] {
  return SETTINGS.map((s) => {
    const flag = flags[s.option];
    if (flag !== undefined) return { key: s.key, value: flag as SettingValue, source: "flag" };
    const found = config.settings.get(s.key);
    return found ? { key: s.key, value: found.value, source: found.source } : { key: s.key, value: undefined, source: "default" };
  });
}

/** Fills each of the command's flags that the command line left out from the environment or a config file. */
export function applyConfig(command: Command, config: LoadedConfig): void {
  for (const setting of SETTINGS) {
    const found = config.settings.get(setting.key);
    if (!found) continue;
    if (!command.options.some((o) => o.attributeName() === setting.option)) continue;
    const source = command.getOptionValueSource(setting.option);
    if (source !== undefined && source !== "default" && source !== "implied") continue;
    command.setOptionValueWithSource(setting.option, found.value, "config");
  }
}

/** A number as written in a config file or the environment (a number, or digits in a string); NaN otherwise. */
function wholeNumber(raw: unknown): number {
  return typeof raw === "number" ? raw : typeof raw === "string" && /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
}
