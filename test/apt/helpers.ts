// Small .deb files made by dpkg-deb (the real tool), for the reader and layer tests.
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { runOk } from "../support/tools.js";

export interface FakePackage {
  name: string;
  version?: string;
  architecture?: string;
  multiArch?: string;
  /** Relative path -> content (string) or { link } for a symlink; a path ending in "/" is an empty directory. */
  files: Record<string, string | { link: string }>;
  conffiles?: string[];
  postinst?: string;
  /** dpkg-deb -Z: xz (default), gzip, zstd, none. */
  compression?: "xz" | "gzip" | "zstd" | "none";
}

export async function tempWork(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function removeWork(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Builds `<out>/<name>.deb` and returns its path. */
export async function buildDeb(out: string, p: FakePackage): Promise<string> {
  const root = join(out, `${p.name}-root`);
  await mkdir(join(root, "DEBIAN"), { recursive: true });
  const control = [
    `Package: ${p.name}`,
    `Version: ${p.version ?? "1.0"}`,
    `Architecture: ${p.architecture ?? "amd64"}`,
    ...(p.multiArch ? [`Multi-Arch: ${p.multiArch}`] : []),
    "Maintainer: imagespec tests <tests@example.org>",
    `Description: test package ${p.name}`,
    " for the apt tests",
  ].join("\n");
  await writeFile(join(root, "DEBIAN", "control"), `${control}\n`);
  if (p.conffiles) await writeFile(join(root, "DEBIAN", "conffiles"), p.conffiles.map((c) => `${c}\n`).join(""));
  if (p.postinst) {
    await writeFile(join(root, "DEBIAN", "postinst"), p.postinst);
    await chmod(join(root, "DEBIAN", "postinst"), 0o755);
  }
  for (const [path, content] of Object.entries(p.files)) {
    const target = join(root, path);
    if (path.endsWith("/")) {
      await mkdir(target, { recursive: true });
      continue;
    }
    await mkdir(dirname(target), { recursive: true });
    if (typeof content === "string") await writeFile(target, content);
    else await symlink(content.link, target);
  }
  const deb = join(out, `${p.name}.deb`);
  await runOk("dpkg-deb", ["--root-owner-group", `-Z${p.compression ?? "xz"}`, "--build", root, deb]);
  return deb;
}
