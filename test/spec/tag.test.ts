// The tag algorithm (docs/tag-algorithm.md): golden vectors that catch any accidental change, and
// properties that say what the tag depends on and what it ignores.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { appendFile, chmod, cp, mkdir, mkdtemp, readdir, rm, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import "../../src/ecr/spec-vendor.js"; // the ECR spec vendor, registered as the package's entry points register it
import { base32 } from "../../src/spec/base32.js";
import {
  canonicalJson,
  canonicalSpec,
  IMAGESPEC_HASH_VERSION,
  ImageSpec,
  imageName,
  imageReference,
  loadSpecs,
  specHash,
  specTag,
  treeDigest,
  fileDigest,
  type FileEntry,
  type ImageSpecInput,
} from "../../src/spec/index.js";

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "spec");

/** The one spec in a file. */
async function onlySpec(file: string): Promise<ImageSpec> {
  const loaded = await loadSpecs(file);
  assert.equal(loaded.length, 1, `${file} holds one spec`);
  return loaded[0]!.spec;
}

async function namesIn(file: string): Promise<Record<string, string>> {
  const names: Record<string, string> = {};
  for (const { key, spec } of await loadSpecs(file)) names[key] = await imageName(spec);
  return names;
}

/** A copy of the fixture project in a fresh temp folder (symlinks kept as links). */
async function projectCopy(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "imagespec-tag-"));
  await cp(join(FIXTURES, "project"), dir, { recursive: true, verbatimSymlinks: true });
  return dir;
}

async function projectName(dir: string): Promise<string> {
  const spec = await onlySpec(join(dir, "imagespec.yaml"));
  return imageName(spec);
}

function tagOf(input: ImageSpecInput, baseDir = FIXTURES): Promise<string> {
  return specTag(new ImageSpec(input, { baseDir }));
}

void describe("golden vectors", () => {
  // Reviewed canonical forms. If one of these changes, the tag of every existing image changes:
  // that must be deliberate, with IMAGESPEC_HASH_VERSION bumped.
  void it("minimal.yaml", async () => {
    const spec = await onlySpec(join(FIXTURES, "minimal.yaml"));
    assert.equal(canonicalJson(await canonicalSpec(spec)), '{"hashVersion":1,"packages":["numpy==1.26.4"],"platforms":["linux/amd64"],"workdir":"/root"}');
    assert.deepEqual(await namesIn(join(FIXTURES, "minimal.yaml")), { default: "minimal:aw23zuhc34w45wzltt5ibsacpx" });
  });

  void it("project/imagespec.yaml (every field that changes the image, snake_case)", async () => {
    const spec = await onlySpec(join(FIXTURES, "project", "imagespec.yaml"));
    assert.equal(
      canonicalJson(await canonicalSpec(spec)),
      "{" +
        '"aptPackages":["curl","git"],' +
        '"baseImage":"docker.io/library/python:3.12-slim",' +
        '"commands":["mkdir -p /var/cache/app","echo ready > /var/cache/app/state"],' +
        '"entrypoint":["python","-m","app.main"],' +
        '"env":{"APP_ENV":"production","PYTHONUNBUFFERED":"1"},' +
        '"files":"sha256:1a431cedda657d9569ee6399c0510e750caa732194ff3b1ac956c2ec83fdf59c",' +
        '"hashVersion":1,' +
        '"labels":{"org.opencontainers.image.source":"https://github.com/example/full-app"},' +
        '"packages":["pandas>=2.2,<3","torch==2.3.0; sys_platform == \'linux\'"],' +
        '"pipExtraArgs":"--no-cache-dir",' +
        '"pipExtraIndexUrl":["https://download.pytorch.org/whl/cpu"],' +
        '"pipIndex":"https://pypi.org/simple",' +
        '"platforms":["linux/amd64","linux/arm64"],' +
        '"pythonVersion":"3.12",' +
        '"requirements":"sha256:e0ab903f0446b5e86e1c50c174cb38b43780e07e21a329a5f75398ca2f0f1999",' +
        '"user":"1000:1000",' +
        '"workdir":"/app"' +
        "}",
    );
    assert.equal(await imageName(spec), "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/full-app:gqrbmnbbruya66cbj6buykm35o-cpu");
  });

  void it("project/source-root.yaml", async () => {
    assert.deepEqual(await namesIn(join(FIXTURES, "project", "source-root.yaml")), { default: "source-root:k3oofrjqbyixexjczfd6ycffip" });
  });

  void it("multi.yaml: a nested base is hashed by its full image name", async () => {
    assert.deepEqual(await namesIn(join(FIXTURES, "multi.yaml")), {
      base: "localhost:5000/team/base:inbmgeohhvu25f2uew5osvt4wn",
      app: "localhost:5000/team/app:licn63ohjhfvw7lx35pfkqqg37",
    });
    const [, app] = await loadSpecs(join(FIXTURES, "multi.yaml"));
    assert.equal((await canonicalSpec(app!.spec)).baseImage, "localhost:5000/team/base:inbmgeohhvu25f2uew5osvt4wn");
  });

  void it("spec.json", async () => {
    assert.deepEqual(await namesIn(join(FIXTURES, "spec.json")), { default: "ghcr.io/example/json-app:tnj2sidb5izmu7z5osg4wz3vnl" });
  });

  void it("images.ts", async () => {
    assert.deepEqual(await namesIn(join(FIXTURES, "images.ts")), {
      default: "localhost:5000/ts-default:bdwc2kzt5x2w6vgxqhspphlvfp",
      app: "localhost:5000/ts-base:5tizl4c3dgvxksojlzjzyz2ere",
    });
  });
});

void describe("the algorithm as documented", () => {
  void it("base32 is RFC 4648 lower-cased without padding", () => {
    const vectors: [string, string][] = [
      ["", ""],
      ["f", "my"],
      ["fo", "mzxq"],
      ["foo", "mzxw6"],
      ["foob", "mzxw6yq"],
      ["fooba", "mzxw6ytb"],
      ["foobar", "mzxw6ytboi"],
    ];
    for (const [input, expected] of vectors) assert.equal(base32(Buffer.from(input)), expected, input);
  });

  void it("the hash is the first 26 base32 characters of sha256(canonical JSON)", () => {
    const canonical = { hashVersion: IMAGESPEC_HASH_VERSION, workdir: "/root", platforms: ["linux/amd64"] };
    const json = '{"hashVersion":1,"platforms":["linux/amd64"],"workdir":"/root"}';
    assert.equal(canonicalJson(canonical), json);
    const expected = base32(createHash("sha256").update(json).digest()).slice(0, 26);
    assert.equal(specHash(canonical), expected);
    assert.match(expected, /^[a-z2-7]{26}$/);
  });

  void it("canonical JSON sorts keys at every level and leaves out undefined", () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [3, { z: true, y: null }], c: "x" } }), '{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}');
    assert.equal(canonicalJson({ a: undefined as never, b: "é\n" }), '{"b":"é\\n"}');
    assert.throws(() => canonicalJson({ a: 1.5 }), /integers only/);
  });

  void it("the tree digest hashes records of path, type, octal mode and content digest or link target", async () => {
    const dir = await mkdtemp(join(tmpdir(), "imagespec-tree-"));
    await writeFile(join(dir, "f"), "hello");
    const entries: FileEntry[] = [
      { source: dir, path: "/root/d", type: "dir", mode: 0o755, size: 0 },
      { source: join(dir, "f"), path: "/root/d/f", type: "file", mode: 0o644, size: 5 },
      { source: join(dir, "l"), path: "/root/l", type: "symlink", mode: 0o777, size: 0, linkTarget: "d/f" },
    ];
    const hello = createHash("sha256").update("hello").digest("hex");
    const records =
      '[{"mode":"0755","path":"/root/d","type":"dir"},' +
      `{"digest":"sha256:${hello}","mode":"0644","path":"/root/d/f","type":"file"},` +
      '{"mode":"0777","path":"/root/l","target":"d/f","type":"symlink"}]';
    assert.equal(await treeDigest(entries), `sha256:${createHash("sha256").update(records).digest("hex")}`);
  });

  void it("a file's digest is the sha256 of all its bytes: empty, one byte, reads that end part-way, whole reads, more reads than are made at once", async () => {
    const dir = await mkdtemp(join(tmpdir(), "imagespec-file-digest-"));
    try {
      for (const size of [0, 1, (5 << 20) / 2 + 3, 4 << 20, (7 << 20) + 1]) {
        const bytes = randomBytes(size);
        const path = join(dir, `f${size}`);
        await writeFile(path, bytes);
        assert.equal(await fileDigest(path), `sha256:${createHash("sha256").update(bytes).digest("hex")}`, `${size} bytes`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  void it("tagFormat wraps the hash", async () => {
    const hash = await tagOf({ name: "a" });
    assert.equal(await tagOf({ name: "a", tagFormat: "py312-{spec_hash}-gpu" }), `py312-${hash}-gpu`);
  });

  void it("image names: registry/name:tag canonicalised, or name:tag", async () => {
    const tag = await tagOf({ name: "a" });
    assert.equal(await imageName(new ImageSpec({ name: "a" })), `a:${tag}`);
    assert.equal(await imageName(new ImageSpec({ name: "a", registry: "docker.io" })), `docker.io/library/a:${tag}`);
    assert.equal(await imageName(new ImageSpec({ name: "a", registry: "myuser" })), `docker.io/myuser/a:${tag}`);
    assert.equal(await imageName(new ImageSpec({ name: "team/a", registry: "localhost:5000/org" })), `localhost:5000/org/team/a:${tag}`);
    assert.deepEqual(await imageReference(new ImageSpec({ name: "a", registry: "[::1]:5000" })), { registry: "[::1]:5000", repository: "a", tag });
  });
});

void describe("what the tag ignores", () => {
  void it("the checkout path", async () => {
    const [one, two] = [await projectCopy(), await projectCopy()];
    assert.notEqual(one, two);
    const name = await projectName(one);
    assert.equal(name, await projectName(two));
    assert.equal(name, "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/full-app:gqrbmnbbruya66cbj6buykm35o-cpu");
  });

  void it("mtimes", async () => {
    const dir = await projectCopy();
    const before = await projectName(dir);
    const touch = async (folder: string): Promise<void> => {
      for (const entry of await readdir(folder, { withFileTypes: true })) {
        const path = join(folder, entry.name);
        if (entry.isSymbolicLink()) continue;
        await utimes(path, new Date("2001-02-03T04:05:06Z"), new Date("2001-02-03T04:05:06Z"));
        if (entry.isDirectory()) await touch(path);
      }
    };
    await touch(dir);
    assert.equal(await projectName(dir), before);
  });

  void it("the order of keys and of env entries", async () => {
    const a = await tagOf({ name: "a", env: { A: "1", B: "2" }, packages: ["x"], workdir: "/w", labels: { l1: "a", l2: "b" } });
    const b = await tagOf({ labels: { l2: "b", l1: "a" }, workdir: "/w", packages: ["x"], env: { B: "2", A: "1" }, name: "a" });
    assert.equal(a, b);
  });

  void it("the order and repetition of pip, apt and conda packages", async () => {
    assert.equal(await tagOf({ name: "a", packages: ["b", "a"], aptPackages: ["git", "curl"], condaPackages: ["y", "x"] }), await tagOf({ name: "a", packages: ["a", "b", "a"], aptPackages: ["curl", "git"], condaPackages: ["x", "y"] }));
  });

  void it("equivalent spellings of the base image and platforms", async () => {
    assert.equal(await tagOf({ name: "a", baseImage: "python:3.12-slim" }), await tagOf({ name: "a", baseImage: "docker.io/library/python:3.12-slim" }));
    assert.equal(await tagOf({ name: "a", platform: "linux/x86_64,linux/arm64/v8" }), await tagOf({ name: "a", platform: ["linux/arm64", "linux/amd64"] }));
    assert.equal(await tagOf({ name: "a" }), await tagOf({ name: "a", platform: "linux/amd64", workdir: "/root/" }));
  });

  void it("name, registry, builder, builderOptions, ecr and forcePush", async () => {
    const plain = await tagOf({ name: "a" });
    assert.equal(await tagOf({ name: "b", registry: "ghcr.io/x", builder: "docker", builderOptions: { uvImage: "mirror.example.com/uv:0.8" } }), plain);
    assert.equal(await tagOf({ name: "a", registry: "123456789012.dkr.ecr.us-east-1.amazonaws.com", ecr: { scanOnPush: true }, forcePush: true }), plain);
    assert.equal(await specTag(new ImageSpec({ name: "a" }).forcePush()), plain);
  });

  void it("an upper-case registry: lower-cased as flytekit does, said in a warning, the same image name", async () => {
    const upper = new ImageSpec({ name: "a", registry: "GHCR.io/My-Org" });
    assert.equal(upper.registry, "ghcr.io/my-org");
    assert.deepEqual(upper.warnings, [{ path: "registry", message: '"GHCR.io/My-Org" is used as "ghcr.io/my-org": registry paths are lower-case (flytekit lower-cases it too)' }]);
    assert.equal(await imageName(upper), await imageName(new ImageSpec({ name: "a", registry: "ghcr.io/my-org" })));
    assert.deepEqual(upper.withPackages("numpy").warnings, [], "a spec derived from a lower-cased one has nothing to warn about");
  });

  void it("files excluded by .gitignore or .dockerignore", async () => {
    const dir = await projectCopy();
    const before = await projectName(dir);
    await writeFile(join(dir, "src", "app", "main.pyc"), "bytecode"); // src/.gitignore
    await mkdir(join(dir, "src", "app", "__pycache__"));
    await writeFile(join(dir, "src", "app", "__pycache__", "main.cpython-312.pyc"), "x"); // src/.gitignore
    await mkdir(join(dir, "src", "build"));
    await writeFile(join(dir, "src", "build", "out.bin"), "x"); // src/.gitignore
    await writeFile(join(dir, "src", "scratch.tmp"), "x"); // project/.gitignore, above the copied folder
    await writeFile(join(dir, "src", "CHANGELOG.md"), "x"); // src/.dockerignore
    await mkdir(join(dir, "src", ".git"));
    await writeFile(join(dir, "src", ".git", "HEAD"), "x"); // always left out
    assert.equal(await projectName(dir), before);
  });

  void it("files outside what the spec copies", async () => {
    const dir = await projectCopy();
    const before = await projectName(dir);
    await writeFile(join(dir, "data", "table.csv"), "changed");
    await writeFile(join(dir, "config", "other.toml"), "x");
    assert.equal(await projectName(dir), before);
  });
});

void describe("what changes the tag", () => {
  const changes: [string, (dir: string) => Promise<void>][] = [
    ["the requirements file's content", (dir) => appendFile(join(dir, "requirements.txt"), "scipy==1.13.0\n")],
    ["a copied file's content", (dir) => appendFile(join(dir, "src", "app", "main.py"), "# changed\n")],
    ["a copied file's executable bit", (dir) => chmod(join(dir, "src", "app", "main.py"), 0o755)],
    ["a new copied file", (dir) => writeFile(join(dir, "src", "app", "util.py"), "")],
    ["a removed copied file", (dir) => rm(join(dir, "src", "app", "__init__.py"))],
    ["a renamed copied file", async (dir) => {
      await cp(join(dir, "src", "run.sh"), join(dir, "src", "start.sh"));
      await rm(join(dir, "src", "run.sh"));
    }],
    ["a symlink's target", async (dir) => {
      await rm(join(dir, "src", "entry.py"));
      await symlink("app/__init__.py", join(dir, "src", "entry.py"));
    }],
    ["an empty folder in a copied tree", (dir) => mkdir(join(dir, "src", "empty"))],
    ["a file with an explicit destination", (dir) => appendFile(join(dir, "config", "settings.toml"), "debug = true\n")],
    ["a .dockerignore rule", (dir) => writeFile(join(dir, "src", ".dockerignore"), "")],
  ];
  for (const [what, change] of changes) {
    void it(what, async () => {
      const dir = await projectCopy();
      const before = await projectName(dir);
      await change(dir);
      assert.notEqual(await projectName(dir), before);
    });
  }

  void it("a 0644 file set to 0600 does not change it (modes are normalised like git)", async () => {
    const dir = await projectCopy();
    const before = await projectName(dir);
    await chmod(join(dir, "src", "app", "main.py"), 0o600);
    assert.equal(await projectName(dir), before);
  });

  const base: ImageSpecInput = { name: "a", baseImage: "python:3.12-slim", packages: ["numpy"], env: { A: "1" }, commands: ["echo 1", "echo 2"] };
  const variants: [string, Partial<ImageSpecInput>][] = [
    ["env value", { env: { A: "2" } }],
    ["env key", { env: { B: "1" } }],
    ["base image", { baseImage: "python:3.11-slim" }],
    ["base image digest", { baseImage: `python:3.12-slim@sha256:${"a".repeat(64)}` }],
    ["platform", { platform: "linux/arm64" }],
    ["an added platform", { platform: "linux/amd64,linux/arm64" }],
    ["a package", { packages: ["numpy==2.0.0"] }],
    ["command order", { commands: ["echo 2", "echo 1"] }],
    ["python version", { pythonVersion: "3.12" }],
    ["workdir", { workdir: "/app" }],
    ["user", { user: "nobody" }],
    ["entrypoint", { entrypoint: ["python"] }],
    ["an empty cmd (clears the base image's)", { cmd: [] }],
    ["labels", { labels: { a: "b" } }],
    ["pip index", { pipIndex: "https://example.com/simple" }],
    ["conda channel order", { condaChannels: ["b", "a"] }],
  ];
  for (const [what, change] of variants) {
    void it(what, async () => {
      const withChannels = { ...base, condaChannels: ["a", "b"] };
      assert.notEqual(await tagOf({ ...withChannels, ...change }), await tagOf(withChannels));
    });
  }

  void it("a change in a nested base image", async () => {
    const nested = (packages: string[]): ImageSpecInput => ({ name: "app", baseImage: { name: "base", registry: "localhost:5000", packages } });
    assert.notEqual(await tagOf(nested(["numpy"])), await tagOf(nested(["scipy"])));
  });

  void it("the hash version", async () => {
    const spec = new ImageSpec({ name: "a" });
    const canonical = await canonicalSpec(spec);
    assert.equal(canonical.hashVersion, IMAGESPEC_HASH_VERSION);
    assert.notEqual(specHash({ ...canonical, hashVersion: IMAGESPEC_HASH_VERSION + 1 }), specHash(canonical));
  });
});
