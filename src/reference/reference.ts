// Image references: `host[:port]/path/name[:tag][@algo:hex]`, parsed and normalised the way
// Docker and go-containerregistry's pkg/name do (Docker Hub defaults, localhost, IPv6 hosts).
import { ImagespecError } from "../errors.js";

export const DOCKER_HUB = "docker.io";
const DOCKER_HUB_ALIASES = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const HOSTNAME = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*$/;
const IPV6 = /^\[[0-9a-fA-F:.]+(?:%[A-Za-z0-9]+)?\]$/;
const MAX_NAME = 255;

/** An image reference (or registry location) that cannot be parsed; named so as not to shadow the global ReferenceError. */
export class InvalidReferenceError extends ImagespecError {
  constructor(input: string, problem: string, hint: string) {
    // (A reference typed with `user:password@` is shown without the credential: ImagespecError redacts.)
    super("INVALID_REFERENCE", `invalid image reference ${JSON.stringify(input)}: ${problem}`, { hint });
  }
}

/** A parsed, normalised image reference. Immutable. */
export interface Reference {
  /** Registry host as written, with port; Docker Hub is always `docker.io`. */
  readonly registry: string;
  /** Repository path inside the registry, e.g. `library/python` or `team/app`. */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: string;
}

/** A registry host with an optional repository prefix, as the spec's `registry` field holds it. */
export interface RegistryLocation {
  readonly host: string;
  readonly prefix: string;
}

/** True when the first path component names a host rather than a Docker Hub namespace. */
function looksLikeHost(component: string): boolean {
  return component.includes(".") || component.includes(":") || component === "localhost" || component.startsWith("[");
}

/** Validates `host[:port]`, including bracketed IPv6 literals. Returns a problem or undefined. */
export function checkHost(host: string): string | undefined {
  if (host.includes("@")) return "a host holds no user name or password (give credentials with --username and --password-stdin)";
  let name = host;
  let port: string | undefined;
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    if (end < 0) return "an IPv6 host needs a closing ']'";
    name = host.slice(0, end + 1);
    const rest = host.slice(end + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) return `unexpected ${JSON.stringify(rest)} after the IPv6 host`;
      port = rest.slice(1);
    }
    if (!IPV6.test(name)) return `${JSON.stringify(name)} is not an IPv6 address`;
  } else {
    const colon = host.lastIndexOf(":");
    if (colon >= 0) {
      name = host.slice(0, colon);
      port = host.slice(colon + 1);
    }
    if (!HOSTNAME.test(name)) return `${JSON.stringify(name)} is not a valid host name`;
    if (name.length > 253) return "the host name is longer than 253 characters";
  }
  if (port !== undefined && !(/^\d{1,5}$/.test(port) && Number(port) > 0 && Number(port) < 65536)) {
    return `${JSON.stringify(port)} is not a valid port`;
  }
  return undefined;
}

function normaliseHost(host: string): string {
  // Host names and IPv6 literals are case-insensitive: lower-case them so equal hosts compare equal.
  const lower = host.toLowerCase();
  return DOCKER_HUB_ALIASES.has(lower) ? DOCKER_HUB : lower;
}

function checkRepository(repository: string): string | undefined {
  if (repository === "") return "the repository name is empty";
  if (repository.length > MAX_NAME) return `the repository name is longer than ${MAX_NAME} characters`;
  for (const component of repository.split("/")) {
    if (component === "") return "the repository path has an empty component (a leading, trailing or doubled '/')";
    if (!PATH_COMPONENT.test(component)) {
      const upper = component !== component.toLowerCase() ? " (upper case is not allowed)" : "";
      return `path component ${JSON.stringify(component)} must be lower-case letters and digits separated by '.', '_', '__' or '-'${upper}`;
    }
  }
  return undefined;
}

/** Checks a tag against the distribution spec grammar; returns a problem or undefined. */
export function checkTag(tag: string): string | undefined {
  if (TAG.test(tag)) return undefined;
  if (tag === "") return "the tag is empty";
  if (tag.length > 128) return "a tag is at most 128 characters";
  return "a tag is letters, digits, '_', '.' and '-', starting with a letter, digit or '_'";
}

export function parseReference(input: string): Reference {
  const text = input.trim();
  if (text === "") throw new InvalidReferenceError(input, "it is empty", "write it as host/repository:tag, e.g. localhost:5000/app:v1");
  if (/\s/.test(text)) throw new InvalidReferenceError(input, "it contains white space", "remove the spaces");
  refuseScheme(input, text, "an image reference");

  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  // `user:password@host/...`: an '@' before any '/' is user info, never a digest separator.
  if (at >= 0 && !rest.slice(0, at).includes("/") && rest.slice(at + 1).includes("/")) {
    throw new InvalidReferenceError(input, "an image reference holds no user name or password", "drop the user info before '@'; give credentials with --username and --password-stdin, or a docker/podman auth file");
  }
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) {
      throw new InvalidReferenceError(input, `${JSON.stringify(digest)} is not a digest`, "a digest looks like sha256:<64 hex characters>");
    }
    if (digest.startsWith("sha256:") && !/^sha256:[a-f0-9]{64}$/.test(digest)) {
      throw new InvalidReferenceError(input, "a sha256 digest has 64 lower-case hex characters", "copy the digest exactly");
    }
  }

  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const lastColon = rest.lastIndexOf(":");
  // A colon after the last slash is a tag separator; before it, it belongs to host:port.
  if (lastColon > lastSlash && !(lastSlash < 0 && rest.startsWith("["))) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    const problem = checkTag(tag);
    if (problem) throw new InvalidReferenceError(input, `tag ${JSON.stringify(tag)} is invalid: ${problem}`, "fix the tag after the ':'");
  }

  const slash = rest.indexOf("/");
  let registry: string;
  let repository: string;
  if (slash >= 0 && looksLikeHost(rest.slice(0, slash))) {
    registry = rest.slice(0, slash);
    repository = rest.slice(slash + 1);
    const problem = checkHost(registry);
    if (problem) throw new InvalidReferenceError(input, `registry host ${JSON.stringify(registry)} is invalid: ${problem}`, "write the registry as host[:port]");
    registry = normaliseHost(registry);
  } else {
    registry = DOCKER_HUB;
    repository = rest;
  }
  // Checked before Docker Hub's `library/` is added, which would hide an empty name.
  if (repository === "") throw new InvalidReferenceError(input, "the repository name is empty", "write it as host/repository:tag, e.g. localhost:5000/app:v1");
  if (registry === DOCKER_HUB && !repository.includes("/")) repository = `library/${repository}`;

  const problem = checkRepository(repository);
  if (problem) throw new InvalidReferenceError(input, problem, "repository names are lower case, e.g. team/my-image");
  if (tag === undefined && digest === undefined) tag = "latest";
  return { registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/**
 * The spec's `registry` field: `host[:port][/prefix/path]`. As in image references, a first component
 * that is not a host (no '.', no ':', not localhost) is a Docker Hub namespace: `myuser` is
 * docker.io/myuser, so `registry/name` names the same repository either way it is parsed.
 */
export function parseRegistryLocation(input: string): RegistryLocation {
  const text = input.trim().replace(/\/+$/, "");
  refuseScheme(input, text, "a registry");
  const slash = text.indexOf("/");
  const first = slash >= 0 ? text.slice(0, slash) : text;
  const isHost = looksLikeHost(first);
  const host = isHost ? first : DOCKER_HUB;
  const prefix = isHost ? (slash >= 0 ? text.slice(slash + 1) : "") : text;
  const hostProblem = first === "" ? "the host is empty" : checkHost(host);
  if (hostProblem) {
    throw new InvalidReferenceError(input, `registry host ${JSON.stringify(first)} is invalid: ${hostProblem}`, "write the registry as host[:port][/path], e.g. localhost:5000 or 123456789012.dkr.ecr.us-east-1.amazonaws.com/team");
  }
  if (prefix !== "") {
    const problem = checkRepository(prefix);
    if (problem) throw new InvalidReferenceError(input, `registry path ${JSON.stringify(prefix)}: ${problem}`, "the path after the host is lower case, e.g. /team");
  }
  return { host: normaliseHost(host), prefix };
}

/** `https://host/...`: registries are named by host; the scheme is chosen (or configured) separately. */
function refuseScheme(input: string, text: string, what: string): void {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text)?.[1];
  if (scheme === undefined) return;
  throw new InvalidReferenceError(input, `${what} has no scheme, but this starts with ${JSON.stringify(`${scheme}://`)}`, `drop the scheme: write ${JSON.stringify(text.slice(scheme.length + 3))}; plain HTTP is chosen with --insecure-registry (loopback hosts use it by default)`);
}

/** `registry/repository` with no tag or digest. */
export function repositoryName(ref: Reference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** The canonical string form: `registry/repository[:tag][@digest]`. */
export function formatReference(ref: Reference): string {
  return `${repositoryName(ref)}${ref.tag !== undefined ? `:${ref.tag}` : ""}${ref.digest !== undefined ? `@${ref.digest}` : ""}`;
}

/** What to put in a manifest URL: the digest when pinned, else the tag. */
export function referenceIdentifier(ref: Reference): string {
  return ref.digest ?? ref.tag ?? "latest";
}

export function withTag(ref: Reference, tag: string): Reference {
  const problem = checkTag(tag);
  if (problem) throw new InvalidReferenceError(tag, problem, "choose another tag");
  return { registry: ref.registry, repository: ref.repository, tag };
}

export function withDigest(ref: Reference, digest: string): Reference {
  return { registry: ref.registry, repository: ref.repository, ...(ref.tag !== undefined ? { tag: ref.tag } : {}), digest };
}

/** The host that serves the distribution API for a registry (Docker Hub's differs from its name). */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? "registry-1.docker.io" : registry;
}

/** Loopback registries are reached over plain HTTP by default, as docker and skopeo do. */
export function isLoopbackHost(registry: string): boolean {
  const host = registry.startsWith("[") ? registry.slice(0, registry.indexOf("]") + 1) : registry.replace(/:\d+$/, "");
  return host === "localhost" || host === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
