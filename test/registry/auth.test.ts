// Authentication against real registries: Basic (htpasswd) and Bearer (token server) challenges,
// wrong and missing credentials, token expiry and refresh, anonymous tokens, credential helpers,
// TLS trust — and that no secret ever reaches an error message or a log event.
import assert from "node:assert/strict";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Image } from "../../src/oci/index.js";
import { readLayout } from "../../src/oci/layout.js";
import { defaultKeychain, Registry, RegistryError } from "../../src/registry/index.js";
import { TokenCache } from "../../src/registry/auth.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { makeTestImage, removeDir, tempDir, type TestImage } from "../support/tools.js";
import { isolatedEnv, registryFor } from "./util.js";

let small: TestImage;
let image: Image;

before(async () => {
  small = await makeTestImage({ busybox: false, layers: [{ "etc/auth": "test\n" }] });
  image = (await readLayout(small.dir)) as Image;
});

after(async () => {
  await small.cleanup();
});

function assertNoSecret(text: string, ...secrets: (string | undefined)[]): void {
  for (const secret of secrets) if (secret) assert.ok(!text.includes(secret), `a secret leaked into: ${text.slice(0, 300)}`);
}

function isRegistryError(code: string, check: (e: RegistryError) => void = () => undefined) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof RegistryError, `expected a RegistryError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    check(e);
    return true;
  };
}

describe("basic auth registry", () => {
  let reg: TestRegistry;

  before(async () => {
    reg = await startRegistry({ mode: "basic" });
  });

  after(async () => {
    await reg.stop();
  });

  it("pushes with the right credentials and logs no secret", async () => {
    const { registry, logs } = registryFor(reg);
    try {
      await registry.push(`${reg.host}/auth/basic:v1`, image);
      assert.equal((await registry.exists(`${reg.host}/auth/basic:v1`)).present, true);
      const text = JSON.stringify(logs);
      assert.match(text, /"authorization":"Basic \[redacted\]"/);
      assertNoSecret(text, reg.password, Buffer.from(`${reg.username}:${reg.password}`).toString("base64"));
    } finally {
      await registry.close();
    }
  });

  it("a wrong password is an error naming the registry and saying to check credentials", async () => {
    const { registry } = registryFor(reg, { credentials: { username: reg.username!, password: "not-the-password" } });
    try {
      await assert.rejects(
        registry.push(`${reg.host}/auth/basic:v2`, image),
        isRegistryError("UNAUTHORIZED", (e) => {
          assert.match(e.message, new RegExp(reg.host.replace(/\./g, "\\.")));
          assert.equal(e.status, 401);
          assert.match(e.hint ?? "", /check the user name and password/);
          assert.match(e.hint ?? "", /docker login/);
          assertNoSecret(`${e.message} ${e.hint} ${JSON.stringify(e)}`, "not-the-password");
        }),
      );
    } finally {
      await registry.close();
    }
  });

  it("exists() throws on an auth failure instead of answering", async () => {
    const { registry } = registryFor(reg, { credentials: null });
    try {
      await assert.rejects(
        registry.exists(`${reg.host}/auth/basic:v1`),
        isRegistryError("UNAUTHORIZED", (e) => assert.match(e.hint ?? "", /no credentials were found/)),
      );
    } finally {
      await registry.close();
    }
  });

  it("uses a docker credential helper named in credHelpers", async () => {
    const dir = await tempDir("imagespec-helper-");
    try {
      const bin = join(dir, "bin");
      const askedLog = join(dir, "asked");
      await writeFile(join(dir, "placeholder"), "");
      await import("node:fs/promises").then((fs) => fs.mkdir(bin));
      await writeFile(
        join(bin, "docker-credential-test"),
        [
          "#!/bin/sh",
          '[ "$1" = get ] || exit 3',
          "server=$(cat)",
          `printf '%s\\n' "$server" >> '${askedLog}'`,
          `if [ "$server" = '${reg.host}' ]; then`,
          `  printf '{"ServerURL":"%s","Username":"${reg.username}","Secret":"${reg.password}"}' "$server"`,
          "  exit 0",
          "fi",
          "echo 'credentials not found in native keychain'",
          "exit 1",
          "",
        ].join("\n"),
      );
      await chmod(join(bin, "docker-credential-test"), 0o755);
      const config = join(dir, "docker");
      await import("node:fs/promises").then((fs) => fs.mkdir(config));
      await writeFile(join(config, "config.json"), JSON.stringify({ credHelpers: { [reg.host]: "test" } }));
      const env = isolatedEnv({ PATH: `${bin}:${process.env.PATH}`, DOCKER_CONFIG: config });
      const keychain = defaultKeychain({ env });
      const credential = await keychain.resolve(reg.host);
      assert.equal(credential?.source, "credential-helper:test");
      assertNoSecret(`${String(credential)} ${JSON.stringify(credential)} ${(await import("node:util")).inspect(credential)}`, reg.password);

      const registry = new Registry({ keychain });
      try {
        const result = await registry.push(`${reg.host}/auth/helper:v1`, image);
        assert.equal(result.digest, image.digest);
      } finally {
        await registry.close();
      }
      assert.deepEqual((await readFile(askedLog, "utf8")).trim().split("\n"), [reg.host, reg.host]);
    } finally {
      await removeDir(dir);
    }
  });
});

describe("token auth registry", () => {
  let reg: TestRegistry;

  before(async () => {
    reg = await startRegistry({ mode: "token", anonymous: "pull" });
  });

  after(async () => {
    await reg.stop();
  });

  it("fetches one token for a whole push and reuses it", async () => {
    const { registry, logs } = registryFor(reg);
    try {
      await registry.push(`${reg.host}/auth/token:v0`, image);
      await registry.push(`${reg.host}/auth/token:v00`, image);
      const fetched = logs.filter((e) => e.type === "auth");
      assert.deepEqual(
        fetched.map((e) => (e.type === "auth" ? [e.action, e.scopes.join(" ")] : [])),
        [["token-fetched", "repository:auth/token:pull,push"]],
      );
      assert.equal(reg.tokenRequests().filter((t) => t.authenticated).length >= 1, true);
    } finally {
      await registry.close();
    }
  });

  it("fetches a new token when the registry rejects a cached one", async () => {
    const tokens = new TokenCache();
    const scope = ["repository:auth/token:pull"];
    // A token that the registry no longer accepts (it expired at its issuer), cached as if valid.
    const stale = reg.tokenServer!.mint({ access: [{ type: "repository", name: "auth/token", actions: ["pull"] }], ttlSeconds: 1, issuedAt: new Date(Date.now() - 3_600_000) });
    tokens.set(reg.host, scope, stale, 3600);
    const { registry, logs } = registryFor(reg, { tokenCache: tokens });
    try {
      const { registry: pusher } = registryFor(reg);
      await pusher.push(`${reg.host}/auth/token:v3`, image);
      await pusher.close();
      reg.resetRequests();
      assert.equal((await registry.exists(`${reg.host}/auth/token:v3`)).present, true);
      // The stale cached token (the challenge is known from the /v2/ probe), then a fresh one.
      const statuses = (await reg.requests()).filter((r) => r.path.includes("/manifests/")).map((r) => r.status);
      assert.deepEqual(statuses, [401, 200]);
      assert.ok(logs.some((e) => e.type === "auth" && e.action === "token-refresh"));
      assert.notEqual(tokens.get(reg.host, scope), stale);
    } finally {
      await registry.close();
    }
  });

  it("pulls anonymously with an anonymous token", async () => {
    const { registry: pusher } = registryFor(reg);
    await pusher.push(`${reg.host}/auth/public:v1`, image);
    await pusher.close();
    const { registry, logs } = registryFor(reg, { credentials: null });
    try {
      reg.resetRequests();
      const pulled = await registry.getImage(`${reg.host}/auth/public:v1`);
      assert.equal(pulled.digest, image.digest);
      assert.ok(logs.some((e) => e.type === "auth" && e.action === "anonymous-token"));
      assert.ok(reg.tokenRequests().every((t) => !t.authenticated));
      // Anonymous users may not push: the token server grants no push, and that is an error.
      await assert.rejects(registry.push(`${reg.host}/auth/public:v2`, image), isRegistryError("UNAUTHORIZED"));
    } finally {
      await registry.close();
    }
  });

  it("a wrong password fails at the token endpoint with a hint, and no secret", async () => {
    const { registry, logs } = registryFor(reg, { credentials: { username: reg.username!, password: "wrong-token-password" } });
    try {
      await assert.rejects(
        registry.push(`${reg.host}/auth/token:v9`, image),
        isRegistryError("UNAUTHORIZED", (e) => {
          assert.match(e.message, /token request for 127\.0\.0\.1:\d+ failed/);
          assert.match(e.hint ?? "", /were rejected/);
          assertNoSecret(`${e.message} ${e.hint}`, "wrong-token-password");
        }),
      );
      assertNoSecret(JSON.stringify(logs), "wrong-token-password", Buffer.from(`${reg.username}:wrong-token-password`).toString("base64"));
    } finally {
      await registry.close();
    }
  });
});

describe("token expiry", () => {
  let reg: TestRegistry;

  before(async () => {
    // The registry really refuses these tokens 2 s after issue (see test/support/README.md).
    reg = await startRegistry({ mode: "token", tokenTtlSeconds: 2 });
  });

  after(async () => {
    await reg.stop();
  });

  it("refreshes an expired token transparently", async () => {
    const { registry, logs } = registryFor(reg);
    try {
      await registry.push(`${reg.host}/auth/token:v1`, image);
      const fetched = () => logs.filter((e) => e.type === "auth" && e.action !== "basic").length;
      const before = fetched();
      await new Promise((r) => setTimeout(r, 2100));
      reg.resetRequests();
      await registry.push(`${reg.host}/auth/token:v2`, image);
      assert.ok(fetched() > before, "a new token was fetched for the second push");
      assert.ok(reg.tokenRequests().some((t) => t.authenticated && t.status === 200));
      // No request was refused: the expired token was replaced before it was used.
      assert.deepEqual((await reg.requests()).filter((r) => r.status === 401), []);
    } finally {
      await registry.close();
    }
  });
});

describe("TLS registry", () => {
  let reg: TestRegistry;

  before(async () => {
    reg = await startRegistry({ mode: "tls" });
  });

  after(async () => {
    await reg.stop();
  });

  it("without the CA, fails with a hint about the CA file; exists() does not answer", async () => {
    const registry = new Registry({ keychain: defaultKeychain({ env: isolatedEnv() }) });
    try {
      await assert.rejects(
        registry.exists(`${reg.host}/tls/app:v1`),
        isRegistryError("TLS_ERROR", (e) => {
          assert.match(e.hint ?? "", /--ca-file/);
          assert.match(e.hint ?? "", /insecure/);
        }),
      );
    } finally {
      await registry.close();
    }
  });

  it("with the CA file it works; marked insecure it works without one", async () => {
    const { registry } = registryFor(reg);
    const insecure = new Registry({ keychain: defaultKeychain({ env: isolatedEnv() }), insecureRegistries: [reg.host] });
    try {
      await registry.push(`${reg.host}/tls/app:v1`, image);
      assert.equal((await insecure.exists(`${reg.host}/tls/app:v1`)).present, true);
    } finally {
      await registry.close();
      await insecure.close();
    }
  });
});

it("a registry that is not running is an error that says so", async () => {
  const reg = await startRegistry({ mode: "plain" });
  const host = reg.host;
  await reg.stop();
  const registry = new Registry({ keychain: defaultKeychain({ env: isolatedEnv() }), retry: { attempts: 1 } });
  try {
    await assert.rejects(
      registry.exists(`${host}/gone/app:v1`),
      isRegistryError("CONNECTION_REFUSED", (e) => assert.match(e.hint ?? "", new RegExp(`is the registry running at ${host.replace(/\./g, "\\.")}`))),
    );
  } finally {
    await registry.close();
  }
});
