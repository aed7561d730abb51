import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { BaseFiles } from "../../src/apt/base-files.js";
import { resolveInBase } from "../../src/apt/base-files.js";
import { readDebControl, unpackDeb } from "../../src/apt/deb.js";
import { installedFromFiles } from "../../src/apt/dpkg-status.js";
import { aptLayerEntries, type PreparedPackage } from "../../src/apt/layer.js";
import type { IndexPackage } from "../../src/apt/packages-index.js";
import { alternativesOf, unhandledCommands } from "../../src/apt/postinst.js";
import { layerFromEntries, type LayerEntry } from "../../src/layer/index.js";
import { runOk } from "../support/tools.js";
import { buildDeb, removeWork, tempWork, type FakePackage } from "./helpers.js";

const BASE_STATUS = "Package: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12.4\n\nPackage: zz-last\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n";

async function content(entry: LayerEntry): Promise<string> {
  if (entry.source !== undefined) return readFile(entry.source, "utf8");
  const chunks: Buffer[] = [];
  for await (const chunk of (await entry.open!()) as Readable) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

describe("apt layer entries", () => {
  let work: string;
  let prepared: PreparedPackage[];
  const base: BaseFiles = {
    files: new Map([["/var/lib/dpkg/status", Buffer.from(BASE_STATUS)]]),
    symlinks: new Map([
      ["/bin", "usr/bin"],
      ["/lib", "usr/lib"],
      ["/sbin", "usr/sbin"],
    ]),
    dirs: new Set(["/usr", "/usr/bin", "/usr/lib", "/etc"]),
  };

  before(async () => {
    work = await tempWork("imagespec-apt-layer-");
    const packages: FakePackage[] = [
      {
        name: "tool",
        version: "2.0-1",
        files: {
          "bin/tool": "tool binary\n",
          "lib/x86_64-linux-gnu/libtool.so.1": "library\n",
          "etc/tool.conf": "setting=1\n",
          "usr/bin/tool-nawk": "nawk\n",
          "usr/share/man/man1/tool-nawk.1.gz": "man\n",
          "usr/share/doc/tool/README": "docs\n",
          "usr/share/doc/tool/copyright": "license\n",
        },
        conffiles: ["/etc/tool.conf"],
        postinst: [
          "#!/bin/sh",
          "set -e",
          'case "$1" in',
          "  configure|abort-upgrade)",
          "    update-alternatives --install /usr/bin/awk awk /usr/bin/tool-nawk 50 \\",
          "      --slave /usr/share/man/man1/awk.1.gz awk.1.gz /usr/share/man/man1/tool-nawk.1.gz \\",
          "      --slave /usr/share/man/man1/nawk.1.gz nawk.1.gz /usr/share/man/man1/not-shipped.1.gz",
          "    ;;",
          "esac",
          "# Automatically added by dh_installsystemd",
          'if [ "$1" = "configure" ]; then deb-systemd-helper unmask tool.service >/dev/null || true; fi',
          "exit 0",
          "",
        ].join("\n"),
      },
      { name: "libmulti", version: "1.0", multiArch: "same", files: { "usr/lib/x86_64-linux-gnu/libmulti.so.1": "m\n" } },
      { name: "needs-user", files: { "usr/share/needs-user/README": "r\n" }, postinst: "#!/bin/sh\nset -e\nadduser --system svc\nchown svc /var/lib/svc\n" },
    ];
    prepared = [];
    for (const p of packages.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const deb = await buildDeb(work, p);
      const sha = createHash("sha256").update(await readFile(deb)).digest("hex");
      const pkg: IndexPackage = {
        name: p.name,
        version: p.version ?? "1.0",
        architecture: "amd64",
        ...(p.multiArch ? { multiArch: p.multiArch } : {}),
        filename: `pool/${p.name}.deb`,
        size: 0,
        sha256: sha,
        archive: "http://x",
      };
      prepared.push({ pkg, control: await readDebControl(deb), unpacked: await unpackDeb(deb, sha, join(work, "cache")) });
    }
  });
  after(async () => removeWork(work));

  it("maps package paths through the base's directory links (merged /usr): no bin/ over /bin -> usr/bin", async () => {
    const { entries } = await aptLayerEntries({ base, installed: installedFromFiles(base.files), packages: prepared, architecture: "amd64" });
    const paths = new Set(entries.map((e) => e.path));
    assert.ok(paths.has("usr/bin/tool"));
    assert.ok(paths.has("usr/lib/x86_64-linux-gnu/libtool.so.1"));
    for (const shadow of ["bin", "lib", "bin/tool", "lib/x86_64-linux-gnu"]) assert.ok(!paths.has(shadow), `${shadow} must not be in the layer`);
    // The layer writer accepts the entries (no path below a symlink, no duplicates) and is reproducible.
    const one = await layerFromEntries(entries, { cacheDir: join(work, "layers"), epoch: 0 });
    const again = await aptLayerEntries({ base, installed: installedFromFiles(base.files), packages: prepared, architecture: "amd64" });
    const two = await layerFromEntries(again.entries, { cacheDir: join(work, "layers"), epoch: 0 });
    assert.equal(one.descriptor.digest, two.descriptor.digest);
    const listing = (await runOk("tar", ["-tzf", join(work, "layers", `sha256-${one.descriptor.digest.slice(7)}`)])).stdout.split("\n");
    assert.ok(listing.includes("usr/bin/tool"));
    assert.ok(!listing.some((p) => p === "bin/" || p.startsWith("bin/")), listing.join("\n"));
  });

  it("appends the packages to dpkg's status with Conffiles, and writes info/*.list (as the package names paths)", async () => {
    const { entries } = await aptLayerEntries({ base, installed: installedFromFiles(base.files), packages: prepared, architecture: "amd64" });
    const byPath = new Map(entries.map((e) => [e.path, e]));
    const status = await content(byPath.get("var/lib/dpkg/status")!);
    const names = [...status.matchAll(/^Package: (.+)$/gm)].map((m) => m[1]);
    assert.deepEqual(names, ["base-files", "libmulti", "needs-user", "tool", "zz-last"]);
    const tool = status.split("\n\n").find((p) => p.startsWith("Package: tool\n"))!;
    assert.match(tool, /^Package: tool\nStatus: install ok installed\n/);
    assert.ok(tool.includes(`Conffiles:\n /etc/tool.conf ${createHash("md5").update("setting=1\n").digest("hex")}`), tool);
    assert.ok(tool.includes("Description: test package tool\n for the apt tests"));
    const list = (await content(byPath.get("var/lib/dpkg/info/tool.list")!)).split("\n");
    assert.ok(list.includes("/bin/tool") && list.includes("/."), list.join(","));
    assert.ok(byPath.has("var/lib/dpkg/info/libmulti:amd64.list"), "Multi-Arch: same packages are listed with their architecture");
    assert.equal(byPath.get("var/lib/dpkg/info/tool.postinst")!.mode, 0o755);
    assert.equal(byPath.get("var/lib/dpkg/info/tool.conffiles")!.mode, 0o644);
  });

  it("applies update-alternatives, and warns about a postinst that does more", async () => {
    const { entries, warnings } = await aptLayerEntries({ base, installed: installedFromFiles(base.files), packages: prepared, architecture: "amd64" });
    const byPath = new Map(entries.map((e) => [e.path, e]));
    assert.deepEqual([byPath.get("usr/bin/awk")?.type, byPath.get("usr/bin/awk")?.linkTarget], ["symlink", "/etc/alternatives/awk"]);
    assert.equal(byPath.get("etc/alternatives/awk")?.linkTarget, "/usr/bin/tool-nawk");
    assert.equal(byPath.get("etc/alternatives/awk.1.gz")?.linkTarget, "/usr/share/man/man1/tool-nawk.1.gz");
    // A slave whose file is not there gets no link.
    assert.ok(!byPath.has("etc/alternatives/nawk.1.gz") && !byPath.has("usr/share/man/man1/nawk.1.gz"));
    assert.equal(
      await content(byPath.get("var/lib/dpkg/alternatives/awk")!),
      "auto\n/usr/bin/awk\nawk.1.gz\n/usr/share/man/man1/awk.1.gz\nnawk.1.gz\n/usr/share/man/man1/nawk.1.gz\n\n/usr/bin/tool-nawk\n50\n/usr/share/man/man1/tool-nawk.1.gz\n/usr/share/man/man1/not-shipped.1.gz\n\n",
    );
    assert.deepEqual(warnings, ["needs-user's postinst runs adduser, chown, which the native builder does not run; if the image needs what it does, build with a Dockerfile builder"]);
  });

  it("honours the base's dpkg path-exclude / path-include filters", async () => {
    const slim: BaseFiles = {
      ...base,
      files: new Map([...base.files, ["/etc/dpkg/dpkg.cfg.d/docker", Buffer.from("path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\npath-exclude=/usr/share/man/*\n")]]),
    };
    const { entries } = await aptLayerEntries({ base: slim, installed: installedFromFiles(slim.files), packages: prepared, architecture: "amd64" });
    const paths = new Set(entries.map((e) => e.path));
    assert.ok(paths.has("usr/share/doc/tool/copyright"));
    assert.ok(!paths.has("usr/share/doc/tool/README"));
    // /usr/share/man itself does not match /usr/share/man/* (dpkg keeps it, empty); what is below goes.
    assert.deepEqual([...paths].filter((p) => p.startsWith("usr/share/man")), ["usr/share/man"]);
    // The man page is gone, so is the slave link to it; the master link stays.
    assert.ok(paths.has("usr/bin/awk") && !paths.has("etc/alternatives/awk.1.gz"));
  });

  it("status.d bases get one file per package", async () => {
    const distroless: BaseFiles = { ...base, files: new Map([["/var/lib/dpkg/status.d/base-files", Buffer.from("Package: base-files\nVersion: 12.4\nArchitecture: amd64\n")]]) };
    const { entries } = await aptLayerEntries({ base: distroless, installed: installedFromFiles(distroless.files), packages: prepared, architecture: "amd64" });
    const paths = entries.map((e) => e.path);
    assert.ok(paths.includes("var/lib/dpkg/status.d/tool"));
    assert.ok(!paths.includes("var/lib/dpkg/status"));
  });
});

describe("maintainer script reading", () => {
  it("finds update-alternatives calls with literal arguments only", () => {
    assert.deepEqual(alternativesOf("update-alternatives --install /usr/bin/x x /usr/bin/x.real 20\nupdate-alternatives --install $LINK x /y 10\n"), [
      { link: "/usr/bin/x", name: "x", path: "/usr/bin/x.real", priority: 20, slaves: [] },
    ]);
  });

  it("lists commands beyond the harmless ones", () => {
    assert.deepEqual(unhandledCommands("#!/bin/sh\nset -e\nif [ -x /usr/bin/foo ]; then\n  ldconfig\nfi\n"), []);
    assert.deepEqual(unhandledCommands('#!/bin/sh\nmyfn() {\n  echo hi\n}\nmyfn\nfc-cache -f || true\nFOO=1 /usr/sbin/update-mime-database /usr/share/mime\n'), ["fc-cache", "update-mime-database"]);
    const script = [
      "#!/bin/sh",
      "cat > /etc/hosts <<-EOF",
      "\t127.0.0.1 localhost",
      "\tPlease do not edit",
      "EOF",
      'echo "a message',
      'that spans lines; Please read it" >&2',
      'ARCH="$(dpkg --print-architecture)"',
      "for f in *.conf; do :; done",
      'case "$1" in',
      "  *) ;;",
      "esac",
      '"/usr/lib/${ARCH}/glib-2.0/glib-compile-schemas" /usr/share/glib-2.0/schemas || true',
    ].join("\n");
    assert.deepEqual(unhandledCommands(script), ["cat", "glib-compile-schemas"]);
  });
});

describe("paths through base symlinks", () => {
  it("resolves directory links, relative and absolute, and stops on loops", () => {
    const links = new Map([
      ["/bin", "usr/bin"],
      ["/usr/lib64", "/usr/lib"],
      ["/loop", "/loop"],
    ]);
    assert.equal(resolveInBase("/bin/sh", links), "/usr/bin/sh");
    assert.equal(resolveInBase("/bin", links), "/bin");
    assert.equal(resolveInBase("/bin", links, true), "/usr/bin");
    assert.equal(resolveInBase("/usr/lib64/ld.so", links), "/usr/lib/ld.so");
    assert.equal(resolveInBase("/loop/x", links), undefined);
  });
});

describe("ca-certificates without update-ca-certificates", () => {
  let work: string;
  before(async () => {
    work = await tempWork("imagespec-apt-ca-");
  });
  after(async () => removeWork(work));

  it("writes the bundle, the .pem links and OpenSSL's hash links", async () => {
    const dir = "/usr/share/ca-certificates/mozilla";
    const picked = ["ISRG_Root_X1.crt", "DigiCert_Global_Root_G2.crt", "Amazon_Root_CA_1.crt"];
    const files: Record<string, string> = {};
    for (const name of picked) files[`usr/share/ca-certificates/mozilla/${name}`] = await readFile(join(dir, name), "utf8");
    const deb = await buildDeb(work, { name: "ca-certificates", architecture: "all", files, postinst: "#!/bin/sh\nset -e\nupdate-ca-certificates\n" });
    const sha = createHash("sha256").update(await readFile(deb)).digest("hex");
    const pkg: IndexPackage = { name: "ca-certificates", version: "1.0", architecture: "all", filename: "pool/ca.deb", size: 0, sha256: sha, archive: "http://x" };
    const prepared: PreparedPackage = { pkg, control: await readDebControl(deb), unpacked: await unpackDeb(deb, sha, join(work, "cache")) };
    // The base disables one certificate in its ca-certificates.conf.
    const base: BaseFiles = { files: new Map([["/etc/ca-certificates.conf", Buffer.from("mozilla/ISRG_Root_X1.crt\n!mozilla/Amazon_Root_CA_1.crt\n")]]), symlinks: new Map(), dirs: new Set() };
    const { entries, warnings } = await aptLayerEntries({ base, installed: installedFromFiles(base.files), packages: [prepared], architecture: "arm64" });
    assert.deepEqual(warnings, []);
    const byPath = new Map(entries.map((e) => [e.path, e]));
    const enabled = ["DigiCert_Global_Root_G2.crt", "ISRG_Root_X1.crt"];
    assert.equal(await content(byPath.get("etc/ssl/certs/ca-certificates.crt")!), enabled.map((n) => files[`usr/share/ca-certificates/mozilla/${n}`]!).join(""));
    assert.equal(byPath.get("etc/ssl/certs/ISRG_Root_X1.pem")?.linkTarget, "/usr/share/ca-certificates/mozilla/ISRG_Root_X1.crt");
    assert.ok(!byPath.has("etc/ssl/certs/Amazon_Root_CA_1.pem"));
    for (const name of enabled) {
      const hash = (await runOk("openssl", ["x509", "-noout", "-subject_hash", "-in", join(dir, name)])).stdout.trim();
      assert.equal(byPath.get(`etc/ssl/certs/${hash}.0`)?.linkTarget, name.replace(/\.crt$/, ".pem"));
    }
  });
});
