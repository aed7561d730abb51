// The whole apt pipeline against a local signed archive (file:// mirror): sources from the base,
// InRelease verified with the base's key, Packages.xz by hash, resolution, download checked by
// sha256, and the layer entries.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as openpgp from "openpgp";
import type { BaseFiles } from "../../src/apt/base-files.js";
import { AptError } from "../../src/apt/errors.js";
import { aptLayers } from "../../src/apt/index.js";
import { runOk } from "../support/tools.js";
import { buildDeb, removeWork, tempWork } from "./helpers.js";

describe("apt pipeline on a local signed archive", () => {
  let work: string;
  let mirror: string;
  let keys: { privateKey: openpgp.PrivateKey; publicKey: openpgp.PublicKey };
  let base: BaseFiles;
  let packagesText: string;

  const sha256 = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

  async function publish(packages: string, tamperIndex = false): Promise<void> {
    const dir = join(mirror, "dists", "stable", "main", "binary-arm64");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "Packages"), packages);
    await runOk("xz", ["-kf", join(dir, "Packages")]);
    const xz = await readFile(join(dir, "Packages.xz"));
    const listed = tamperIndex ? sha256("something else") : sha256(xz);
    const release = [
      "Suite: stable",
      "Codename: stable",
      "Architectures: arm64",
      "Components: main",
      "SHA256:",
      ` ${sha256(packages)} ${Buffer.byteLength(packages)} main/binary-arm64/Packages`,
      ` ${listed} ${xz.length} main/binary-arm64/Packages.xz`,
      "",
    ].join("\n");
    const signed = await openpgp.sign({ message: await openpgp.createCleartextMessage({ text: release }), signingKeys: keys.privateKey });
    await writeFile(join(mirror, "dists", "stable", "InRelease"), signed);
  }

  before(async () => {
    work = await tempWork("imagespec-apt-pipeline-");
    mirror = join(work, "mirror");
    keys = await openpgp.generateKey({ type: "ecc", curve: "ed25519Legacy", userIDs: [{ name: "local archive" }], format: "object" });
    const pool = join(mirror, "pool");
    await mkdir(pool, { recursive: true });
    const stanzas: string[] = [];
    const debs: { name: string; depends?: string; files: Record<string, string> }[] = [
      { name: "hello", depends: "libgreet (>= 1.0)", files: { "usr/bin/hello": "\u007fELF-arm64-hello\n" } },
      { name: "libgreet", files: { "usr/lib/aarch64-linux-gnu/libgreet.so.1": "lib\n" } },
    ];
    for (const p of debs) {
      const deb = await buildDeb(pool, { name: p.name, architecture: "arm64", files: p.files });
      const bytes = await readFile(deb);
      stanzas.push(
        [`Package: ${p.name}`, "Version: 1.0", "Architecture: arm64", ...(p.depends ? [`Depends: ${p.depends}`] : []), `Filename: pool/${p.name}.deb`, `Size: ${bytes.length}`, `SHA256: ${sha256(bytes)}`].join("\n"),
      );
    }
    packagesText = `${stanzas.join("\n\n")}\n`;
    base = {
      files: new Map([
        ["/usr/lib/os-release", Buffer.from("ID=debian\nVERSION_CODENAME=stable\n")],
        ["/etc/apt/sources.list.d/local.sources", Buffer.from(`Types: deb\nURIs: ${pathToFileURL(mirror).href}\nSuites: stable\nComponents: main\nSigned-By: /etc/apt/keyrings/local.asc\n`)],
        ["/etc/apt/keyrings/local.asc", Buffer.from(keys.publicKey.armor())],
        ["/var/lib/dpkg/status", Buffer.from("Package: base-files\nStatus: install ok installed\nArchitecture: arm64\nVersion: 1\n")],
      ]),
      symlinks: new Map([["/etc/os-release", "../usr/lib/os-release"]]),
      dirs: new Set(),
    };
  });
  after(async () => removeWork(work));

  it("resolves, downloads and lays out the packages for arm64", async () => {
    await publish(packagesText);
    const events: string[] = [];
    const result = await aptLayers(base, ["hello"], { platform: { architecture: "arm64", variant: "v8" }, cacheDir: join(work, "cache"), onEvent: (e) => events.push(e.kind) });
    assert.deepEqual(result.packages.map((p) => `${p.name}=${p.version}`), ["hello=1.0", "libgreet=1.0"]);
    assert.deepEqual(events, ["release", "index", "resolved", "download", "download"]);
    const paths = result.entries.map((e) => e.path);
    for (const p of ["usr/bin/hello", "usr/lib/aarch64-linux-gnu/libgreet.so.1", "var/lib/dpkg/status", "var/lib/dpkg/info/hello.list"]) assert.ok(paths.includes(p), p);
  });

  it("rejects an index whose hash is not the one the signed Release lists", async () => {
    await publish(packagesText.replace("Version: 1.0", "Version: 1.1"), true);
    await assert.rejects(
      aptLayers(base, ["hello"], { platform: { architecture: "arm64" }, cacheDir: join(work, "cache-2") }),
      (e: unknown) => e instanceof AptError && e.code === "APT_HASH_MISMATCH" && /Packages\.xz/.test(e.message),
    );
  });

  it("rejects a package whose bytes differ from the index", async () => {
    await publish(packagesText.replace(/SHA256: [0-9a-f]{64}/, `SHA256: ${"0".repeat(64)}`));
    await assert.rejects(
      aptLayers(base, ["hello"], { platform: { architecture: "arm64" }, cacheDir: join(work, "cache-3") }),
      (e: unknown) => e instanceof AptError && e.code === "APT_HASH_MISMATCH" && /^hello 1\.0 \(hello\.deb\)/.test(e.message),
    );
  });

  it("rejects an InRelease that was changed after signing", async () => {
    await publish(packagesText);
    const path = join(mirror, "dists", "stable", "InRelease");
    await writeFile(path, (await readFile(path, "utf8")).replace("Architectures: arm64", "Architectures: arm64 amd64"));
    await assert.rejects(
      aptLayers(base, ["hello"], { platform: { architecture: "arm64" }, cacheDir: join(work, "cache-4") }),
      (e: unknown) => e instanceof AptError && e.code === "APT_SIGNATURE_INVALID",
    );
  });

  it("refuses a base that is not Debian", async () => {
    const alpine: BaseFiles = { ...base, files: new Map([["/etc/os-release", Buffer.from("ID=alpine\nPRETTY_NAME=\"Alpine Linux v3.20\"\n")]]), symlinks: new Map() };
    await assert.rejects(aptLayers(alpine, ["hello"], { platform: { architecture: "arm64" }, cacheDir: join(work, "cache-5") }), (e: unknown) => e instanceof AptError && e.code === "APT_NO_DISTRIBUTION");
  });
});
