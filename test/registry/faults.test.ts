// The registry client under faults, through the fault proxy in front of a real docker-registry:
// answers that are not manifests are never "present", one retry policy for every request,
// dropped uploads retried (never read as a missing repository), timeouts that bound a stall,
// and errors that say which side of a copy failed and what came back.
import assert from "node:assert/strict";
import { after, before, beforeEach, describe, it } from "node:test";
import { Credential, Keychain, Registry, RegistryError, type RegistryLogEvent, type RegistryOptions } from "../../src/registry/index.js";
import { backoffDelay, DEFAULT_RETRY } from "../../src/registry/retry.js";
import { describeAnswer } from "../../src/registry/transport.js";
import { ImagespecError } from "../../src/errors.js";
import { startFaultProxy, type FaultProxy } from "../support/fault-proxy.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { randomBytes } from "node:crypto";
import { makeTestImage, type TestImage } from "../support/tools.js";
import { drain, registryFor } from "./util.js";

let reg: TestRegistry;
let proxy: FaultProxy;
let small: TestImage;
let big: TestImage;
let seq = 0;
const open: Registry[] = [];

/** A Registry that reaches the real registry only through the proxy, with quick retries. */
function viaProxy(options: RegistryOptions = {}): { registry: Registry; logs: RegistryLogEvent[] } {
  const made = registryFor(reg, { retry: { baseDelayMs: 5, maxDelayMs: 50 }, ...options });
  open.push(made.registry);
  return made;
}

const repo = (name: string): string => `${proxy.host}/faults/${name}-${++seq}`;

before(async () => {
  reg = await startRegistry({ mode: "plain" });
  proxy = await startFaultProxy(reg);
  small = await makeTestImage({ busybox: false, layers: [{ "etc/small": "small image" }] });
  // Above the 1 MiB monolithic limit, so the layer goes up as one streamed PATCH.
  big = await makeTestImage({ busybox: false, gzip: false, layers: [{ "opt/big.bin": randomBytes(3 << 20) }] });
});

after(async () => {
  for (const r of open) await r.close();
  await proxy?.stop();
  await reg?.stop();
  await small?.cleanup();
  await big?.cleanup();
});

beforeEach(() => {
  proxy.setRules([]);
  proxy.resetRequests();
});

describe("no false 'exists'", () => {
  const malformed: { name: string; fault: Parameters<FaultProxy["setRules"]>[0][number]["fault"]; says: RegExp }[] = [
    { name: "an HTML page with 200", fault: { kind: "html-200" }, says: /text\/html.*Sign in/ },
    { name: "{} as JSON", fault: { kind: "body", contentType: "application/json", body: "{}" }, says: /application\/json: "\{\}"/ },
    { name: "junk without a content type", fault: { kind: "body", body: "\u0000\u0001garbage" }, says: /no content type/ },
    {
      name: "a manifest media type with a body that is not a manifest",
      fault: { kind: "body", contentType: "application/vnd.oci.image.manifest.v1+json", body: '{"schemaVersion":2,"hello":"world"}' },
      says: /config descriptor/,
    },
  ];
  for (const { name, fault, says } of malformed) {
    it(`${name} for a manifest HEAD and GET is an error naming what came back, not 'present'`, async () => {
      const { registry } = viaProxy();
      const ref = repo("exists");
      proxy.setRules([{ path: /\/manifests\//, times: Infinity, fault }]);
      await assert.rejects(registry.exists(`${ref}:v1`), (error: unknown) => {
        assert.ok(error instanceof RegistryError, String(error));
        assert.equal(error.code, "NOT_A_MANIFEST");
        assert.match(error.message, /GET http:\/\/127\.0\.0\.1:\d+\/v2\/faults\/exists-\d+\/manifests\/v1: 200 OK/);
        assert.match(error.message, says);
        assert.match(error.hint ?? "", /proxy|captive portal/);
        return true;
      });
    });
  }

  it("a real manifest through the proxy is present, with its digest", async () => {
    const { registry } = viaProxy();
    const ref = repo("real");
    await registry.copy(small.ref, `${ref}:v1`);
    const found = await registry.exists(`${ref}:v1`);
    assert.deepEqual(found, { present: true, digest: small.manifest.digest, mediaType: small.manifest.mediaType, size: small.manifest.size });
  });

  it("a HEAD without a manifest media type is checked with GET, and a GET manifest whose bytes differ from Docker-Content-Digest is an error", async () => {
    const { registry } = viaProxy();
    const ref = repo("digest");
    await registry.copy(small.ref, `${ref}:v1`);
    proxy.resetRequests();
    proxy.setRules([
      { method: "HEAD", path: /\/manifests\/v1$/, fault: { kind: "body", contentType: "text/plain", body: "", headers: { "docker-content-digest": small.manifest.digest } } },
      { method: "GET", path: /\/manifests\/v1$/, fault: { kind: "corrupt" } },
    ]);
    await assert.rejects(registry.exists(`${ref}:v1`), (error: unknown) => {
      assert.ok(error instanceof ImagespecError);
      assert.ok(["DIGEST_MISMATCH", "NOT_A_MANIFEST"].includes(error.code), error.code);
      return true;
    });
    assert.deepEqual(
      proxy.requests.filter((r) => r.path.includes("/manifests/")).map((r) => r.method),
      ["HEAD", "GET"],
    );
  });
});

describe("unexpected answers to uploads", () => {
  it("a PATCH answered with an HTML 200 says what came back and what was due, not '200 HTTP error'", async () => {
    const { registry } = viaProxy();
    proxy.setRules([{ method: "PATCH", path: /\/blobs\/uploads\//, times: Infinity, fault: { kind: "html-200" } }]);
    await assert.rejects(registry.copy(big.ref, `${repo("patch-html")}:v1`), (error: unknown) => {
      assert.ok(error instanceof RegistryError, String(error));
      assert.equal(error.code, "UNEXPECTED_RESPONSE");
      assert.match(error.message, /PATCH .*: 200 OK: answered text\/html; charset=utf-8: "<html>.*Sign in.*" where 202 Accepted was expected/);
      assert.doesNotMatch(error.message, /HTTP error/);
      assert.match(error.hint ?? "", /not an OCI registry/);
      return true;
    });
  });
});

describe("what came back, told without secrets", () => {
  it("the first bytes of an unexpected answer are shown with any echoed credential redacted", () => {
    const told = describeAnswer("text/plain", "you sent Authorization: Bearer eyJhbGciOi.secret-token", "202 Accepted");
    assert.equal(told, 'answered text/plain: "you sent Authorization: Bearer [redacted]" where 202 Accepted was expected');
  });
});

describe("one retry policy", () => {
  it("full jitter: a backoff is anywhere from 0 to the doubled ceiling; Retry-After is honoured up to its cap", () => {
    const policy = { ...DEFAULT_RETRY, baseDelayMs: 100, maxDelayMs: 1000, maxRetryAfterMs: 5000 };
    assert.equal(backoffDelay(policy, 1, undefined, 0, () => 0), 0);
    assert.equal(backoffDelay(policy, 3, undefined, 0, () => 0.999999), 400);
    assert.equal(backoffDelay(policy, 10, undefined, 0, () => 0.999999), 1000);
    assert.equal(backoffDelay(policy, 1, "3", 0, () => 0), 3000);
    assert.equal(backoffDelay(policy, 1, "120", 0, () => 0), 5000);
  });

  it("three 503s on PATCH are survived, as three on POST are", async () => {
    for (const method of ["PATCH", "POST"]) {
      const { registry } = viaProxy();
      proxy.setRules([{ method, path: /\/blobs\/uploads\//, times: 3, fault: { kind: "status", status: 503 } }]);
      const result = await registry.copy(big.ref, `${repo(`three-503-${method.toLowerCase()}`)}:v1`);
      assert.equal(result.digest, big.manifest.digest);
      assert.equal(proxy.requests.filter((r) => r.method === method && r.status === 503).length, 3, method);
    }
  });

  it("a 429 with Retry-After on PATCH waits what the registry asked", async () => {
    const { registry, logs } = viaProxy();
    proxy.setRules([{ method: "PATCH", path: /\/blobs\/uploads\//, fault: { kind: "status", status: 429, headers: { "retry-after": "1" } } }]);
    await registry.copy(big.ref, `${repo("retry-after")}:v1`);
    const waits = logs.filter((e): e is Extract<RegistryLogEvent, { type: "retry" }> => e.type === "retry" && e.method === "PATCH").map((e) => e.delayMs);
    assert.deepEqual(waits, [1000]);
  });

  it("the same number of tries for every step: a fifth 503 on PATCH fails, with the registry's status", async () => {
    const { registry } = viaProxy();
    proxy.setRules([{ method: "PATCH", path: /\/blobs\/uploads\//, times: Infinity, fault: { kind: "status", status: 503 } }]);
    await assert.rejects(registry.copy(big.ref, `${repo("always-503")}:v1`), { code: "UNAVAILABLE" });
    assert.equal(proxy.requests.filter((r) => r.method === "PATCH").length, DEFAULT_RETRY.attempts);
  });
});

describe("tries are not multiplied", () => {
  it("a POST refused on every try is tried as often as the policy says, not again by the upload above it, and its error keeps the registry's code", async () => {
    const { registry } = viaProxy();
    proxy.setRules([{ method: "POST", path: /\/blobs\/uploads\/$/, times: Infinity, fault: { kind: "status", status: 503 } }]);
    await assert.rejects(registry.copy(big.ref, `${repo("post-503")}:v1`), (error: unknown) => {
      assert.ok(error instanceof RegistryError, String(error));
      assert.equal(error.status, 503);
      assert.deepEqual(error.registryCodes, ["UNAVAILABLE"]);
      assert.doesNotMatch(error.message, /empty body/);
      return true;
    });
    // Two blobs (config and layer) start uploads; each POST is tried at most the policy's number of times.
    const posts = proxy.requests.filter((r) => r.method === "POST").length;
    assert.ok(posts >= DEFAULT_RETRY.attempts && posts <= 2 * DEFAULT_RETRY.attempts, `${posts} POSTs`);
  });
});

describe("dropped connections", () => {
  it("a reset mid-upload on the first push to a new repository is retried, not reported as a missing repository", async () => {
    const { registry } = viaProxy();
    proxy.setRules([{ method: "PATCH", path: /\/blobs\/uploads\//, fault: { kind: "reset-upload", afterBytes: 1 << 20 } }]);
    const ref = repo("reset-new");
    const result = await registry.copy(big.ref, `${ref}:v1`);
    assert.equal(result.digest, big.manifest.digest);
    assert.equal(proxy.requests.filter((r) => r.fault === "reset-upload").length, 1);
    const pulled = await registryFor(reg).registry.getImage(`${reg.host}/${ref.slice(proxy.host.length + 1)}:v1`);
    for (const layer of pulled.layers) assert.equal((await drain(layer)).digest, layer.descriptor.digest);
  });

  it("a chunked upload whose next chunk keeps failing resumes where the registry says it stands, not from byte 0", async () => {
    const { registry, logs } = viaProxy({ upload: { mode: "chunked", chunkSize: 1 << 20 } });
    const ref = repo("resume");
    // The second chunk's PATCH never reaches the registry, on every try the transport makes.
    proxy.setRules([
      { method: "PATCH", path: /\/blobs\/uploads\//, headers: { "content-range": /^1048576-/ }, times: DEFAULT_RETRY.attempts, fault: { kind: "status", status: 503 } },
    ]);
    const result = await registry.copy(big.ref, `${ref}:v1`);
    assert.equal(result.digest, big.manifest.digest);
    const uploads = proxy.requests.filter((r) => r.path.includes("/blobs/uploads/"));
    // One session for the layer (and one for the config): the status GET found it holding the first chunk.
    assert.equal(uploads.filter((r) => r.method === "POST").length, 2);
    assert.deepEqual(uploads.filter((r) => r.method === "GET").map((r) => r.status), [204]);
    // The layer's four chunks (3 MiB and the tar's end) and the config's one reached the registry, each once.
    assert.equal(uploads.filter((r) => r.method === "PATCH" && r.status === 503).length, DEFAULT_RETRY.attempts);
    assert.equal(uploads.filter((r) => r.method === "PATCH" && r.upstreamStatus === 202).length, 5);
    assert.ok(logs.some((e) => e.type === "retry" && /resumes at byte 1048576/.test(e.reason)), "the retry says where it resumed");
    const pulled = await registryFor(reg).registry.getImage(`${reg.host}/${ref.slice(proxy.host.length + 1)}:v1`);
    for (const layer of pulled.layers) assert.equal((await drain(layer)).digest, layer.descriptor.digest);
  });

  it("a streamed upload that broke off mid-body starts a new session: the registry no longer knows the old one", async () => {
    const { registry, logs } = viaProxy();
    proxy.setRules([{ method: "PATCH", path: /\/blobs\/uploads\//, fault: { kind: "reset-upload", afterBytes: 1 << 20 } }]);
    const result = await registry.copy(big.ref, `${repo("restart")}:v1`);
    assert.equal(result.digest, big.manifest.digest);
    const uploads = proxy.requests.filter((r) => r.path.includes("/blobs/uploads/"));
    // distribution cancels a session whose stored size disagrees with its URL's state: asked, it says so.
    assert.equal(uploads.filter((r) => r.method === "GET").length, 1);
    assert.notEqual(uploads.find((r) => r.method === "GET")?.status, 204);
    assert.ok(logs.some((e) => e.type === "retry" && /restarts/.test(e.reason)));
  });

  it("a reset on every try fails naming the target and the request, with no ECR hint", async () => {
    const { registry } = viaProxy();
    proxy.setRules([{ method: "PATCH", path: /\/blobs\/uploads\//, times: Infinity, fault: { kind: "reset-upload", afterBytes: 1 << 20 } }]);
    await assert.rejects(registry.copy(big.ref, `${repo("reset-always")}:v1`), (error: unknown) => {
      assert.ok(error instanceof RegistryError, String(error));
      assert.equal(error.code, "NETWORK_ERROR");
      assert.match(error.message, /^target registry: PATCH http:\/\/127\.0\.0\.1:\d+\/v2\/faults\/reset-always-\d+\/blobs\/uploads\//);
      assert.doesNotMatch(`${error.message} ${error.hint}`, /does not exist|ECR|create-repository/);
      return true;
    });
  });

  it("a diagnosis hook is asked about a dropped upload and its answer replaces the network error", async () => {
    const asked: string[] = [];
    const { registry } = viaProxy({
      diagnose: async ({ error, reference }) => {
        asked.push(`${error.side} ${error.method} ${reference.repository}`);
        return new ImagespecError("VENDOR_SAYS", "the vendor knows better");
      },
    });
    proxy.setRules([{ method: "PATCH", path: /\/blobs\/uploads\//, fault: { kind: "reset-upload", afterBytes: 1 << 20 } }]);
    await assert.rejects(registry.copy(big.ref, `${repo("diagnosed")}:v1`), { code: "VENDOR_SAYS" });
    assert.equal(asked.length, 1);
    assert.match(asked[0]!, /^target PATCH faults\/diagnosed-\d+$/);
  });

  it("the manifest PUT whose answer was lost after the registry stored it is sent again, and the tag is whole", async () => {
    const { registry } = viaProxy();
    const ref = repo("manifest-drop");
    proxy.setRules([{ method: "PUT", path: /\/manifests\/v1$/, fault: { kind: "drop-after" } }]);
    const result = await registry.copy(small.ref, `${ref}:v1`);
    assert.equal(result.digest, small.manifest.digest);
    assert.equal(proxy.requests.filter((r) => r.method === "PUT" && r.path.endsWith("/manifests/v1")).length, 2);
  });
});

describe("the source side of a copy", () => {
  it("a truncated source blob is fetched again; a source that stays broken is named as the source", async () => {
    const { registry: direct } = registryFor(reg);
    open.push(direct);
    const name = `faults/source-${++seq}`;
    await direct.copy(big.ref, `${reg.host}/${name}:v1`);
    const layer = big.layers[0]!.digest;
    const { registry } = viaProxy();

    proxy.setRules([{ method: "GET", path: new RegExp(`/blobs/${layer}$`), fault: { kind: "truncate", bytes: 1 << 20 } }]);
    const copied = await registry.copy(`${proxy.host}/${name}:v1`, `${reg.host}/faults/target-${seq}:v1`);
    assert.equal(copied.digest, big.manifest.digest);
    assert.equal(proxy.requests.filter((r) => r.method === "GET" && r.path.endsWith(layer)).length, 2);

    proxy.setRules([{ method: "GET", path: new RegExp(`/blobs/${layer}$`), times: Infinity, fault: { kind: "truncate", bytes: 1 << 20 } }]);
    await assert.rejects(registry.copy(`${proxy.host}/${name}:v1`, `${reg.host}/faults/target-broken-${seq}:v1`), (error: unknown) => {
      assert.ok(error instanceof RegistryError, String(error));
      assert.match(error.message, new RegExp(`^source registry: GET http://${proxy.host.replace(/\./g, "\\.")}/v2/${name}/blobs/${layer}`));
      assert.doesNotMatch(`${error.message} ${error.hint}`, /does not exist|create-repository/);
      return true;
    });
    assert.deepEqual(await direct.exists(`${reg.host}/faults/target-broken-${seq}:v1`), { present: false }, "no tag for the broken copy");
  });
});

describe("timeouts", () => {
  it("a registry that accepts and never answers fails with TIMEOUT after two stalls, not four", async () => {
    const { registry } = viaProxy({ timeouts: { connectMs: 300, headersMs: 300, bodyIdleMs: 300 } });
    proxy.setRules([{ path: /^\/v2\//, times: Infinity, fault: { kind: "hang" } }]);
    await assert.rejects(registry.exists(`${repo("hang")}:v1`), (error: unknown) => {
      assert.ok(error instanceof RegistryError, String(error));
      assert.equal(error.code, "TIMEOUT");
      return true;
    });
    assert.equal(proxy.requests.filter((r) => r.fault === "hang").length, 2);
  });

  it("one stall is waited out and tried again", async () => {
    const { registry } = viaProxy({ timeouts: { connectMs: 300, headersMs: 300, bodyIdleMs: 300 } });
    const ref = repo("hang-once");
    await registry.copy(small.ref, `${ref}:v1`);
    proxy.setRules([{ method: "HEAD", path: /\/manifests\/v1$/, fault: { kind: "hang" } }]);
    assert.equal((await registry.exists(`${ref}:v1`)).present, true);
  });
});

describe("refused credentials", () => {
  it("a credential source with its own 'rejected' hint replaces the docker login advice", async () => {
    const basic = await startRegistry({ mode: "basic" });
    try {
      const cloud = {
        name: "cloud-token",
        resolve: async () => Credential.basic("AWS", "not-the-password", "cloud-token"),
        rejectedHint: () => "check the cloud identity's permissions",
      };
      const registry = new Registry({ keychain: new Keychain([cloud]), retry: { attempts: 1 } });
      open.push(registry);
      await assert.rejects(registry.exists(`${basic.host}/any/thing:v1`), (error: unknown) => {
        assert.ok(error instanceof RegistryError, String(error));
        assert.equal(error.code, "UNAUTHORIZED");
        assert.match(error.hint ?? "", /from cloud-token were rejected: check the cloud identity's permissions/);
        assert.doesNotMatch(error.hint ?? "", /docker login/);
        return true;
      });
      const plain = new Registry({ keychain: new Keychain([{ name: "docker-config", resolve: async () => Credential.basic("u", "wrong", "docker-config") }]), retry: { attempts: 1 } });
      open.push(plain);
      await assert.rejects(plain.exists(`${basic.host}/any/thing:v1`), (error: unknown) => /docker login/.test((error as ImagespecError).hint ?? ""));
    } finally {
      await basic.stop();
    }
  });
});
