// Credential sources: docker config (auths, credHelpers, credsStore), podman auth files, explicit
// credentials, the provider slot, Docker Hub host matching, and secrets kept out of every rendering.
import assert from "node:assert/strict";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { inspect } from "node:util";
import { after, before, describe, it } from "node:test";
import { authKeyHost, Credential, defaultKeychain, Keychain, type CredentialSource } from "../../src/registry/index.js";
import { removeDir, tempDir } from "../support/tools.js";
import { isolatedEnv } from "./util.js";

const b64 = (text: string): string => Buffer.from(text).toString("base64");

describe("keychain", () => {
  let dir: string;
  let home: string;

  before(async () => {
    dir = await tempDir("imagespec-keychain-");
    home = join(dir, "home");
    await mkdir(join(home, ".docker"), { recursive: true });
    await mkdir(join(home, ".config", "containers"), { recursive: true });
    await mkdir(join(dir, "run", "containers"), { recursive: true });
    await mkdir(join(dir, "bin"));
  });

  after(async () => {
    await removeDir(dir);
  });

  async function writeJson(path: string, value: unknown): Promise<string> {
    await writeFile(path, JSON.stringify(value));
    return path;
  }

  it("matches hosts the way Docker does", () => {
    assert.equal(authKeyHost("https://index.docker.io/v1/"), "docker.io");
    assert.equal(authKeyHost("registry-1.docker.io"), "docker.io");
    assert.equal(authKeyHost("http://R.Example.com:5000/some/path"), "r.example.com:5000");
    assert.equal(authKeyHost("quay.io/org/repo"), "quay.io");
  });

  it("reads ~/.docker/config.json auths in every form", async () => {
    await writeJson(join(home, ".docker", "config.json"), {
      auths: {
        "https://index.docker.io/v1/": { auth: b64("hubuser:hub:pass") },
        "http://r.example.com:5000": { username: "plain", password: "pw" },
        "tokens.example.com": { auth: b64("someone:"), identitytoken: "refresh-token-value" },
      },
    });
    const keychain = defaultKeychain({ env: isolatedEnv({ HOME: home }) });
    const hub = await keychain.resolve("docker.io");
    assert.equal(hub?.kind, "basic");
    assert.equal(hub?.username, "hubuser");
    assert.equal(hub?.secret, "hub:pass");
    assert.equal(hub?.source, join(home, ".docker", "config.json"));
    assert.equal((await keychain.resolve("r.example.com:5000"))?.secret, "pw");
    const token = await keychain.resolve("tokens.example.com");
    assert.equal(token?.kind, "identity-token");
    assert.equal(token?.secret, "refresh-token-value");
    assert.equal(await keychain.resolve("elsewhere.example.com"), undefined);
  });

  it("falls through to $REGISTRY_AUTH_FILE, then podman's runtime and home auth files", async () => {
    const authFile = await writeJson(join(dir, "registry-auth.json"), { auths: { "one.example.com": { auth: b64("u1:p1") } } });
    await writeJson(join(dir, "run", "containers", "auth.json"), { auths: { "two.example.com": { auth: b64("u2:p2") } } });
    await writeJson(join(home, ".config", "containers", "auth.json"), { auths: { "three.example.com/org": { auth: b64("u3:p3") } } });
    const keychain = defaultKeychain({ env: isolatedEnv({ HOME: home, REGISTRY_AUTH_FILE: authFile, XDG_RUNTIME_DIR: join(dir, "run") }) });
    assert.equal((await keychain.resolve("one.example.com"))?.username, "u1");
    assert.equal((await keychain.resolve("two.example.com"))?.username, "u2");
    assert.equal((await keychain.resolve("three.example.com"))?.username, "u3");
  });

  it("asks credsStore helpers with Docker Hub's historical URL, and reads <token> answers", async () => {
    const asked = join(dir, "asked-store");
    await writeFile(
      join(dir, "bin", "docker-credential-store"),
      `#!/bin/sh\nserver=$(cat)\nprintf '%s\\n' "$server" >> '${asked}'\nprintf '{"ServerURL":"%s","Username":"<token>","Secret":"id-token-from-store"}' "$server"\n`,
    );
    await chmod(join(dir, "bin", "docker-credential-store"), 0o755);
    const config = join(dir, "store-config");
    await mkdir(config);
    await writeJson(join(config, "config.json"), { auths: { "https://index.docker.io/v1/": {} }, credsStore: "store" });
    const keychain = defaultKeychain({ env: isolatedEnv({ HOME: home, DOCKER_CONFIG: config, PATH: `${join(dir, "bin")}:${process.env.PATH}` }) });
    const credential = await keychain.resolve("docker.io");
    assert.equal(credential?.kind, "identity-token");
    assert.equal(credential?.source, "credential-helper:store");
    assert.equal((await readFile(asked, "utf8")).trim(), "https://index.docker.io/v1/");
  });

  it("reports a missing helper with a hint, and a broken config without quoting it", async () => {
    const config = join(dir, "missing-helper");
    await mkdir(config);
    await writeJson(join(config, "config.json"), { credHelpers: { "r.example.com": "does-not-exist" } });
    await assert.rejects(defaultKeychain({ env: isolatedEnv({ DOCKER_CONFIG: config }) }).resolve("r.example.com"), (e: unknown) => {
      assert.equal((e as { code: string }).code, "CREDENTIAL_HELPER_FAILED");
      assert.match((e as { hint: string }).hint, /install docker-credential-does-not-exist/);
      return true;
    });
    const broken = join(dir, "broken");
    await mkdir(broken);
    await writeFile(join(broken, "config.json"), '{"auths": {"x": {"auth": "c2VjcmV0LXBhc3N3b3Jk"}');
    await assert.rejects(defaultKeychain({ env: isolatedEnv({ DOCKER_CONFIG: broken }) }).resolve("x"), (e: unknown) => {
      assert.equal((e as { code: string }).code, "AUTH_FILE_INVALID");
      assert.ok(!(e as Error).message.includes("c2VjcmV0"));
      return true;
    });
  });

  it("asks explicit credentials first, then providers (the ECR slot), then files", async () => {
    await writeJson(join(home, ".docker", "config.json"), { auths: { "ecr.example.com": { auth: b64("file:file") }, "both.example.com": { auth: b64("file:file") } } });
    const asked: string[] = [];
    const provider: CredentialSource = {
      name: "ecr",
      resolve: async (registry) => {
        asked.push(registry);
        return registry === "ecr.example.com" ? Credential.basic("AWS", "ecr-token", "ecr") : undefined;
      },
    };
    const keychain = defaultKeychain({ credentials: { "both.example.com": { username: "cli", password: "cli" } }, providers: [provider], env: isolatedEnv({ HOME: home }) });
    assert.deepEqual(
      keychain.sources.map((s) => s.name),
      ["explicit", "ecr", "docker-config", "registry-auth-file", "containers-auth", "containers-auth-home"],
    );
    assert.equal((await keychain.resolve("both.example.com"))?.username, "cli");
    assert.equal((await keychain.resolve("ecr.example.com"))?.source, "ecr");
    assert.deepEqual(asked, ["ecr.example.com"]);

    const late = new Keychain([...keychain.sources]).insertAfter("explicit", { name: "late", resolve: async () => Credential.registryToken("t", "late") });
    assert.equal(late.sources[1]?.name, "late");
  });

  it("never shows a secret when a credential is printed, inspected or serialised", () => {
    for (const credential of [Credential.basic("user", "hunter2-password"), Credential.identityToken("hunter2-password"), Credential.registryToken("hunter2-password")]) {
      const renderings = [String(credential), `${credential}`, inspect(credential), inspect({ nested: credential }), JSON.stringify(credential), JSON.stringify({ credential })];
      for (const text of renderings) assert.ok(!text.includes("hunter2"), text);
    }
    assert.equal(Credential.basic("user", "pw").basicAuthorization(), `Basic ${b64("user:pw")}`);
  });
});
