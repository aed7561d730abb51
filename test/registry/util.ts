// Shared bits for the registry tests: a Registry wired to a TestRegistry (its credentials, its CA,
// no host docker config), and small readers. Not a test file (no .test.ts suffix).
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { defaultKeychain, Registry, type RegistryLogEvent, type RegistryOptions } from "../../src/registry/index.js";
import type { Blob } from "../../src/oci/index.js";
import type { TestRegistry } from "../support/registry.js";

/** An environment with no docker or podman config, so the host's files never leak into a test. */
export function isolatedEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: "/nonexistent-imagespec-home", ...extra };
}

/** A Registry that talks to `reg` with its credentials and CA; `logs` collects the verbose events. */
export function registryFor(reg: TestRegistry, options: RegistryOptions & { credentials?: { username: string; password: string } | null } = {}): {
  registry: Registry;
  logs: RegistryLogEvent[];
} {
  const logs: RegistryLogEvent[] = [];
  const { credentials, ...rest } = options;
  const creds = credentials === null ? undefined : (credentials ?? (reg.username !== undefined ? { username: reg.username, password: reg.password ?? "" } : undefined));
  const registry = new Registry({
    keychain: defaultKeychain({ credentials: creds ? { [reg.host]: creds } : {}, env: isolatedEnv() }),
    ...(reg.caFile ? { caFile: reg.caFile } : {}),
    logger: (e) => logs.push(e),
    ...rest,
  });
  return { registry, logs };
}

/** Reads a blob to the end (its verification runs) and returns the sha256 of what came out. */
export async function drain(blob: Blob): Promise<{ digest: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  for await (const chunk of await blob.open()) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `sha256:${hash.digest("hex")}`, size };
}

/** The index.json entry of a layout named `tag`. */
export async function layoutEntry(dir: string, tag: string): Promise<{ digest: string; mediaType: string; size: number } | undefined> {
  const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as {
    manifests: { digest: string; mediaType: string; size: number; annotations?: Record<string, string> }[];
  };
  return index.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === tag);
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}
