// The registry flags every command that talks to registries shares (exists, inspect, copy, build),
// turned into the session's plain registry options (src/session): CA file, insecure hosts,
// credentials read from stdin (never argv), a verbose log of HTTP exchanges on stderr, upload
// concurrency, and the AWS profile for ECR. Also the one place that reads an image from wherever a
// user names it (a registry reference or an `oci:DIR[:TAG]` layout).
import { InvalidArgumentError, Option, type Command } from "commander";
import type { Readable } from "node:stream";
import { ImagespecError } from "../errors.js";
import {
  formatPlatform,
  isImageIndex,
  parsePlatform,
  platformMatches,
  readLayout,
  type Image,
  type ImageIndex,
  type Platform,
} from "../oci/index.js";
import { checkHost } from "../reference/index.js";
import type { EcrSupportOptions } from "../ecr/index.js";
import {
  authKeyHost,
  checkEndpoint,
  parseRegistryEndpoints,
  REGISTRY_ENDPOINTS_ENV,
  Credential,
  DEFAULT_TIMEOUT_MS,
  readConfig,
  type CredentialSource,
  type ImageLocation,
  type Registry,
  type RegistryLogEvent,
} from "../registry/index.js";
import { createRegistrySession, type SessionRegistryOptions } from "../session/index.js";

/** The parsed flags, as commander hands them to an action (camel-cased). */
export interface RegistryFlags {
  caFile?: string;
  insecureRegistry?: string[];
  username?: string;
  passwordStdin?: boolean;
  /** Accepted by the parser only to be refused with an explanation: see registryFromOptions. */
  password?: string;
  verbose?: boolean;
  concurrency?: number;
  /** `host=url`, repeatable: reach a registry host at another URL. */
  registryEndpoint?: string[];
  /** AWS profile for ECR (default: the SDK's choice, AWS_PROFILE). */
  awsProfile?: string;
  /** Seconds to wait for a connection, for response headers and between body bytes. */
  timeout?: number;
}

export interface RegistryContext {
  /**
   * Hosts (`host[:port]`) the --username/--password-stdin credentials are offered to. Undefined:
   * every registry the command talks to.
   */
  readonly credentialHosts?: readonly string[];
  /** Extra credential sources, asked after the command-line credentials and the vendors'. */
  readonly providers?: readonly CredentialSource[];
  /** More registry options (timeouts, upload settings, a repository hook). */
  readonly registryOptions?: Omit<SessionRegistryOptions, "credentials" | "providers" | "env" | "caFile" | "insecureRegistries" | "concurrency" | "logger">;
  /** Default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Where --password-stdin reads from. Default process.stdin. */
  readonly stdin?: Readable;
  /** Where --verbose writes. Default process.stderr. */
  readonly stderr?: { write(text: string): unknown };
}

export const CA_FILE_ENV = "IMAGESPEC_CA_FILE";
export const INSECURE_REGISTRIES_ENV = "IMAGESPEC_INSECURE_REGISTRIES";

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError("expected a whole number of at least 1");
  return n;
}

function endpointMapping(value: string, previous: string[] | undefined): string[] {
  const eq = value.indexOf("=");
  if (eq <= 0) throw new InvalidArgumentError("expected HOST=URL, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com=https://vpce-example:443");
  try {
    checkEndpoint(value.slice(0, eq), value.slice(eq + 1));
  } catch (error) {
    throw new InvalidArgumentError(error instanceof Error ? error.message : String(error));
  }
  return [...(previous ?? []), value.trim()];
}

/** `30`, `30s`, `1.5m`, `500ms` -> seconds; the one syntax of --timeout, IMAGESPEC_TIMEOUT and `timeout:`. */
export function parseTimeout(value: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/i.exec(value);
  if (!match) return undefined;
  const n = Number(match[1]) * ({ ms: 0.001, s: 1, m: 60 }[(match[2] ?? "s").toLowerCase() as "ms" | "s" | "m"]);
  return n > 0 && n <= 3600 ? n : undefined;
}

function timeoutOption(value: string): number {
  const seconds = parseTimeout(value);
  if (seconds === undefined) throw new InvalidArgumentError("expected a duration above 0 and at most 1 hour: seconds (30, 30s), minutes (2m) or milliseconds (500ms)");
  return seconds;
}

/** The ECR options the flags set (--aws-profile), over `options`. */
export function ecrOptionsFromFlags(flags: Pick<RegistryFlags, "awsProfile">, options: EcrSupportOptions = {}): EcrSupportOptions {
  return { ...options, ...(flags.awsProfile !== undefined ? { profile: flags.awsProfile } : {}) };
}

function registryHost(value: string, previous: string[] | undefined): string[] {
  const host = value.trim();
  if (host.includes("@")) throw new InvalidArgumentError("a host holds no user name or password; give credentials with --username and --password-stdin");
  const problem = checkHost(host);
  if (problem) throw new InvalidArgumentError(`${problem}; write a host as HOST or HOST:PORT, without a scheme or path`);
  return [...(previous ?? []), host];
}

/** Adds the shared registry flags to a command (call before its action runs). */
export function addRegistryOptions(command: Command): Command {
  // `register` has its own --timeout (FlyteAdmin calls); there the one value bounds both.
  if (!command.options.some((o) => o.long === "--timeout")) {
    command.option("--timeout <duration>", `longest wait for a registry connection, its answer's headers, or the next byte of a body; stalled requests are tried twice (default ${DEFAULT_TIMEOUT_MS / 1000}s; env IMAGESPEC_TIMEOUT)`, timeoutOption);
  }
  return command
    .option("--ca-file <file>", `PEM file of CA certificates trusted besides the system ones (env ${CA_FILE_ENV})`)
    .option(
      "--insecure-registry <host>",
      `reach this host[:port] without verifying its certificate, falling back to plain HTTP; repeatable (env ${INSECURE_REGISTRIES_ENV}, comma-separated)`,
      registryHost,
    )
    .option("--username <user>", "user name for the registries named on the command line (password from --password-stdin)")
    .option("--password-stdin", "read the password for --username from stdin (up to EOF; one trailing newline is dropped)")
    .addOption(new Option("--password <password>", "refused: a password in argv is visible to every user of the machine").hideHelp())
    .option("--verbose", "print every HTTP exchange with the registries on stderr (credentials and tokens redacted)")
    .option("--concurrency <n>", "blobs transferred at once (default 4)", positiveInteger)
    .option(
      "--registry-endpoint <host=url>",
      `send requests for registry HOST to URL (a VPC endpoint, a mirror); references and credentials keep HOST; repeatable (env ${REGISTRY_ENDPOINTS_ENV}, comma-separated)`,
      endpointMapping,
    )
    .option("--aws-profile <name>", "AWS profile for Amazon ECR login and repositories (default: the AWS SDK's choice, e.g. AWS_PROFILE)");
}

function usage(message: string, hint: string): ImagespecError {
  return new ImagespecError("INVALID_OPTION", message, { hint });
}

/** Reads stdin to the end and returns it without one trailing newline. */
async function readPassword(stdin: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}

/**
 * A registry client for the flags (see registryOptionsFromFlags), with ECR login from --aws-profile;
 * repositories are not created (exists, inspect, copy): that is what building a spec does.
 */
export async function registryFromOptions(flags: RegistryFlags, context: RegistryContext = {}): Promise<Registry> {
  const options = await registryOptionsFromFlags(flags, context);
  return createRegistrySession({ registry: options, ecr: ecrOptionsFromFlags(flags, { manageRepositories: false }) }).registry;
}

/** The values of the flags and their environment defaults, checked, as a session's registry options. Throws INVALID_OPTION (exit 2). */
export async function registryOptionsFromFlags(flags: RegistryFlags, context: RegistryContext = {}): Promise<SessionRegistryOptions> {
  const env = context.env ?? process.env;
  if (flags.password !== undefined) {
    // The value is never echoed: it is exactly what must not end up in logs.
    throw usage("--password is not accepted: a password on the command line can be read by every user of the machine (ps, /proc) and lands in shell history", "pipe it in instead: printf %s \"$PASSWORD\" | imagespec ... --username USER --password-stdin");
  }
  if (flags.passwordStdin && flags.username === undefined) throw usage("--password-stdin needs --username", "pass the user name with --username USER");
  if (flags.username !== undefined && !flags.passwordStdin) throw usage("--username needs --password-stdin", "pipe the password in: printf %s \"$PASSWORD\" | imagespec ... --username USER --password-stdin");

  let secret: string | undefined;
  const sources: CredentialSource[] = [];
  if (flags.username !== undefined) {
    if (flags.username === "") throw usage("--username is empty", "pass the user name with --username USER");
    secret = await readPassword(context.stdin ?? process.stdin);
    if (secret === "") throw usage("--password-stdin read an empty password", "pipe the password in: printf %s \"$PASSWORD\" | imagespec ... --username USER --password-stdin");
    const credential = Credential.basic(flags.username, secret, "command-line");
    const hosts = context.credentialHosts ? new Set(context.credentialHosts.map((h) => authKeyHost(h))) : undefined;
    sources.push({ name: "command-line", resolve: async (registry) => (hosts === undefined || hosts.has(authKeyHost(registry)) ? credential : undefined) });
  }
  let endpoints: Record<string, string>;
  try {
    endpoints = parseRegistryEndpoints(flags.registryEndpoint ?? (env[REGISTRY_ENDPOINTS_ENV] ?? ""));
  } catch (error) {
    if (flags.registryEndpoint === undefined && error instanceof ImagespecError) throw usage(`${REGISTRY_ENDPOINTS_ENV}: ${error.message}`, error.hint ?? "");
    throw error;
  }

  const caFile = flags.caFile ?? (env[CA_FILE_ENV] || undefined);
  let insecure = flags.insecureRegistry;
  if (insecure === undefined) {
    insecure = [];
    for (const host of (env[INSECURE_REGISTRIES_ENV] ?? "").split(",").map((h) => h.trim()).filter((h) => h !== "")) {
      const problem = checkHost(host);
      if (problem) throw usage(`${INSECURE_REGISTRIES_ENV}: ${JSON.stringify(host)}: ${problem}`, "list hosts as HOST or HOST:PORT separated by commas, without a scheme or path");
      insecure.push(host);
    }
  }
  const stderr = context.stderr ?? process.stderr;
  const logger = flags.verbose ? verboseLogger((line) => stderr.write(`${line}\n`), secret) : undefined;
  return {
    ...context.registryOptions,
    credentials: sources,
    ...(context.providers ? { providers: context.providers } : {}),
    env,
    ...(caFile !== undefined ? { caFile } : {}),
    insecureRegistries: insecure,
    ...(flags.concurrency !== undefined ? { concurrency: flags.concurrency } : {}),
    ...(logger ? { logger } : {}),
    ...(Object.keys(endpoints).length > 0 ? { endpoints } : {}),
    ...(flags.timeout !== undefined ? { timeouts: { connectMs: flags.timeout * 1000, headersMs: flags.timeout * 1000, bodyIdleMs: flags.timeout * 1000 } } : {}),
  };
}

/**
 * Lines for the registry's log events, curl -v style: `>` what was sent, `<` what came back, `*`
 * everything else. The events arrive redacted; the known password is scrubbed once more anyway.
 */
export function verboseLogger(write: (line: string) => void, secret?: string): (event: RegistryLogEvent) => void {
  const scrub = (text: string): string => (secret !== undefined && secret.length >= 3 ? text.split(secret).join("[redacted]") : text);
  const out = (line: string): void => write(scrub(line));
  const headers = (prefix: string, h: Record<string, string>): void => {
    for (const [name, value] of Object.entries(h)) out(`${prefix}   ${name}: ${value}`);
  };
  return (event) => {
    switch (event.type) {
      case "request":
        out(`> ${event.method} ${event.url}`);
        headers(">", event.headers);
        break;
      case "response":
        out(`< ${event.status} ${event.method} ${event.url} (${event.ms} ms)`);
        headers("<", event.headers);
        break;
      case "retry":
        out(`* retry ${event.method} ${event.url} in ${event.delayMs} ms (attempt ${event.attempt}: ${event.reason})`);
        break;
      case "redirect":
        out(`* redirect ${event.method} ${event.from} -> ${event.to}${event.droppedAuthorization ? " (authorization not forwarded)" : ""}`);
        break;
      case "scheme":
        out(`* ${event.registry} speaks ${event.scheme}`);
        break;
      case "early-upload":
        out(`* upload while compressing to ${event.repository}: ${event.outcome}${event.reason ? ` (${event.reason})` : ""}`);
        break;
      case "auth":
        out(`* auth ${event.registry}: ${event.action} (${event.scheme}${event.source ? `, credentials from ${event.source}` : ", anonymous"}) for ${event.scopes.join(" ") || "no scope"}`);
        break;
    }
  };
}

/** The hosts of registry locations, for RegistryContext.credentialHosts. */
export function registryHosts(locations: readonly ImageLocation[]): string[] {
  return [...new Set(locations.flatMap((l) => (l.kind === "registry" ? [l.reference.registry] : [])))];
}

/**
 * What a location holds: an image or an index as stored, or with `platform` one image (from an
 * index, or a single image checked to be that platform).
 */
export async function loadImage(registry: Registry, location: ImageLocation, platform?: string): Promise<Image | ImageIndex> {
  const wanted = platform !== undefined ? parsePlatform(platform) : undefined;
  let value: Image | ImageIndex;
  if (location.kind === "layout") {
    value = await readLayout(location.layout.dir, {
      ...(location.layout.tag !== undefined ? { tag: location.layout.tag } : {}),
      ...(wanted ? { platform: wanted } : {}),
    });
  } else {
    value = wanted ? await registry.getImage(location.reference, wanted) : await registry.get(location.reference);
  }
  if (wanted && !isImageIndex(value)) {
    // A single image in a layout is returned whatever the platform; say so rather than pretend.
    const config = await readConfig(value.config);
    const actual: Platform = { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
    if (!platformMatches(wanted, actual)) {
      throw new ImagespecError("PLATFORM_NOT_FOUND", `the image is ${formatPlatform(actual)}, not ${formatPlatform(wanted)}`, { hint: "leave out --platform, or name an image built for that platform" });
    }
  }
  return value;
}
