// The apt layer's entries: every resolved package's data, mapped through the base's directory
// symlinks (a merged-/usr base has `/bin -> usr/bin`: a package's `bin/ls` lands in `usr/bin/ls`
// and no `bin/` directory shadows the link), dpkg's database updated (status or status.d, and
// info/<pkg>.list, md5sums, conffiles, scripts) so `dpkg -l` and image scanners see the packages,
// and the maintainer-script effects that matter applied without running anything:
// update-alternatives links, the CA bundle of ca-certificates, and a warning for ld.so.conf.d
// folders (no ld.so.cache is written) and for any postinst that does more.
import { readFile } from "node:fs/promises";
import { posix } from "node:path";
import { Readable } from "node:stream";
import type { LayerEntry } from "../layer/index.js";
import { addAlternatives, alternativeLinks, formatAdminFile, parseAdminFile } from "./alternatives.js";
import { resolveInBase, type BaseFiles } from "./base-files.js";
import { field, parseParagraphs, formatParagraph, paragraphOf } from "./control.js";
import { subjectHash } from "./cert-hash.js";
import { blobPath, type DataEntry, type UnpackedDeb } from "./deb.js";
import { dpkgFiltersFromFiles, isExcluded } from "./dpkg-filters.js";
import type { InstalledSet } from "./dpkg-status.js";
import { AptError } from "./errors.js";
import type { IndexPackage } from "./packages-index.js";
import { alternativesOf, readAlternatives, unhandledCommands, type AlternativeInstall } from "./postinst.js";

export interface PreparedPackage {
  readonly pkg: IndexPackage;
  /** The .deb's control members by name. */
  readonly control: ReadonlyMap<string, Buffer>;
  readonly unpacked: UnpackedDeb;
}

export interface AptLayerInput {
  readonly base: BaseFiles;
  readonly installed: InstalledSet;
  /** In name order. */
  readonly packages: readonly PreparedPackage[];
  readonly architecture: string;
}

export interface AptLayerEntries {
  readonly entries: LayerEntry[];
  readonly warnings: string[];
}

/** Bump when the layer made from the same packages changes. */
export const APT_LAYER_LAYOUT_VERSION = 1;

const TRIPLETS: Record<string, string> = {
  amd64: "x86_64-linux-gnu",
  arm64: "aarch64-linux-gnu",
  armhf: "arm-linux-gnueabihf",
  armel: "arm-linux-gnueabi",
  i386: "i386-linux-gnu",
  ppc64el: "powerpc64le-linux-gnu",
  s390x: "s390x-linux-gnu",
  riscv64: "riscv64-linux-gnu",
  mips64el: "mips64el-linux-gnuabi64",
};

const SCRIPTS = new Set(["preinst", "postinst", "prerm", "postrm", "config"]);

function bufferEntry(path: string, content: Buffer | string, mode = 0o644): LayerEntry {
  const bytes = typeof content === "string" ? Buffer.from(content, "utf8") : content;
  return { path, type: "file", mode, size: bytes.length, open: () => Readable.from([bytes]) };
}

function infoName(pkg: IndexPackage): string {
  return pkg.multiArch === "same" ? `${pkg.name}:${pkg.architecture}` : pkg.name;
}

export async function aptLayerEntries(input: AptLayerInput): Promise<AptLayerEntries> {
  const { base, packages } = input;
  const warnings: string[] = [];
  const out = new Map<string, LayerEntry>();
  const owner = new Map<string, string>();
  const md5s = new Map<string, string>();

  // The base's symlinks, then the packages' own (a package may ship a directory symlink).
  const links = new Map(base.symlinks);
  for (const { unpacked } of packages) {
    for (const e of unpacked.entries) {
      if (e.type !== "symlink") continue;
      const at = resolveInBase(`/${e.path}`, links, false) ?? `/${e.path}`;
      links.set(at, e.linkTarget!);
    }
  }
  const place = (entry: DataEntry): string => {
    const resolved = resolveInBase(`/${entry.path}`, links, entry.type === "dir");
    return (resolved ?? `/${entry.path}`).slice(1);
  };

  const add = (entry: LayerEntry, from: string, md5?: string) => {
    const previous = out.get(entry.path);
    if (previous !== undefined) {
      if (previous.type === "dir" && entry.type === "dir") return;
      if (previous.type === "dir" || entry.type === "dir") {
        warnings.push(`${from} ships ${entry.path} as a ${entry.type}, but ${owner.get(entry.path)} ships it as a ${previous.type}; kept the ${previous.type}`);
        return;
      }
      const same = previous.type === entry.type && (entry.type === "symlink" ? previous.linkTarget === entry.linkTarget : md5 !== undefined && md5s.get(entry.path) === md5);
      if (!same) warnings.push(`${from} and ${owner.get(entry.path)} both ship /${entry.path}; ${from}'s is kept`);
    }
    out.set(entry.path, entry);
    owner.set(entry.path, from);
    if (md5 !== undefined) md5s.set(entry.path, md5);
  };

  // dpkg's path-exclude filters (slim images drop docs and man pages): files left out, and the
  // directories that end up holding nothing.
  const filters = dpkgFiltersFromFiles(base.files);
  const kept = (e: DataEntry) => filters.length === 0 || !isExcluded(`/${e.path}`, filters);
  const neededDirs = new Set<string>();
  for (const { unpacked } of packages) {
    for (const e of unpacked.entries) {
      if (e.type === "dir" || !kept(e)) continue;
      for (let dir = posix.dirname(e.path); dir !== "." && !neededDirs.has(dir); dir = posix.dirname(dir)) neededDirs.add(dir);
    }
  }
  for (const { pkg, unpacked } of packages) {
    for (const e of unpacked.entries) {
      if (e.type === "dir" ? !kept(e) && !neededDirs.has(e.path) : !kept(e)) continue;
      const path = place(e);
      if (path === "") continue;
      const common = { path, mode: e.mode, uid: e.uid, gid: e.gid };
      switch (e.type) {
        case "dir":
          // Where the base (or a package) has a symlink the directory resolves to its target: nothing to write over the link.
          add({ ...common, type: "dir" }, pkg.name);
          break;
        case "symlink":
          add({ ...common, type: "symlink", linkTarget: e.linkTarget! }, pkg.name);
          break;
        case "hardlink": {
          const target = unpacked.entries.find((t) => t.path === e.linkTarget && t.type === "file");
          if (target !== undefined && !kept(target)) {
            // Its target was filtered out: the link becomes a copy.
            add({ ...common, type: "file", size: target.size ?? 0, source: blobPath(unpacked, target) }, pkg.name, target.md5);
          } else {
            add({ ...common, type: "hardlink", linkTarget: (resolveInBase(`/${e.linkTarget!}`, links, false) ?? `/${e.linkTarget!}`).slice(1) }, pkg.name);
          }
          break;
        }
        case "file":
          add({ ...common, type: "file", size: e.size ?? 0, source: blobPath(unpacked, e) }, pkg.name, e.md5);
          break;
      }
    }
  }

  writeDpkgDatabase(input, add);
  await applyAlternatives(input, out, add, warnings);
  await applyCaCertificates(input, add, warnings);
  await checkLdSoConf(input, warnings);
  for (const { pkg, control } of packages) {
    const postinst = control.get("postinst");
    if (postinst === undefined) continue;
    const handled = pkg.name === "ca-certificates" ? new Set(["update-ca-certificates", "ucf", "ucfr", "ucfq", "mkdir", "rm", "sed", "touch", "cat", "grep", "find"]) : new Set<string>();
    const text = postinst.toString("utf8");
    const commands = unhandledCommands(text).filter((c) => !handled.has(c));
    const { unreadable } = readAlternatives(text);
    if (unreadable > 0) commands.push(`update-alternatives (${unreadable} call${unreadable === 1 ? "" : "s"} built from variables, not applied)`);
    if (commands.length > 0) {
      warnings.push(
        `${pkg.name}'s postinst runs ${commands.join(", ")}, which the native builder does not run; if the image needs what it does, build with a Dockerfile builder`,
      );
    }
  }
  return { entries: [...out.values()], warnings };
}

type Add = (entry: LayerEntry, from: string, md5?: string) => void;

function statusParagraph(p: PreparedPackage, withStatus: boolean): string {
  const control = parseParagraphs(p.control.get("control")!.toString("utf8"))[0];
  if (control === undefined || field(control, "Package") === undefined) throw new AptError("APT_BAD_CONTROL", `${p.pkg.name}: the .deb's control file has no Package field`);
  const pairs: [string, string][] = [];
  for (const name of control.order) {
    pairs.push([name, field(control, name)!]);
    if (withStatus && name.toLowerCase() === "package") pairs.push(["Status", "install ok installed"]);
  }
  const conffiles = p.control.get("conffiles");
  if (withStatus && conffiles !== undefined) {
    const md5ByPath = new Map(p.unpacked.entries.filter((e) => e.md5 !== undefined).map((e) => [`/${e.path}`, e.md5!]));
    const lines = conffiles
      .toString("utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l.startsWith("/"))
      .map((path) => ` ${path} ${md5ByPath.get(path) ?? "newconffile"}`);
    if (lines.length > 0) pairs.push(["Conffiles", ["", ...lines.map((l) => l.slice(1))].join("\n")]);
  }
  return formatParagraph(paragraphOf(pairs));
}

function writeDpkgDatabase(input: AptLayerInput, add: Add): void {
  const { installed, packages } = input;
  for (const p of packages) {
    const name = infoName(p.pkg);
    const list = ["/.", ...p.unpacked.entries.map((e) => `/${e.path}`)];
    add(bufferEntry(`var/lib/dpkg/info/${name}.list`, `${list.join("\n")}\n`), p.pkg.name);
    for (const [member, content] of p.control) {
      if (member === "control") continue;
      add(bufferEntry(`var/lib/dpkg/info/${name}.${member}`, content, SCRIPTS.has(member) ? 0o755 : 0o644), p.pkg.name);
    }
  }
  if (installed.database === "status.d") {
    for (const p of packages) {
      add(bufferEntry(`var/lib/dpkg/status.d/${p.pkg.name}`, `${statusParagraph(p, false)}\n`), p.pkg.name);
      const md5sums = p.control.get("md5sums");
      if (md5sums !== undefined) add(bufferEntry(`var/lib/dpkg/status.d/${p.pkg.name}.md5sums`, md5sums), p.pkg.name);
    }
    return;
  }
  const blocks = new Map<string, string>();
  const keyOf = (name: string, arch: string, multiArch: string | undefined) => (multiArch === "same" ? `${name}:${arch}` : name);
  for (const raw of (installed.statusText ?? "").split(/\n[ \t]*\n/)) {
    const text = raw.replace(/^\n+|\n+$/g, "");
    if (text === "") continue;
    const name = /^Package:\s*(\S+)/m.exec(text)?.[1];
    if (name === undefined) continue;
    const arch = /^Architecture:\s*(\S+)/m.exec(text)?.[1] ?? "all";
    const multiArch = /^Multi-Arch:\s*(\S+)/m.exec(text)?.[1];
    blocks.set(keyOf(name, arch, multiArch), text);
  }
  for (const p of packages) {
    // An upgraded base package's paragraph is replaced (whatever its Multi-Arch was).
    blocks.delete(p.pkg.name);
    blocks.delete(`${p.pkg.name}:${p.pkg.architecture}`);
    blocks.set(keyOf(p.pkg.name, p.pkg.architecture, p.pkg.multiArch), statusParagraph(p, true));
  }
  const sorted = [...blocks.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, text]) => `${text}\n`);
  add(bufferEntry("var/lib/dpkg/status", sorted.join("\n")), "dpkg");
}

async function applyAlternatives(input: AptLayerInput, out: Map<string, LayerEntry>, add: Add, warnings: string[]): Promise<void> {
  const byName = new Map<string, { calls: AlternativeInstall[]; from: string }>();
  for (const { pkg, control } of input.packages) {
    const postinst = control.get("postinst");
    if (postinst === undefined) continue;
    for (const call of alternativesOf(postinst.toString("utf8"))) {
      // A call for a file the package does not ship (and the base does not have) would dangle.
      if (!out.has(call.path.replace(/^\/+/, "")) && !input.base.symlinks.has(call.path)) {
        const placed = resolveInBase(call.path, input.base.symlinks, false)?.slice(1);
        if (placed === undefined || !out.has(placed)) continue;
      }
      let group = byName.get(call.name);
      if (!group) byName.set(call.name, (group = { calls: [], from: pkg.name }));
      group.calls.push(call);
    }
  }
  for (const [name, { calls, from }] of [...byName].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const adminPath = `/var/lib/dpkg/alternatives/${name}`;
    const existingText = input.base.files.get(adminPath);
    const existing = existingText !== undefined ? parseAdminFile(name, existingText.toString("utf8")) : undefined;
    if (existing !== undefined) {
      const current = input.base.symlinks.get(`/etc/alternatives/${name}`);
      if (current !== undefined) existing.current = current;
    }
    const group = addAlternatives(existing, calls);
    add(bufferEntry(adminPath.slice(1), formatAdminFile(group)), from);
    const exists = (path: string) => out.has((resolveInBase(path, input.base.symlinks, false) ?? path).slice(1));
    for (const [link, target] of alternativeLinks(group, exists)) {
      const path = (resolveInBase(link, input.base.symlinks, false) ?? link).slice(1);
      const there = out.get(path);
      if (there !== undefined && there.type !== "symlink") {
        warnings.push(`alternative ${name}: /${path} is a file of a package, not replaced by a link`);
        continue;
      }
      add({ path, type: "symlink", mode: 0o777, linkTarget: target }, from);
    }
  }
}

/** The effect of update-ca-certificates: the bundle, the `.pem` links and OpenSSL's `<hash>.N` links. */
async function applyCaCertificates(input: AptLayerInput, add: Add, warnings: string[]): Promise<void> {
  const ca = input.packages.find((p) => p.pkg.name === "ca-certificates");
  if (ca === undefined) return;
  const prefix = "usr/share/ca-certificates/";
  const certs = new Map(ca.unpacked.entries.filter((e) => e.type === "file" && e.path.startsWith(prefix) && e.path.endsWith(".crt")).map((e) => [e.path.slice(prefix.length), e]));
  const confText = input.base.files.get("/etc/ca-certificates.conf")?.toString("utf8");
  let enabled: string[];
  if (confText === undefined) {
    enabled = [...certs.keys()].sort();
    add(bufferEntry("etc/ca-certificates.conf", `# Written by imagespec (native apt step) as update-ca-certificates would on a new install.\n${enabled.join("\n")}\n`), ca.pkg.name);
  } else {
    const lines = confText.split("\n").map((l) => l.trim());
    const disabled = new Set(lines.filter((l) => l.startsWith("!")).map((l) => l.slice(1)));
    // New certificates are trusted, as the package's default answer (trust_new_crts=yes) says.
    enabled = [...certs.keys()].filter((c) => !disabled.has(c)).sort();
  }
  const parts: Buffer[] = [];
  const hashes = new Map<string, number>();
  for (const rel of enabled) {
    const entry = certs.get(rel)!;
    let pem = await readFile(blobPath(ca.unpacked, entry));
    if (pem.length > 0 && pem[pem.length - 1] !== 0x0a) pem = Buffer.concat([pem, Buffer.from("\n")]);
    parts.push(pem);
    const name = `${posix.basename(rel, ".crt")}.pem`;
    add({ path: `etc/ssl/certs/${name}`, type: "symlink", mode: 0o777, linkTarget: `/${prefix}${rel}` }, ca.pkg.name);
    try {
      const hash = subjectHash(pem);
      const n = hashes.get(hash) ?? 0;
      hashes.set(hash, n + 1);
      add({ path: `etc/ssl/certs/${hash}.${n}`, type: "symlink", mode: 0o777, linkTarget: name }, ca.pkg.name);
    } catch (error) {
      warnings.push(`ca-certificates: ${rel} could not be read as a certificate (${(error as Error).message}); it is in the bundle but has no hash link`);
    }
  }
  add(bufferEntry("etc/ssl/certs/ca-certificates.crt", Buffer.concat(parts)), ca.pkg.name);
}

async function checkLdSoConf(input: AptLayerInput, warnings: string[]): Promise<void> {
  const triplet = TRIPLETS[input.architecture];
  const standard = new Set(["/lib", "/usr/lib", "/lib64", "/usr/lib64", ...(triplet ? [`/lib/${triplet}`, `/usr/lib/${triplet}`] : [])]);
  for (const { pkg, unpacked } of input.packages) {
    for (const e of unpacked.entries) {
      if (e.type !== "file" || !/^etc\/ld\.so\.conf\.d\/[^/]+\.conf$/.test(e.path)) continue;
      const dirs = (await readFile(blobPath(unpacked, e), "utf8"))
        .split("\n")
        .map((l) => l.replace(/#.*$/, "").trim())
        .filter((l) => l.startsWith("/") && !standard.has(l.replace(/\/+$/, "")));
      if (dirs.length > 0) {
        warnings.push(
          `${pkg.name} adds ${dirs.join(", ")} to the library path (/${e.path}), but ld.so.cache is not rebuilt (ldconfig does not run); set LD_LIBRARY_PATH in the spec's env or build with a Dockerfile builder`,
        );
      }
    }
  }
}
