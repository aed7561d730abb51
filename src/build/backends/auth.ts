// Credentials for a builder process, from imagespec's keychain (the ECR provider included): written
// to a fresh 0700 temp dir as `auth.json` (containers tools: REGISTRY_AUTH_FILE) and `config.json`
// (docker, buildctl: DOCKER_CONFIG), both 0600, removed when the build ends. Never in argv, never
// in the environment, never printed.
//
// docker keeps more than credentials in its config dir (the buildx builders, contexts, CLI plugins):
// those are linked from the user's config dir, so `docker buildx` sees the same builders.
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { authKeyHost, DOCKER_HUB_AUTH_KEY, type Credential } from "../../registry/index.js";

export const CONTAINERS_AUTH_FILE = "auth.json";
export const DOCKER_CONFIG_FILE = "config.json";
/** What docker keeps next to config.json and must still find with DOCKER_CONFIG pointing here. */
const DOCKER_STATE = ["buildx", "contexts", "cli-plugins"];

export interface AuthDir {
  dir: string;
  /** The hosts that got an entry. */
  hosts: string[];
  remove(): Promise<void>;
}

function entryFor(credential: Credential): Record<string, string> {
  switch (credential.kind) {
    case "basic":
      return { auth: Buffer.from(`${credential.username}:${credential.secret}`, "utf8").toString("base64") };
    case "identity-token":
      return { ...(credential.username !== "<token>" ? { username: credential.username } : {}), identitytoken: credential.secret };
    case "registry-token":
      return { registrytoken: credential.secret };
  }
}

/**
 * Writes the credentials of `hosts` (each asked of `resolve`; hosts without one are left out) into
 * a new temp dir. `dockerConfigDir` (default $DOCKER_CONFIG or ~/.docker) is where docker's state is linked from.
 */
export async function writeAuthDir(
  hosts: readonly string[],
  resolve: (host: string) => Promise<Credential | undefined>,
  options: { parent?: string; dockerConfigDir?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<AuthDir> {
  const dir = await mkdtemp(join(options.parent ?? tmpdir(), "imagespec-auth-"));
  await chmod(dir, 0o700);
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    const containers: Record<string, Record<string, string>> = {};
    const docker: Record<string, Record<string, string>> = {};
    const written: string[] = [];
    for (const host of [...new Set(hosts.map(authKeyHost))].sort()) {
      const credential = await resolve(host);
      if (!credential) continue;
      const entry = entryFor(credential);
      containers[host] = entry;
      docker[host === "docker.io" ? DOCKER_HUB_AUTH_KEY : host] = entry;
      written.push(host);
    }
    const env = options.env ?? process.env;
    const userDockerDir = options.dockerConfigDir ?? (env.DOCKER_CONFIG || join(env.HOME || homedir(), ".docker"));
    // The user's docker config minus its credentials (ours replace them; helpers would ask elsewhere).
    let dockerConfig: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(await readFile(join(userDockerDir, DOCKER_CONFIG_FILE), "utf8"));
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) dockerConfig = parsed as Record<string, unknown>;
    } catch {
      // no config, or not JSON: start empty
    }
    delete dockerConfig.auths;
    delete dockerConfig.credsStore;
    delete dockerConfig.credHelpers;
    await writeFile(join(dir, CONTAINERS_AUTH_FILE), `${JSON.stringify({ auths: containers })}\n`, { mode: 0o600 });
    await writeFile(join(dir, DOCKER_CONFIG_FILE), `${JSON.stringify({ ...dockerConfig, auths: docker })}\n`, { mode: 0o600 });
    for (const name of DOCKER_STATE) {
      const target = join(userDockerDir, name);
      if (existsSync(target)) await symlink(target, join(dir, name));
    }
    return { dir, hosts: written, remove };
  } catch (error) {
    await remove();
    throw error;
  }
}
