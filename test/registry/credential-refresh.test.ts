// A credential source that can replace a refused credential (CredentialSource.invalidate): the
// authenticator tells it once, asks again and resends; a source that says "no use" is not asked
// again. Against a real docker-registry with htpasswd Basic auth.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Credential, Keychain, Registry, RegistryError, type CredentialSource } from "../../src/registry/index.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";

let reg: TestRegistry;

before(async () => {
  reg = await startRegistry({ mode: "basic" });
});
after(async () => {
  await reg?.stop();
});

/** Hands out a stale password first, the right one after an invalidation (if `renews`). */
function rotatingSource(renews: boolean): CredentialSource & { invalidations: number; resolves: number } {
  let current = "stale-password";
  const source = {
    name: "rotating",
    invalidations: 0,
    resolves: 0,
    async resolve(registry: string): Promise<Credential | undefined> {
      if (registry !== reg.host) return undefined;
      source.resolves++;
      return Credential.basic(reg.username!, current, "rotating");
    },
    invalidate(_registry: string, credential: Credential): boolean {
      source.invalidations++;
      assert.equal(credential.secret, current, "told about the credential it gave");
      if (!renews) return false;
      current = reg.password!;
      return true;
    },
  };
  return source;
}

describe("credential invalidation", () => {
  it("a refused credential is replaced once and the request resent", async () => {
    const source = rotatingSource(true);
    const registry = new Registry({ keychain: new Keychain([source]) });
    try {
      assert.deepEqual(await registry.exists(`${reg.host}/nothing/here:v1`), { present: false });
      assert.equal(source.invalidations, 1);
      assert.equal(source.resolves, 2);
      // The new credential sticks: no further invalidation.
      await registry.exists(`${reg.host}/nothing/here:v2`);
      assert.equal(source.invalidations, 1);
    } finally {
      await registry.close();
    }
  });

  it("a source that cannot do better is told once per request and the 401 stands", async () => {
    const source = rotatingSource(false);
    const registry = new Registry({ keychain: new Keychain([source]) });
    try {
      await assert.rejects(registry.exists(`${reg.host}/nothing/here:v1`), (e: unknown) => e instanceof RegistryError && e.status === 401);
      assert.equal(source.invalidations, 1);
      assert.equal(source.resolves, 1, "not asked again");
    } finally {
      await registry.close();
    }
  });
});
