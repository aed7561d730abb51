// `imagespec build` killed with SIGKILL at five moments of a push — while compressing the layer,
// at the start of its upload, mid-upload, right after the registry committed the blob, and while
// the manifest PUT is in flight (the registry already stored it) — then run again as is. Nothing
// may need cleaning by hand: no tag points at an incomplete image, every layer in the cache matches
// its digest, and the re-run succeeds, uploading only what the registry is missing.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Registry, defaultKeychain } from "../../src/registry/index.js";
import { imagespecCli, imagespecCommandLine } from "../support/cli.js";
import { assertNoBrokenTag, linkedBlobs, startFaultProxy, uploadedDigests, type FaultProxy, type FaultRule } from "../support/fault-proxy.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { removeDir, tempDir } from "../support/tools.js";

let reg: TestRegistry;
let proxy: FaultProxy;
let direct: Registry;
let work: string;
let seq = 0;

const HOME = "/nonexistent-imagespec-home";

before(async () => {
  reg = await startRegistry({ mode: "plain" });
  proxy = await startFaultProxy(reg);
  direct = new Registry({ keychain: defaultKeychain({ env: { HOME } }) });
  work = await tempDir("imagespec-sigkill-");
});

after(async () => {
  await direct?.close();
  await proxy?.stop();
  await reg?.stop();
  await removeDir(work);
});

/** The CLI as its own process (exec'd by the shell, so the pid is node's), to be killed. */
function startBuild(dir: string, cacheDir: string): { child: ChildProcess; exited: Promise<number | null> } {
  const child = spawn("sh", ["-c", `exec ${imagespecCommandLine(["build", "--progress", "plain", "spec.yaml"])}`], {
    cwd: dir,
    env: { PATH: process.env.PATH, HOME, IMAGESPEC_CACHE_DIR: cacheDir },
    stdio: "ignore",
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, exited };
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function filesUnder(dir: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(dir, { recursive: true });
  } catch {
    return [];
  }
  return entries.map((e) => join(dir, e));
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Every cached layer file (`sha256-<hex>`) holds exactly the bytes its name says. */
async function assertCacheWhole(cacheDir: string): Promise<void> {
  for (const file of await filesUnder(cacheDir)) {
    const name = file.split("/").pop()!;
    const match = /^sha256-([0-9a-f]{64})$/.exec(name);
    if (!match || !(await stat(file)).isFile()) continue;
    assert.equal(await sha256File(file), match[1], `cache file ${file} is damaged`);
  }
}

interface Moment {
  readonly name: string;
  /** Rules that freeze the push at the moment (none: the moment is found another way). */
  readonly rules: FaultRule[];
  /** Resolves once the build is at the moment. */
  readonly reached: (ctx: { cacheDir: string }) => Promise<void>;
}

const UPLOAD = /\/blobs\/uploads\//;

const moments: Moment[] = [
  {
    name: "while compressing the layer",
    rules: [],
    reached: ({ cacheDir }) =>
      until("a partly written layer in the cache", async () => {
        for (const file of await filesUnder(cacheDir)) {
          if (/\.tmp-/.test(file) && (await stat(file).catch(() => undefined))?.size) return true;
        }
        return false;
      }),
  },
  {
    name: "at the start of the upload",
    rules: [{ method: "POST", path: UPLOAD, times: Infinity, fault: { kind: "hang" } }],
    reached: () => proxy.waitFor("POST", UPLOAD, 90_000),
  },
  {
    name: "mid-upload",
    rules: [{ method: "PATCH", path: UPLOAD, fault: { kind: "stall-upload", afterBytes: 2 << 20 } }],
    reached: async () => {
      await proxy.waitFor("PATCH", UPLOAD, 90_000);
      await new Promise((r) => setTimeout(r, 300)); // let the first megabytes through
    },
  },
  {
    name: "right after the registry committed the blob",
    rules: [{ method: "PUT", path: /\/blobs\/uploads\/.*digest=/, times: Infinity, fault: { kind: "hang-after" } }],
    reached: () => until("the registry's 201 for the blob", () => proxy.requests.some((r) => r.method === "PUT" && r.upstreamStatus === 201)),
  },
  {
    name: "during the manifest PUT (the registry stored it, the answer never came)",
    rules: [{ method: "PUT", path: /\/manifests\//, times: Infinity, fault: { kind: "hang-after" } }],
    reached: () => until("the registry's 201 for the manifest", () => proxy.requests.some((r) => r.method === "PUT" && r.path.includes("/manifests/") && r.upstreamStatus === 201)),
  },
];

describe("SIGKILL at five moments of a push, then a re-run", () => {
  for (const moment of moments) {
    it(moment.name, async () => {
      const name = `killed-${++seq}`;
      const dir = join(work, name);
      const cacheDir = join(work, `cache-${seq}`);
      await mkdir(dir, { recursive: true });
      // Random bytes do not compress: the layer takes long enough to catch each moment.
      await writeFile(join(dir, "payload.bin"), randomBytes(24 << 20));
      await writeFile(join(dir, "spec.yaml"), [`name: ${name}`, `registry: ${proxy.host}/killed`, "base_image: scratch", "copy: [payload.bin]", ""].join("\n"));
      const repository = `killed/${name}`;

      proxy.setRules(moment.rules);
      proxy.resetRequests();
      const build = startBuild(dir, cacheDir);
      try {
        await Promise.race([moment.reached({ cacheDir }), build.exited.then((code) => Promise.reject(new Error(`the build ended (exit ${code}) before the moment`)))]);
      } finally {
        build.child.kill("SIGKILL");
      }
      assert.equal(await build.exited, null, "killed by the signal");

      await assertNoBrokenTag(direct, reg.host, repository);
      await assertCacheWhole(cacheDir);

      const linked = await linkedBlobs(reg.dir, repository);
      proxy.setRules([]);
      proxy.resetRequests();
      const again = await imagespecCli(["build", "--progress", "plain", "spec.yaml"], { cwd: dir, env: { PATH: process.env.PATH, HOME, IMAGESPEC_CACHE_DIR: cacheDir }, timeoutMs: 180_000 });
      assert.equal(again.code, 0, again.stderr);
      const tags = await assertNoBrokenTag(direct, reg.host, repository);
      assert.equal(tags.length, 1);
      assert.deepEqual(uploadedDigests(proxy.requests).filter((d) => linked.has(d)), [], "nothing the registry held was uploaded again");
      await assertCacheWhole(cacheDir);
      const exists = await imagespecCli(["exists", "spec.yaml"], { cwd: dir, env: { PATH: process.env.PATH, HOME } });
      assert.equal(exists.code, 0, exists.stderr);
    });
  }
});
