// Self-test of the registry harness in test/support/: each of the four modes takes an image from
// skopeo, gives it back, records the requests, and refuses clients it should refuse.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { startRegistry, type RegistryMode, type RequestRecord, type TestRegistry } from "../support/registry.js";
import {
  makeMultiPlatformImage,
  makeTestImage,
  makeUmociImage,
  removeDir,
  run,
  sha256,
  skopeo,
  tempDir,
  type RunResult,
  type TestImage,
} from "../support/tools.js";

function ok(r: RunResult): RunResult {
  assert.equal(r.code, 0, `command failed (${r.code}): ${r.stderr}`);
  return r;
}

function failed(r: RunResult): string {
  assert.notEqual(r.code, 0, `command should have failed; stdout: ${r.stdout}`);
  assert.equal(r.timedOut, false);
  return r.stderr;
}

const isUpload = (r: RequestRecord) => /\/blobs\/uploads\//.test(r.path) && (r.method === "PATCH" || r.method === "PUT");

/** Running (a zombie waiting for a reaper counts as dead). */
function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

let image: TestImage;
before(async () => {
  image = await makeTestImage({ layers: [{ "etc/selftest.txt": "hello\n" }] });
});
after(async () => {
  await image.cleanup();
});

const modes: RegistryMode[] = ["plain", "basic", "tls", "token"];

for (const mode of modes) {
  void describe(`${mode} registry`, () => {
    let reg: TestRegistry;
    before(async () => {
      reg = await startRegistry({ mode });
    });
    after(async () => {
      await reg.stop();
    });

    void test("skopeo pushes the test image and reads it back; requests() shows what happened", async () => {
      assert.equal(reg.mode, mode);
      assert.equal(reg.url, `${mode === "tls" ? "https" : "http"}://${reg.host}`);
      const dest = reg.ref("selftest/busybox:v1");
      ok(await skopeo(["copy", ...reg.skopeoArgs("dest"), image.ref, dest]));

      const raw = ok(await skopeo(["inspect", "--raw", ...reg.skopeoArgs("single"), dest]));
      assert.equal(sha256(raw.stdout), image.manifest.digest, "the registry holds our manifest, byte for byte");

      const reqs = await reg.requests();
      assert.ok(
        reqs.some((r) => r.method === "PUT" && r.path === "/v2/selftest/busybox/manifests/v1" && r.status === 201),
        `no manifest PUT in ${JSON.stringify(reqs)}`,
      );
      // Every blob (2 layers + config) went up once, finished by a PUT carrying its digest.
      for (const blob of [...image.layers, image.config]) {
        const puts = reqs.filter((r) => r.method === "PUT" && r.path.includes(`digest=${encodeURIComponent(blob.digest)}`));
        assert.equal(puts.length, 1, `upload of ${blob.digest}`);
        assert.equal(puts[0]!.status, 201);
      }
      if (mode === "basic" || mode === "token") {
        assert.ok(reqs.some((r) => r.status === 401), "the first request of a client is challenged");
      }

      // The "src" side: copy it back out into a fresh layout.
      const out = await tempDir();
      try {
        ok(await skopeo(["copy", ...reg.skopeoArgs("src"), dest, `oci:${out}:back`]));
        const index = JSON.parse(await readFile(join(out, "index.json"), "utf8")) as { manifests: { digest: string }[] };
        assert.equal(index.manifests[0]?.digest, image.manifest.digest);
      } finally {
        await removeDir(out);
      }
    });

    void test("a second push uploads nothing; resetRequests() starts a new record", async () => {
      reg.resetRequests();
      assert.deepEqual(await reg.requests(), []);
      ok(await skopeo(["copy", ...reg.skopeoArgs("dest"), image.ref, reg.ref("selftest/busybox:v2")]));
      const reqs = await reg.requests();
      assert.deepEqual(reqs.filter(isUpload), [], "blobs already there are not uploaded again");
      assert.ok(reqs.some((r) => r.method === "HEAD" && r.path.includes(image.layers[0]!.digest) && r.status === 200));
      assert.ok(reqs.some((r) => r.method === "PUT" && r.path === "/v2/selftest/busybox/manifests/v2"));
    });

    if (mode === "basic" || mode === "token") {
      void test("wrong credentials and anonymous clients are rejected", async () => {
        const dest = reg.ref("selftest/busybox:v1");
        reg.resetRequests();
        const wrong = { username: reg.username!, password: "not-the-password" };
        const e1 = failed(await skopeo(["inspect", "--raw", ...reg.skopeoArgs("single", wrong), dest]));
        assert.match(e1, /unauthorized|authentication required|401/i);
        const e2 = failed(
          await skopeo(["copy", ...reg.skopeoArgs("dest", wrong), image.ref, reg.ref("selftest/intruder:v1")]),
        );
        assert.match(e2, /unauthorized|authentication required|401/i);
        const e3 = failed(await skopeo(["inspect", "--raw", "--no-creds", "--tls-verify=false", dest]));
        assert.match(e3, /unauthorized|authentication required|401/i);

        const reqs = await reg.requests();
        assert.ok(reqs.length > 0);
        assert.ok(reqs.every((r) => r.status === 401 || r.path === "/v2/"), JSON.stringify(reqs));
        assert.ok(!reqs.some((r) => r.path.startsWith("/v2/selftest/intruder/") && r.status !== 401));
        if (mode === "token") {
          const tokens = reg.tokenRequests();
          assert.ok(tokens.some((t) => t.status === 401 && t.account === reg.username && !t.authenticated));
          // The anonymous client got a token that grants nothing, which the registry then refused.
          assert.ok(tokens.some((t) => t.status === 200 && !t.authenticated && t.granted.length === 0));
          assert.ok(!tokens.some((t) => t.authenticated));
        }
      });
    }

    if (mode === "token") {
      void test("the token server grants the requested scopes to the right user and counts requests", async () => {
        reg.resetRequests();
        ok(await skopeo(["inspect", "--raw", ...reg.skopeoArgs("single"), reg.ref("selftest/busybox:v1")]));
        const tokens = reg.tokenRequests();
        assert.equal(tokens.length, 1);
        assert.equal(tokens[0]!.authenticated, true);
        assert.deepEqual(tokens[0]!.granted, [{ type: "repository", name: "selftest/busybox", actions: ["pull"] }]);

        const basic = "Basic " + Buffer.from(`${reg.username}:${reg.password}`).toString("base64");
        const q = new URLSearchParams([
          ["service", reg.tokenService!],
          ["scope", "repository:a/b:pull,push"],
          ["scope", "repository:c:pull"],
        ]);
        const res = await fetch(`${reg.tokenRealm}?${q}`, { headers: { authorization: basic } });
        assert.equal(res.status, 200);
        const body = (await res.json()) as { token: string; access_token: string; expires_in: number; issued_at: string };
        assert.equal(body.access_token, body.token);
        assert.equal(body.expires_in, 300);
        assert.ok(Math.abs(Date.parse(body.issued_at) - Date.now()) < 10_000);
        const claims = JSON.parse(Buffer.from(body.token.split(".")[1]!, "base64url").toString()) as {
          access: unknown;
          aud: unknown;
        };
        assert.equal(claims.aud, reg.tokenService);
        assert.deepEqual(claims.access, [
          { type: "repository", name: "a/b", actions: ["pull", "push"] },
          { type: "repository", name: "c", actions: ["pull"] },
        ]);
        // The registry takes it for pushes to a/b, not for pushes to c.
        const auth = { authorization: `Bearer ${body.token}` };
        const pushAB = await fetch(`${reg.url}/v2/a/b/blobs/uploads/`, { method: "POST", headers: auth });
        assert.equal(pushAB.status, 202);
        const pushC = await fetch(`${reg.url}/v2/c/blobs/uploads/`, { method: "POST", headers: auth });
        assert.equal(pushC.status, 401);
        assert.match(pushC.headers.get("www-authenticate") ?? "", /error="insufficient_scope"/);
        assert.equal(reg.tokenRequests().length, 2);
      });
    }

    if (mode === "tls") {
      void test("a client without the CA is rejected", async () => {
        assert.ok(reg.caFile && existsSync(reg.caFile) && reg.certDir && existsSync(join(reg.certDir, "ca.crt")));
        assert.match(reg.caPem ?? "", /BEGIN CERTIFICATE/);
        const e = failed(await skopeo(["inspect", "--raw", "--no-creds", reg.ref("selftest/busybox:v1")]));
        assert.match(e, /x509|certificate/i);
        await assert.rejects(fetch(`${reg.url}/v2/`));
        // With the CA, node's TLS accepts both names in the certificate.
        const r = await run("openssl", ["verify", "-CAfile", reg.caFile, "-verify_ip", "127.0.0.1", join(reg.dir, "tls", "server.crt")]);
        assert.equal(r.code, 0, r.stderr);
        const r2 = await run("openssl", ["verify", "-CAfile", reg.caFile, "-verify_hostname", "localhost", join(reg.dir, "tls", "server.crt")]);
        assert.equal(r2.code, 0, r2.stderr);
      });
    }

    if (mode === "plain") {
      void test("requests() keeps the query: a cross-repository mount is visible", async () => {
        reg.resetRequests();
        const layer = image.layers[0]!.digest;
        const res = await fetch(`${reg.url}/v2/selftest/other/blobs/uploads/?mount=${layer}&from=selftest/busybox`, {
          method: "POST",
        });
        assert.equal(res.status, 201);
        assert.deepEqual(await reg.requests(), [
          { method: "POST", path: `/v2/selftest/other/blobs/uploads/?mount=${layer}&from=selftest/busybox`, status: 201 },
        ]);
      });

      void test("a two-platform index and a umoci-built image round-trip", async () => {
        const multi = await makeMultiPlatformImage();
        const umoci = await makeUmociImage();
        try {
          assert.deepEqual(
            multi.images.map((i) => `${i.platform.os}/${i.platform.architecture}`),
            ["linux/amd64", "linux/arm64"],
          );
          assert.equal(multi.images[0]!.layers[0]!.digest, multi.images[1]!.layers[0]!.digest, "busybox layer shared");
          assert.notEqual(multi.images[0]!.layers[1]!.digest, multi.images[1]!.layers[1]!.digest);
          const dest = reg.ref("selftest/multi:v1");
          ok(await skopeo(["copy", "--all", ...reg.skopeoArgs("dest"), multi.ref, dest]));
          const raw = ok(await skopeo(["inspect", "--raw", ...reg.skopeoArgs("single"), dest]));
          assert.equal(sha256(raw.stdout), multi.index.digest);
          const arm = ok(
            await skopeo(["inspect", "--override-arch", "arm64", ...reg.skopeoArgs("single"), dest]),
          );
          assert.equal((JSON.parse(arm.stdout) as { Architecture: string }).Architecture, "arm64");

          ok(await skopeo(["copy", ...reg.skopeoArgs("dest"), umoci.ref, reg.ref("selftest/umoci:v1")]));
          const u = ok(await skopeo(["inspect", "--raw", ...reg.skopeoArgs("single"), reg.ref("selftest/umoci:v1")]));
          assert.equal(sha256(u.stdout), umoci.manifest.digest);
        } finally {
          await multi.cleanup();
          await umoci.cleanup();
        }
      });
    }
  });
}

void describe("token expiry and the kid header", () => {
  void test("a token is accepted until tokenTtlSeconds after issue, then refused; kid-signed tokens work", async () => {
    const reg = await startRegistry({ mode: "token", tokenTtlSeconds: 2, tokenKeyHeader: "kid" });
    try {
      const basic = "Basic " + Buffer.from(`${reg.username}:${reg.password}`).toString("base64");
      const res = await fetch(`${reg.tokenRealm}?service=${reg.tokenService}&scope=repository:x:pull`, {
        headers: { authorization: basic },
      });
      const body = (await res.json()) as { token: string; expires_in: number };
      assert.equal(body.expires_in, 2);
      const header = JSON.parse(Buffer.from(body.token.split(".")[0]!, "base64url").toString()) as Record<string, unknown>;
      assert.match(String(header.kid), /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
      assert.equal(header.x5c, undefined);
      const auth = { authorization: `Bearer ${body.token}` };
      assert.equal((await fetch(`${reg.url}/v2/`, { headers: auth })).status, 200);
      await new Promise((r) => setTimeout(r, 3100));
      const late = await fetch(`${reg.url}/v2/`, { headers: auth });
      assert.equal(late.status, 401);
      assert.match(late.headers.get("www-authenticate") ?? "", /error="invalid_token"/);
      assert.equal(reg.tokenRequests().length, 1);
    } finally {
      await reg.stop();
    }
  });
});

void describe("lifecycle", () => {
  void test("stop() ends the process and removes the temp dir", async () => {
    const reg = await startRegistry({ mode: "plain" });
    assert.ok(processAlive(reg.pid));
    assert.ok(existsSync(reg.dir));
    await reg.stop();
    assert.ok(!processAlive(reg.pid));
    assert.ok(!existsSync(reg.dir));
    await reg.stop(); // idempotent
  });

  void test("a registry that cannot start fails with its stderr", async () => {
    // `sh serve CONFIG` fails at once, complaining about the file "serve".
    await assert.rejects(startRegistry({ mode: "plain", binary: "sh" }), /did not start[\s\S]*serve/);
  });

  const harness = fileURLToPath(new URL("../support/registry.ts", import.meta.url));
  const child = (ending: string) =>
    run(
      process.execPath,
      [
        "--import",
        "tsx",
        "--input-type=module",
        "-e",
        `const { startRegistry } = await import(${JSON.stringify(harness)});
         const r = await startRegistry({ mode: "plain" });
         console.log(JSON.stringify({ pid: r.pid, dir: r.dir }));
         ${ending}`,
      ],
      { timeoutMs: 30_000 },
    );

  void test("registries die with the test process: normal exit without stop()", async () => {
    const r = await child("");
    assert.equal(r.code, 0, r.stderr);
    const { pid, dir } = JSON.parse(r.stdout) as { pid: number; dir: string };
    assert.ok(await waitFor(() => !processAlive(pid), 3000), "registry still running");
    assert.ok(!existsSync(dir));
  });

  void test("registries die with the test process: SIGKILL (the watchdog)", async () => {
    const r = await child(`process.kill(process.pid, "SIGKILL");`);
    assert.equal(r.signal, "SIGKILL");
    const { pid, dir } = JSON.parse(r.stdout) as { pid: number; dir: string };
    assert.ok(await waitFor(() => !processAlive(pid) && !existsSync(dir), 6000), "registry or its dir survived");
  });
});
