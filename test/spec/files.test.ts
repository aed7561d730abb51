import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import "../../src/ecr/spec-vendor.js"; // the ECR spec vendor, registered as the package's entry points register it
import { collectFiles, ImageSpec, loadSpecs, type FileEntry, type ImageSpecInput } from "../../src/spec/index.js";

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "spec");

/** The one spec in a file. */
async function onlySpec(file: string): Promise<ImageSpec> {
  const loaded = await loadSpecs(file);
  assert.equal(loaded.length, 1, `${file} holds one spec`);
  return loaded[0]!.spec;
}

/** `type mode path[ -> target]`, the shape of what lands in the image. */
function listing(entries: readonly FileEntry[]): string[] {
  return entries.map((e) => `${e.type} ${e.mode.toString(8)} ${e.path}${e.linkTarget !== undefined ? ` -> ${e.linkTarget}` : ""}`);
}

async function tempTree(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "imagespec-files-"));
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return dir;
}

async function filesOf(dir: string, input: Omit<ImageSpecInput, "name">): Promise<string[]> {
  return listing(await collectFiles(new ImageSpec({ name: "t", ...input }, { baseDir: dir })));
}

void describe("collectFiles", () => {
  void it("lays out the fixture project: copy entries under workdir, explicit destinations, ignore files honoured", async () => {
    const spec = await onlySpec(join(FIXTURES, "project", "imagespec.yaml"));
    const entries = await collectFiles(spec);
    assert.deepEqual(listing(entries), [
      "dir 755 /app/src",
      "file 644 /app/src/.dockerignore",
      "file 644 /app/src/.gitignore",
      "dir 755 /app/src/app",
      // .dockerignore's `*.md` is anchored at the copied folder's root: this one stays.
      "file 644 /app/src/app/README.md",
      "file 644 /app/src/app/__init__.py",
      "file 644 /app/src/app/main.py",
      "symlink 777 /app/src/entry.py -> app/main.py",
      "file 755 /app/src/run.sh",
      "file 644 /etc/app/settings.toml",
    ]);
    const main = entries.find((e) => e.path === "/app/src/app/main.py")!;
    assert.equal(main.source, join(FIXTURES, "project", "src", "app", "main.py"));
    assert.equal(main.size, 94);
  });

  void it("puts sourceRoot's contents at workdir, without an entry for workdir itself", async () => {
    const spec = await onlySpec(join(FIXTURES, "project", "source-root.yaml"));
    const paths = listing(await collectFiles(spec));
    assert.equal(paths[0], "file 644 /root/.dockerignore");
    assert.ok(paths.includes("file 755 /root/run.sh"));
    assert.ok(!paths.some((p) => p.endsWith(" /root")));
    assert.ok(!paths.some((p) => p.includes("NOTES.md")), "excluded by .dockerignore at the source root");
  });

  void it("honours nested .gitignore files, deeper ones taking precedence, and prunes ignored folders", async () => {
    const dir = await tempTree({
      ".gitignore": "*.log\n",
      "src/.gitignore": "*.pyc\nbuild/\n",
      "src/a.py": "a",
      "src/a.pyc": "x",
      "src/app.log": "x",
      "src/build/out.txt": "x",
      "src/pkg/.gitignore": "!keep.pyc\n",
      "src/pkg/keep.pyc": "kept",
      "src/pkg/drop.pyc": "x",
      "src/.git/HEAD": "ref: refs/heads/main",
    });
    assert.deepEqual(await filesOf(dir, { copy: ["src"] }), [
      "dir 755 /root/src",
      "file 644 /root/src/.gitignore",
      "file 644 /root/src/a.py",
      "dir 755 /root/src/pkg",
      "file 644 /root/src/pkg/.gitignore",
      "file 644 /root/src/pkg/keep.pyc",
    ]);
  });

  void it("applies .dockerignore at the root of the copied folder, anchored, with exceptions", async () => {
    const dir = await tempTree({
      "src/.dockerignore": "# comment\n*.md\n!KEEP.md\n/secret\ndocs/**/*.txt\n",
      "src/README.md": "x",
      "src/KEEP.md": "kept",
      "src/sub/README.md": "kept: not at the root",
      "src/secret/key": "x",
      "src/docs/a/b.txt": "x",
      "src/docs/a/b.rst": "kept",
    });
    assert.deepEqual(await filesOf(dir, { copy: [{ src: "src", dest: "/srv" }] }), [
      "dir 755 /srv",
      "file 644 /srv/.dockerignore",
      "file 644 /srv/KEEP.md",
      "dir 755 /srv/docs",
      "dir 755 /srv/docs/a",
      "file 644 /srv/docs/a/b.rst",
      "dir 755 /srv/sub",
      "file 644 /srv/sub/README.md",
    ]);
  });

  void it("never excludes a path named explicitly", async () => {
    const dir = await tempTree({ ".gitignore": "*.tmp\n", "debug.tmp": "x" });
    assert.deepEqual(await filesOf(dir, { copy: ["debug.tmp"] }), ["file 644 /root/debug.tmp"]);
  });

  void it("resolves destinations: relative under workdir, absolute as is, trailing '/' means into the folder", async () => {
    const dir = await tempTree({ "conf/a.toml": "a" });
    assert.deepEqual(await filesOf(dir, { workdir: "/app", copy: ["conf/a.toml", { src: "conf/a.toml", dest: "etc/" }, { src: "conf/a.toml", dest: "/etc/x.toml" }] }), [
      "file 644 /app/conf/a.toml",
      "file 644 /app/etc/a.toml",
      "file 644 /etc/x.toml",
    ]);
  });

  void it("lets a later copy entry replace an earlier one at the same path", async () => {
    const dir = await tempTree({ "one/f.txt": "1", "two/f.txt": "2" });
    const entries = await collectFiles(new ImageSpec({ name: "t", copy: [{ src: "one/f.txt", dest: "/f.txt" }, { src: "two/f.txt", dest: "/f.txt" }] }, { baseDir: dir }));
    assert.equal(entries.length, 1);
    assert.equal(entries[0]!.source, join(dir, "two", "f.txt"));
  });

  void it("normalises modes like git and keeps symlinks as links", async () => {
    const dir = await tempTree({ "src/private": "x", "src/tool": "x", "target/inner.txt": "x" });
    await chmod(join(dir, "src", "private"), 0o600);
    await chmod(join(dir, "src", "tool"), 0o700);
    await chmod(join(dir, "src"), 0o700);
    await symlink("../target", join(dir, "src", "linked-dir"));
    assert.deepEqual(await filesOf(dir, { copy: ["src"] }), [
      "dir 755 /root/src",
      "symlink 777 /root/src/linked-dir -> ../target",
      "file 644 /root/src/private",
      "file 755 /root/src/tool",
    ]);
  });

  void it("refuses copy and source_root paths that a link leads outside the spec's folder, naming the path and the link", async () => {
    const outside = await tempTree({ "secret.txt": "outside\n", "sub/deeper.txt": "x" });
    const dir = await tempTree({ "inside/ok.txt": "ok" });
    await symlink(outside, join(dir, "linkdir"));
    await symlink("inside", join(dir, "inner-link"));
    const inputs: Omit<ImageSpecInput, "name">[] = [{ copy: ["linkdir/secret.txt"] }, { copy: [{ src: "linkdir/sub", dest: "/x" }] }, { sourceRoot: "linkdir" }, { copy: ["inner-link/../linkdir/secret.txt"] }];
    for (const input of inputs) {
      const spec = (() => {
        try {
          return new ImageSpec({ name: "t", ...input }, { baseDir: dir });
        } catch {
          return undefined; // the textual check caught it first; fine
        }
      })();
      if (!spec) continue;
      await assert.rejects(collectFiles(spec), (error: Error & { code?: string }) => {
        assert.equal(error.code, "INVALID_SPEC");
        assert.match(error.message, /leads outside the spec file's folder/);
        assert.ok(error.message.includes(join(dir, "linkdir")), error.message);
        assert.ok(error.message.includes(outside), error.message);
        return true;
      }, JSON.stringify(input));
    }
    // loadSpecs refuses it too, before anything is read or hashed.
    await writeFile(join(dir, "imagespec.yaml"), "name: t\ncopy: [linkdir/secret.txt]\n");
    await assert.rejects(loadSpecs(join(dir, "imagespec.yaml")), /copy\[0\]: "linkdir\/secret.txt" leads outside/);
  });

  void it("follows links that stay inside the spec's folder, and keeps a copied link (even to outside) as a link", async () => {
    const outside = await tempTree({ "secret.txt": "outside\n" });
    const dir = await tempTree({ "inside/ok.txt": "ok", "src/a.txt": "a" });
    await symlink("inside", join(dir, "inner-link"));
    await symlink(join(outside, "secret.txt"), join(dir, "src", "to-outside"));
    await symlink(join(outside, "secret.txt"), join(dir, "named-link"));
    assert.deepEqual(await filesOf(dir, { copy: ["inner-link/ok.txt", "src", "named-link"] }), [
      "file 644 /root/inner-link/ok.txt",
      `symlink 777 /root/named-link -> ${join(outside, "secret.txt")}`,
      "dir 755 /root/src",
      "file 644 /root/src/a.txt",
      `symlink 777 /root/src/to-outside -> ${join(outside, "secret.txt")}`,
    ]);
    assert.deepEqual(await filesOf(dir, { sourceRoot: "inner-link" }), ["file 644 /root/ok.txt"]);
  });

  void it("skips FIFOs and other special files", async () => {
    const dir = await tempTree({ "src/a.txt": "a" });
    execFileSync("mkfifo", [join(dir, "src", "pipe")]);
    assert.deepEqual(await filesOf(dir, { copy: ["src"] }), ["dir 755 /root/src", "file 644 /root/src/a.txt"]);
  });

  void it("copies the spec folder itself with copy '.' like sourceRoot", async () => {
    const dir = await tempTree({ "a.txt": "a" });
    assert.deepEqual(await filesOf(dir, { copy: ["."] }), ["file 644 /root/a.txt"]);
    assert.deepEqual(await filesOf(dir, { sourceRoot: "." }), ["file 644 /root/a.txt"]);
  });

  void it("sorts by destination path in code-unit order", async () => {
    const entries = await collectFiles(new ImageSpec({ name: "t", copy: ["src", "data", "config"] }, { baseDir: join(FIXTURES, "project") }));
    const paths = entries.map((e) => e.path);
    assert.deepEqual(paths, [...paths].sort());
    assert.ok(paths.indexOf("/root/config/settings.toml") < paths.indexOf("/root/data/table.csv"));
    assert.ok(paths.indexOf("/root/src/NOTES.md") === -1);
  });
});
