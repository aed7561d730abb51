// `imagespec inspect`, run as a child process, on an image and a two-platform index in a real
// registry and in OCI layouts: the table, the JSON shape, and --raw bytes whose digest is the
// manifest's.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readLayout } from "../../src/oci/index.js";
import { defaultKeychain, Registry } from "../../src/registry/index.js";
import { startRegistry, type TestRegistry } from "../support/registry.js";
import { makeMultiPlatformImage, makeTestImage, type RunResult, type TestImage, type TestIndex } from "../support/tools.js";
import { imagespecCli } from "../support/cli.js";

const ENV = { PATH: process.env.PATH, HOME: "/nonexistent-imagespec-home" };

function imagespec(args: readonly string[]): Promise<RunResult> {
  return imagespecCli(args);
}

const sha256 = (text: string): string => `sha256:${createHash("sha256").update(Buffer.from(text, "utf8")).digest("hex")}`;

interface Info {
  reference: string;
  kind: string;
  digest: string;
  mediaType: string;
  size: number;
  platforms: string[];
  annotations: Record<string, string>;
  totalSize: number;
  images: {
    platform: string;
    digest: string;
    mediaType: string;
    size: number;
    config: { digest: string; mediaType: string; size: number };
    created: string | null;
    author: string | null;
    user: string | null;
    env: string[];
    entrypoint: string[] | null;
    cmd: string[] | null;
    workdir: string | null;
    labels: Record<string, string>;
    exposedPorts: string[];
    layers: { digest: string; mediaType: string; size: number }[];
    layersSize: number;
    totalSize: number;
  }[];
}

void describe("imagespec inspect", () => {
  let reg: TestRegistry;
  let image: TestImage;
  let index: TestIndex;
  const env = ["PATH=/usr/bin:/bin", "GREETING=hello world"];

  before(async () => {
    reg = await startRegistry({ mode: "plain" });
    image = await makeTestImage({ busybox: false, layers: [{ "etc/a": "one\n" }, { "etc/b": "two\n" }], labels: { "org.example.team": "ml", tier: "gold" }, env, cmd: ["/bin/sh", "-c", "echo hi"] });
    index = await makeMultiPlatformImage({ busybox: false, layers: [{ "etc/shared": "shared\n" }] });
    const registry = new Registry({ keychain: defaultKeychain({ env: ENV }) });
    try {
      await registry.push(`${reg.host}/team/app:v1`, await readLayout(image.dir, { tag: image.tag }));
      await registry.push(`${reg.host}/team/multi:v1`, await readLayout(index.dir, { tag: index.tag }));
    } finally {
      await registry.close();
    }
  });

  after(async () => {
    await reg?.stop();
    await image?.cleanup();
    await index?.cleanup();
  });

  void it("prints a table of an image: digest, platform, config fields, layers and sizes", async () => {
    const result = await imagespec(["inspect", `${reg.host}/team/app:v1`]);
    assert.equal(result.stderr, "");
    assert.equal(result.code, 0);
    const out = result.stdout;
    assert.match(out, new RegExp(`^Reference +${reg.host}/team/app:v1$`, "m"));
    assert.match(out, /^Kind +image$/m);
    assert.match(out, new RegExp(`^Digest +${image.manifest.digest}$`, "m"));
    assert.match(out, /^Media type +application\/vnd\.oci\.image\.manifest\.v1\+json$/m);
    assert.match(out, /^Platforms +linux\/amd64$/m);
    assert.match(out, /^ {2}Created +2000-01-01T00:00:00\.000Z$/m);
    assert.match(out, new RegExp(`^ {2}Config +${image.config.digest} \\(\\d+ B\\)$`, "m"));
    assert.match(out, /^ {2}Cmd +\["\/bin\/sh","-c","echo hi"\]$/m);
    assert.match(out, /^ {2}Entrypoint +-$/m);
    assert.match(out, /^ {2}Workdir +-$/m);
    assert.match(out, /^ {2}Env +PATH=\/usr\/bin:\/bin\n {2} +GREETING=hello world$/m);
    assert.match(out, /^ {2}Labels +org\.example\.team=ml\n {2} +tier=gold$/m);
    assert.match(out, /^ {2}Layers \(2\)$/m);
    assert.match(out, /^ {4}# +DIGEST +SIZE +MEDIA TYPE$/m);
    for (const [i, layer] of image.layers.entries()) {
      assert.match(out, new RegExp(`^ {4}${i + 1} +${layer.digest} +${layer.size} B +layer\\.v1\\.tar\\+gzip$`, "m"));
    }
    const total = image.manifestBytes.length + image.config.size + image.layers.reduce((s, l) => s + l.size, 0);
    assert.match(out, new RegExp(`^Total size +\\S+ \\S+ \\(${total} bytes\\)$`, "m"));
  });

  void it("--json describes an image in the documented shape", async () => {
    const result = await imagespec(["inspect", "--json", `${reg.host}/team/app:v1`]);
    assert.equal(result.code, 0);
    const info = JSON.parse(result.stdout) as Info;
    const layersSize = image.layers.reduce((s, l) => s + l.size, 0);
    const totalSize = image.manifestBytes.length + image.config.size + layersSize;
    assert.deepEqual(info, {
      reference: `${reg.host}/team/app:v1`,
      kind: "image",
      digest: image.manifest.digest,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      size: image.manifestBytes.length,
      platforms: ["linux/amd64"],
      annotations: {},
      images: [
        {
          platform: "linux/amd64",
          digest: image.manifest.digest,
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          size: image.manifestBytes.length,
          config: { digest: image.config.digest, mediaType: image.config.mediaType, size: image.config.size },
          created: "2000-01-01T00:00:00.000Z",
          author: null,
          user: null,
          env,
          entrypoint: null,
          cmd: ["/bin/sh", "-c", "echo hi"],
          workdir: null,
          labels: { "org.example.team": "ml", tier: "gold" },
          exposedPorts: [],
          layers: image.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size })),
          layersSize,
          totalSize,
        },
      ],
      totalSize,
    });
  });

  void it("--json describes a two-platform index, one entry per platform", async () => {
    const result = await imagespec(["inspect", "--json", `${reg.host}/team/multi:v1`]);
    assert.equal(result.code, 0);
    const info = JSON.parse(result.stdout) as Info;
    assert.equal(info.kind, "index");
    assert.equal(info.digest, index.index.digest);
    assert.equal(info.mediaType, "application/vnd.oci.image.index.v1+json");
    assert.equal(info.size, index.indexBytes.length);
    assert.deepEqual(info.platforms, ["linux/amd64", "linux/arm64"]);
    assert.deepEqual(
      info.images.map((i) => [i.platform, i.digest, i.layers.map((l) => l.digest)]),
      index.images.map((i) => [`${i.platform.os}/${i.platform.architecture}`, i.manifest.digest, i.layers.map((l) => l.digest)]),
    );
    // The shared layer counts once in the total.
    const blobs = new Map<string, number>();
    for (const i of index.images) for (const d of [i.manifest, i.config, ...i.layers]) blobs.set(d.digest, d.size);
    assert.equal(info.totalSize, index.indexBytes.length + [...blobs.values()].reduce((a, b) => a + b, 0));
  });

  void it("prints a section per platform for an index", async () => {
    const result = await imagespec(["inspect", `${reg.host}/team/multi:v1`]);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^Kind +index$/m);
    assert.match(result.stdout, /^Platforms +linux\/amd64, linux\/arm64$/m);
    for (const i of index.images) assert.match(result.stdout, new RegExp(`^${i.platform.os}/${i.platform.architecture}  ${i.manifest.digest}$`, "m"));
  });

  void it("--platform picks one image from an index", async () => {
    const result = await imagespec(["inspect", "--json", "--platform", "linux/arm64", `${reg.host}/team/multi:v1`]);
    assert.equal(result.code, 0);
    const info = JSON.parse(result.stdout) as Info;
    const arm = index.images.find((i) => i.platform.architecture === "arm64")!;
    assert.equal(info.kind, "image");
    assert.equal(info.digest, arm.manifest.digest);
    assert.deepEqual(info.platforms, ["linux/arm64"]);
  });

  void it("--platform that the index lacks fails and lists what it has", async () => {
    const result = await imagespec(["inspect", "--platform", "linux/s390x", `${reg.host}/team/multi:v1`]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /^error: .*no linux\/s390x image \(it has: linux\/amd64, linux\/arm64\)/m);
  });

  void it("--raw prints the bytes as stored: their sha256 is the digest", async () => {
    const single = await imagespec(["inspect", "--raw", `${reg.host}/team/app:v1`]);
    assert.equal(single.code, 0);
    assert.equal(sha256(single.stdout), image.manifest.digest);
    assert.equal(single.stdout, image.manifestBytes.toString("utf8"));

    const multi = await imagespec(["inspect", "--raw", `${reg.host}/team/multi:v1`]);
    assert.equal(sha256(multi.stdout), index.index.digest);

    const arm = await imagespec(["inspect", "--raw", "--platform", "linux/arm64", `${reg.host}/team/multi:v1`]);
    assert.equal(sha256(arm.stdout), index.images.find((i) => i.platform.architecture === "arm64")!.manifest.digest);
  });

  void it("works on OCI layouts the same way", async () => {
    const json = await imagespec(["inspect", "--json", index.ref]);
    assert.equal(json.code, 0, json.stderr);
    const info = JSON.parse(json.stdout) as Info;
    assert.equal(info.reference, index.ref);
    assert.equal(info.digest, index.index.digest);
    assert.deepEqual(info.platforms, ["linux/amd64", "linux/arm64"]);

    const raw = await imagespec(["inspect", "--raw", image.ref]);
    assert.equal(sha256(raw.stdout), image.manifest.digest);

    const wrong = await imagespec(["inspect", "--platform", "linux/arm64", image.ref]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /is linux\/amd64, not linux\/arm64/);
  });

  void it("rejects --json with --raw, and an image that is not there", async () => {
    const both = await imagespec(["inspect", "--json", "--raw", `${reg.host}/team/app:v1`]);
    assert.equal(both.code, 2);
    const missing = await imagespec(["inspect", `${reg.host}/team/app:nope`]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout, "");
    assert.match(missing.stderr, /^error: .*MANIFEST_UNKNOWN/m);
  });
});
