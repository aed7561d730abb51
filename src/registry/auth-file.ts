// Docker's config.json and podman's auth.json (same format): `auths` entries (base64 `auth`,
// `username`/`password`, `identitytoken`, `registrytoken`), `credHelpers` per host and a default
// `credsStore`. Keys are matched to a registry host the way Docker does: scheme and path ignored,
// every Docker Hub spelling meaning docker.io.
import { readFile } from "node:fs/promises";
import { ImagespecError } from "../errors.js";
import { DOCKER_HUB } from "../reference/index.js";
import { Credential } from "./credential.js";
import { runCredentialHelper } from "./credential-helper.js";

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
}

interface AuthFile {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** The key Docker uses for Docker Hub in config files and with credential helpers. */
export const DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/";
const HUB_ALIASES = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);

/** `https://index.docker.io/v1/` -> `docker.io`; `https://r.example.com:5000/path` -> `r.example.com:5000`. */
export function authKeyHost(key: string): string {
  const host = key
    .trim()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//i, "")
    .replace(/\/.*$/, "")
    .toLowerCase();
  return HUB_ALIASES.has(host) ? DOCKER_HUB : host;
}

/** What a credential helper is asked about: the host, except Docker Hub's historical URL. */
export function helperServerUrl(registry: string): string {
  return authKeyHost(registry) === DOCKER_HUB ? DOCKER_HUB_AUTH_KEY : registry;
}

async function loadAuthFile(path: string): Promise<AuthFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT" || (error as NodeJS.ErrnoException).code === "ENOTDIR") return undefined;
    throw new ImagespecError("AUTH_FILE_UNREADABLE", `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`, {
      hint: "check the file's permissions",
    });
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    return typeof parsed === "object" && parsed !== null ? (parsed as AuthFile) : {};
  } catch {
    // The content is not quoted back: it holds secrets.
    throw new ImagespecError("AUTH_FILE_INVALID", `${path} is not valid JSON`, { hint: "fix or remove the file (docker login rewrites it)" });
  }
}

/** Entries whose key names the host; exact host keys win over keys with a path (podman's per-namespace form). */
function matchingEntry<T>(map: Record<string, T> | undefined, registry: string): T | undefined {
  if (!map) return undefined;
  const wanted = authKeyHost(registry);
  const keys = Object.keys(map).filter((k) => authKeyHost(k) === wanted);
  keys.sort((a, b) => Number(a.replace(/^[a-z]+:\/\//i, "").includes("/")) - Number(b.replace(/^[a-z]+:\/\//i, "").includes("/")));
  return keys[0] === undefined ? undefined : map[keys[0]];
}

function entryCredential(entry: AuthEntry, source: string): Credential | undefined {
  let username = entry.username ?? "";
  let password = entry.password ?? "";
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) throw new ImagespecError("AUTH_FILE_INVALID", `${source}: an "auth" entry does not decode to user:password`, { hint: "log in again to rewrite it" });
    username = decoded.slice(0, colon);
    password = decoded.slice(colon + 1);
  }
  if (entry.identitytoken) return Credential.identityToken(entry.identitytoken, source, username || "<token>");
  if (entry.registrytoken) return Credential.registryToken(entry.registrytoken, source);
  if (username !== "" || password !== "") return Credential.basic(username, password, source);
  return undefined;
}

/** Credentials for `registry` from one auth file: a per-host helper, then stored entries, then the default store. */
export async function credentialFromAuthFile(path: string, registry: string, env: NodeJS.ProcessEnv): Promise<Credential | undefined> {
  const file = await loadAuthFile(path);
  if (!file) return undefined;
  const helper = matchingEntry(file.credHelpers, registry);
  if (helper) return runCredentialHelper(helper, helperServerUrl(registry), { env });
  const entry = matchingEntry(file.auths, registry);
  const stored = entry ? entryCredential(entry, path) : undefined;
  if (stored) return stored;
  if (file.credsStore) return runCredentialHelper(file.credsStore, helperServerUrl(registry), { env });
  return undefined;
}
