// The real CLI through the fault proxy in front of a real docker-registry: push (build), pull of a
// base, copy and exists, each under faults a network, a proxy or a failing registry produce. After
// every run: the exit code is the documented one, the error (if any) is a clean one (message and
// hint, no stack trace); no tag points at an incomplete image (every tagged manifest walked straight
// at the registry, every blob fetched and its digest checked); and a re-run without faults
// succeeds and uploads only what the registry is missing. The tally is printed at the end.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Registry, defaultKeychain } from "../../src/registry/index.js";
import { imagespecCli } from "../support/cli.js";
import { assertNoBrokenTag, linkedBlobs, startFaultProxy, uploadedDigests, type Fault, type FaultProxy, type FaultRule } from "../support/fault-proxy.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { makeTestImage, removeDir, tempDir, type RunResult } from "../support/tools.js";

let reg: TestRegistry;
let other: TestRegistry;
let proxy: FaultProxy;
let direct: Registry;
let work: string;
let seq = 0;
const tally = { tried: 0, survived: 0, cleanErrors: 0, bad: 0 };

const env = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: "/nonexistent-imagespec-home", IMAGESPEC_CACHE_DIR: join(work, "cache") });
const cli = (args: string[], cwd = work): Promise<RunResult> => imagespecCli(args, { cwd, env: env(), timeoutMs: 120_000 });

before(async () => {
  reg = await startRegistry({ mode: "plain" });
  other = await startRegistry({ mode: "plain" });
  proxy = await startFaultProxy(reg);
  direct = new Registry({ keychain: defaultKeychain({ env: { HOME: "/nonexistent-imagespec-home" } }) });
  work = await tempDir("imagespec-faults-");
});

after(async () => {
  console.log(`fault tally: ${tally.tried} tried, ${tally.survived} survived, ${tally.cleanErrors} clean errors, ${tally.bad} bad outcomes`);
  await direct?.close();
  await proxy?.stop();
  await reg?.stop();
  await other?.stop();
  await removeDir(work);
});

/** A clean failure: the documented exit code, "error:" and "hint:", no stack trace, no "undefined". */
function assertCleanError(r: RunResult, code: number, says: RegExp): void {
  assert.equal(r.code, code, `exit ${r.code}\n${r.stderr}`);
  assert.match(r.stderr, /^error: /m, r.stderr);
  assert.match(r.stderr, /^hint: /m, r.stderr);
  assert.doesNotMatch(r.stderr, /^\s+at .+:\d+:\d+\)?$/m, "no stack trace");
  assert.doesNotMatch(r.stderr, /\bundefined\b/);
  assert.match(r.stderr, says);
}

interface Scenario {
  readonly name: string;
  readonly rules: (ctx: { layer: string }) => FaultRule[];
  /** "survive": exit 0 despite the fault; else the exit code and what stderr must say. */
  readonly expect: "survive" | { readonly code: number; readonly says: RegExp };
  readonly args?: string[];
}

const PATCH = /\/blobs\/uploads\/[^?]+/;
const uploads = /\/blobs\/uploads\//;
const manifestPut = (fault: Fault, times = 1): FaultRule => ({ method: "PUT", path: /\/manifests\//, times, fault });

async function pushProject(payloadBytes = 3 << 20): Promise<{ dir: string; name: string; layerBytes: Buffer }> {
  const name = `app-${++seq}`;
  const dir = join(work, name);
  await mkdir(dir, { recursive: true });
  const layerBytes = randomBytes(payloadBytes);
  await writeFile(join(dir, "payload.bin"), layerBytes);
  await writeFile(join(dir, "note.txt"), `scenario ${name}\n`);
  await writeFile(join(dir, "spec.yaml"), [`name: ${name}`, `registry: ${proxy.host}/faults`, "base_image: scratch", "copy: [payload.bin, note.txt]", "env: {A: b}", ""].join("\n"));
  return { dir, name, layerBytes };
}

function record(outcome: "survived" | "clean" | "bad"): void {
  tally.tried++;
  if (outcome === "survived") tally.survived++;
  else if (outcome === "clean") tally.cleanErrors++;
  else tally.bad++;
}

/** Runs one faulted command, checks its outcome and the registry, then re-runs it without faults. */
async function runScenario(s: Scenario, run: () => Promise<RunResult>, host: string, repository: string, regDir: string): Promise<void> {
  proxy.setRules(s.rules({ layer: "" }));
  proxy.resetRequests();
  let outcome: "survived" | "clean" | "bad" = "bad";
  try {
    const r = await run();
    if (s.expect === "survive") {
      assert.equal(r.code, 0, `expected to survive ${s.name}:\n${r.stderr}`);
      assert.ok(proxy.requests.some((q) => q.fault !== undefined), "the fault was injected");
      outcome = "survived";
    } else {
      assertCleanError(r, s.expect.code, s.expect.says);
      outcome = "clean";
    }
    await assertNoBrokenTag(direct, host, repository);

    const before = await linkedBlobs(regDir, repository);
    proxy.setRules([]);
    proxy.resetRequests();
    const again = await run();
    assert.equal(again.code, 0, `the re-run without faults failed:\n${again.stderr}`);
    const tags = await assertNoBrokenTag(direct, host, repository);
    assert.ok(tags.length > 0, "the re-run left a tag");
    const resent = uploadedDigests(proxy.requests).filter((d) => before.has(d));
    assert.deepEqual(resent, [], "the re-run uploaded only what the registry was missing");
  } catch (error) {
    outcome = "bad";
    throw error;
  } finally {
    record(outcome);
  }
}

describe("push (imagespec build) under faults", () => {
  const scenarios: Scenario[] = [
    { name: "a reset mid-upload of the layer", rules: () => [{ method: "PATCH", path: PATCH, fault: { kind: "reset-upload", afterBytes: 1 << 20 } }], expect: "survive" },
    { name: "three 503s on PATCH", rules: () => [{ method: "PATCH", path: PATCH, times: 3, fault: { kind: "status", status: 503 } }], expect: "survive" },
    { name: "three 503s on POST", rules: () => [{ method: "POST", path: uploads, times: 3, fault: { kind: "status", status: 503 } }], expect: "survive" },
    { name: "a 429 with Retry-After: 1 on PATCH", rules: () => [{ method: "PATCH", path: PATCH, fault: { kind: "status", status: 429, headers: { "retry-after": "1" } } }], expect: "survive" },
    { name: "a 502 on a blob HEAD", rules: () => [{ method: "HEAD", path: /\/blobs\/sha256:/, fault: { kind: "status", status: 502 } }], expect: "survive" },
    { name: "a delay of 300 ms on every blob HEAD", rules: () => [{ method: "HEAD", path: /\/blobs\//, times: Infinity, fault: { kind: "delay", ms: 300 } }], expect: "survive" },
    { name: "the manifest PUT's answer lost after the registry stored it", rules: () => [manifestPut({ kind: "drop-after" })], expect: "survive" },
    { name: "a hang on the manifest PUT (--timeout 1)", rules: () => [manifestPut({ kind: "hang" })], expect: "survive", args: ["--timeout", "1"] },
    { name: "the registry stops reading mid-upload (--timeout 1)", rules: () => [{ method: "PATCH", path: PATCH, fault: { kind: "stall-upload", afterBytes: 1 << 20 } }], expect: "survive", args: ["--timeout", "1"] },
    { name: "a reset of the closing blob PUT", rules: () => [{ method: "PUT", path: /\/blobs\/uploads\/.*digest=/, fault: { kind: "drop-after" } }], expect: "survive" },
    { name: "a reset on every PATCH", rules: () => [{ method: "PATCH", path: PATCH, times: Infinity, fault: { kind: "reset-upload", afterBytes: 1 << 20 } }], expect: { code: 1, says: /target registry: PATCH http:\/\/127\.0\.0\.1:\d+\/v2\/faults\/app-\d+\/blobs\/uploads\// } },
    { name: "503 on every manifest PUT", rules: () => [manifestPut({ kind: "status", status: 503 }, Infinity)], expect: { code: 1, says: /PUT http:\/\/127\.0\.0\.1:\d+\/v2\/faults\/app-\d+\/manifests\/.*503 Service Unavailable/ } },
    { name: "a hang on every manifest PUT (--timeout 1)", rules: () => [manifestPut({ kind: "hang" }, Infinity)], expect: { code: 1, says: /timed out/ }, args: ["--timeout", "1"] },
    { name: "an HTML 200 for PATCH (a captive portal)", rules: () => [{ method: "PATCH", path: PATCH, times: Infinity, fault: { kind: "html-200" } }], expect: { code: 1, says: /answered text\/html.* where 202 Accepted was expected/ } },
    { name: "401 on the 4th request", rules: () => [{ path: /^\/v2\/.+/, nth: 4, fault: { kind: "status", status: 401 } }], expect: { code: 1, says: /401 Unauthorized/ } },
    { name: "an HTML 200 for the existence check", rules: () => [{ path: /\/manifests\//, times: Infinity, fault: { kind: "html-200" } }], expect: { code: 1, says: /NOT_A_MANIFEST|answered text\/html.* where an image manifest or index was expected/ } },
  ];
  for (const s of scenarios) {
    it(s.name, async () => {
      const project = await pushProject();
      await runScenario(s, () => cli(["build", "--progress", "plain", ...(s.args ?? []), "spec.yaml"], project.dir), reg.host, `faults/${project.name}`, reg.dir);
    });
  }
});

describe("push of a layer sent while it is compressed (above 4 MiB) under faults", () => {
  // The layer's upload starts during the build (early-upload.ts); a fault there must leave the
  // push to send it, and a fault the push cannot get past must still fail cleanly.
  const scenarios: Scenario[] = [
    { name: "a reset mid-upload", rules: () => [{ method: "PATCH", path: PATCH, fault: { kind: "reset-upload", afterBytes: 6 << 20 } }], expect: "survive" },
    { name: "three 503s on PATCH", rules: () => [{ method: "PATCH", path: PATCH, times: 3, fault: { kind: "status", status: 503 } }], expect: "survive" },
    { name: "three 503s on POST", rules: () => [{ method: "POST", path: uploads, times: 3, fault: { kind: "status", status: 503 } }], expect: "survive" },
    { name: "the registry stops reading mid-upload (--timeout 1)", rules: () => [{ method: "PATCH", path: PATCH, fault: { kind: "stall-upload", afterBytes: 6 << 20 } }], expect: "survive", args: ["--timeout", "1"] },
    { name: "a reset of the closing blob PUT", rules: () => [{ method: "PUT", path: /\/blobs\/uploads\/.*digest=/, fault: { kind: "drop-after" } }], expect: "survive" },
    { name: "a reset on every PATCH", rules: () => [{ method: "PATCH", path: PATCH, times: Infinity, fault: { kind: "reset-upload", afterBytes: 1 << 20 } }], expect: { code: 1, says: /target registry: PATCH http:\/\/127\.0\.0\.1:\d+\/v2\/faults\/app-\d+\/blobs\/uploads\// } },
    { name: "an HTML 200 for PATCH (a captive portal)", rules: () => [{ method: "PATCH", path: PATCH, times: Infinity, fault: { kind: "html-200" } }], expect: { code: 1, says: /answered text\/html.* where 202 Accepted was expected/ } },
  ];
  for (const s of scenarios) {
    it(s.name, async () => {
      const project = await pushProject(20 << 20);
      await runScenario(
        s,
        async () => {
          const r = await cli(["build", "--progress", "plain", ...(s.args ?? []), "spec.yaml"], project.dir);
          // The upload started during the build: a PATCH of unknown length (the push's own has a Content-Length).
          if (proxy.requests.some((q) => q.fault !== undefined)) assert.ok(proxy.requests.some((q) => q.method === "PATCH" && q.chunkedBody), "the layer was being sent while it was compressed");
          return r;
        },
        reg.host,
        `faults/${project.name}`,
        reg.dir,
      );
    });
  }
});

describe("pull of a base image under faults", () => {
  const scenarios: Scenario[] = [
    { name: "three 503s on the base manifest GET", rules: () => [{ method: "GET", path: /\/bases\/.*\/manifests\//, times: 3, fault: { kind: "status", status: 503 } }], expect: "survive" },
    { name: "a reset while the base config is read", rules: () => [{ method: "GET", path: /\/bases\/.*\/blobs\//, fault: { kind: "reset-download", afterBytes: 10 } }], expect: "survive" },
    { name: "a corrupted base config", rules: () => [{ method: "GET", path: /\/bases\/.*\/blobs\//, fault: { kind: "corrupt" } }], expect: "survive" },
    { name: "a base manifest that is an HTML page", rules: () => [{ method: "GET", path: /\/bases\/.*\/manifests\//, times: Infinity, fault: { kind: "html-200" } }], expect: { code: 1, says: /answered text\/html/ } },
    { name: "a base manifest that is {}", rules: () => [{ method: "GET", path: /\/bases\/.*\/manifests\//, times: Infinity, fault: { kind: "body", contentType: "application/json", body: "{}" } }], expect: { code: 1, says: /not a JSON object|schemaVersion|manifest/ } },
  ];
  for (const s of scenarios) {
    it(s.name, async () => {
      const base = await makeTestImage({ busybox: false, layers: [{ "etc/base": `base ${seq}` }] });
      const baseRepo = `bases/base-${++seq}`;
      try {
        await direct.copy(base.ref, `${reg.host}/${baseRepo}:v1`);
        const project = await pushProject();
        await writeFile(join(project.dir, "spec.yaml"), [`name: ${project.name}`, `registry: ${proxy.host}/faults`, `base_image: ${proxy.host}/${baseRepo}:v1`, "copy: [note.txt]", ""].join("\n"));
        await runScenario(s, () => cli(["build", "--progress", "plain", "spec.yaml"], project.dir), reg.host, `faults/${project.name}`, reg.dir);
      } finally {
        await base.cleanup();
      }
    });
  }
});

describe("copy under faults", () => {
  const sourceScenarios: Scenario[] = [
    // The config is read first (with the manifest), the layer while it streams to the target.
    { name: "a truncated source config", rules: () => [{ method: "GET", path: /\/src\/.*\/blobs\/sha256:/, fault: { kind: "truncate", bytes: 100 } }], expect: "survive" },
    { name: "a truncated source layer", rules: () => [{ method: "GET", path: /\/src\/.*\/blobs\/sha256:/, nth: 2, fault: { kind: "truncate", bytes: 1 << 20 } }], expect: "survive" },
    { name: "a corrupted source layer", rules: () => [{ method: "GET", path: /\/src\/.*\/blobs\/sha256:/, nth: 2, fault: { kind: "corrupt" } }], expect: "survive" },
    { name: "a source that stays corrupted", rules: () => [{ method: "GET", path: /\/src\/.*\/blobs\/sha256:/, nth: 2, times: Infinity, fault: { kind: "corrupt" } }], expect: { code: 1, says: /from its source failed: 127\.0\.0\.1:\d+\/src\/copy-\d+@sha256:[0-9a-f]{64}: content digest is sha256:[0-9a-f]{64}/ } },
    { name: "a source that resets every layer read", rules: () => [{ method: "GET", path: /\/src\/.*\/blobs\/sha256:/, times: Infinity, fault: { kind: "reset-download", afterBytes: 1 << 20 } }], expect: { code: 1, says: /source registry: GET http:\/\/127\.0\.0\.1:\d+\/v2\/src\// } },
  ];
  for (const s of sourceScenarios) {
    it(`source side: ${s.name}`, async () => {
      const image = await makeTestImage({ busybox: false, gzip: false, layers: [{ "opt/big.bin": randomBytes(3 << 20) }] });
      const name = `copy-${++seq}`;
      try {
        await direct.copy(image.ref, `${reg.host}/src/${name}:v1`);
        await runScenario(s, () => cli(["copy", "-q", `${proxy.host}/src/${name}:v1`, `${other.host}/dst/${name}:v1`]), other.host, `dst/${name}`, other.dir);
      } finally {
        await image.cleanup();
      }
    });
  }
  const targetScenarios: Scenario[] = [
    { name: "a reset mid-upload", rules: () => [{ method: "PATCH", path: PATCH, fault: { kind: "reset-upload", afterBytes: 1 << 20 } }], expect: "survive" },
    { name: "a 503 on every POST", rules: () => [{ method: "POST", path: uploads, times: Infinity, fault: { kind: "status", status: 503 } }], expect: { code: 1, says: /target registry: POST .*503 Service Unavailable|POST .*503/ } },
  ];
  for (const s of targetScenarios) {
    it(`target side: ${s.name}`, async () => {
      const image = await makeTestImage({ busybox: false, gzip: false, layers: [{ "opt/big.bin": randomBytes(3 << 20) }] });
      const name = `copy-${++seq}`;
      try {
        await runScenario(s, () => cli(["copy", "-q", image.ref, `${proxy.host}/dst/${name}:v1`]), reg.host, `dst/${name}`, reg.dir);
      } finally {
        await image.cleanup();
      }
    });
  }
});

describe("exists under faults", () => {
  let ref: string;
  before(async () => {
    const image = await makeTestImage({ busybox: false, layers: [{ "etc/e": "exists" }] });
    await direct.copy(image.ref, `${reg.host}/faults/exists:v1`);
    await image.cleanup();
    ref = `${proxy.host}/faults/exists:v1`;
  });

  const cases: { name: string; rules: FaultRule[]; code: number; stdout?: RegExp; says?: RegExp; args?: string[] }[] = [
    { name: "three 503s on HEAD", rules: [{ method: "HEAD", path: /\/manifests\//, times: 3, fault: { kind: "status", status: 503 } }], code: 0, stdout: /^present / },
    { name: "an HTML 200 for HEAD and GET", rules: [{ path: /\/manifests\//, times: Infinity, fault: { kind: "html-200" } }], code: 2, says: /answered text\/html.*Sign in/ },
    { name: "{} for HEAD and GET", rules: [{ path: /\/manifests\//, times: Infinity, fault: { kind: "body", contentType: "application/json", body: "{}" } }], code: 2, says: /application\/json: "\{\}"/ },
    { name: "junk without a content type", rules: [{ path: /\/manifests\//, times: Infinity, fault: { kind: "body", body: "garbage" } }], code: 2, says: /no content type: "garbage"/ },
    { name: "401 on the manifest", rules: [{ path: /\/manifests\//, times: Infinity, fault: { kind: "status", status: 401 } }], code: 2, says: /401 Unauthorized/ },
    { name: "a registry that never answers (--timeout 1)", rules: [{ path: /^\/v2\//, times: Infinity, fault: { kind: "hang" } }], code: 2, says: /timed out/, args: ["--timeout", "1"] },
  ];
  it("with the default timeout, a registry that accepts and never answers fails within 30 s", async () => {
    proxy.setRules([{ path: /^\/v2\//, times: Infinity, fault: { kind: "hang" } }]);
    const started = Date.now();
    const r = await cli(["exists", ref]);
    assertCleanError(r, 2, /timed out/);
    assert.ok(Date.now() - started < 30_000, `took ${Date.now() - started} ms`);
    record("clean");
  });

  it("IMAGESPEC_TIMEOUT and the config key timeout set the wait; a malformed value is a usage error naming it", async () => {
    proxy.setRules([{ path: /^\/v2\//, times: Infinity, fault: { kind: "hang" } }]);
    proxy.resetRequests();
    const viaEnv = await imagespecCli(["exists", ref], { cwd: work, env: { ...env(), IMAGESPEC_TIMEOUT: "500ms" } });
    assertCleanError(viaEnv, 2, /timed out \(UND_ERR_HEADERS_TIMEOUT\)/);
    assert.equal(proxy.requests.length, 2, "two stalls, then the error");

    const project = join(work, "timeout-config");
    await mkdir(project, { recursive: true });
    await writeFile(join(project, "imagespec.config.yaml"), "timeout: 0.5s\n");
    assertCleanError(await cli(["exists", ref], project), 2, /timed out/);

    const bad = await imagespecCli(["exists", ref], { cwd: work, env: { ...env(), IMAGESPEC_TIMEOUT: "soon" } });
    assertCleanError(bad, 2, /IMAGESPEC_TIMEOUT: "soon" is not valid: expected a duration/);
    const flag = await cli(["exists", "--timeout", "0", ref]);
    assert.equal(flag.code, 2, flag.stderr);
    assert.match(flag.stderr, /--timeout.*expected a duration above 0/);
  });

  for (const c of cases) {
    it(c.name, async () => {
      proxy.setRules(c.rules);
      proxy.resetRequests();
      let outcome: "survived" | "clean" | "bad" = "bad";
      try {
        const r = await cli(["exists", ...(c.args ?? []), ref]);
        if (c.code === 0) {
          assert.equal(r.code, 0, r.stderr);
          assert.match(r.stdout, c.stdout!);
          outcome = "survived";
        } else {
          assertCleanError(r, c.code, c.says!);
          assert.doesNotMatch(r.stdout, /^present/m, "an error is never 'present'");
          outcome = "clean";
        }
      } finally {
        record(outcome);
      }
    });
  }
});
