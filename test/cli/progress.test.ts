// The progress renderers fed with build events directly (no build, no clock): what the live view
// and the plain lines say about the Python step's work and blob uploads.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { BuildEvent } from "../../src/build/index.js";
import { LiveProgress, plainProgress } from "../../src/cli/progress.js";

const image = "r.example/team/app:tag";
const platform = "linux/amd64";
const wheel = "numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.whl";

function sink(): { text: string; write(chunk: string): void; isTTY: boolean; columns: number } {
  return {
    text: "",
    isTTY: true,
    columns: 200,
    write(chunk: string) {
      this.text += chunk;
    },
  };
}

const progress = (p: Extract<BuildEvent, { kind: "python-progress" }>["progress"]): BuildEvent => ({ kind: "python-progress", image, platform, progress: p });

describe("progress of the Python step", () => {
  it("the live view's line says where the step is, with counts and bytes; the step's result replaces it", () => {
    const out = sink();
    const live = new LiveProgress(out);
    live.onEvent(progress({ phase: "downloading", wheels: 3, done: 1, cached: 1, bytes: 2048, knownBytes: 5120, wheel: { kind: "bytes", filename: wheel, bytes: 1024, size: 4096 } }));
    live.end();
    assert.match(out.text, /python for linux\/amd64: downloading wheels 1\/3 \(1 cached\) 2\.0 KiB of 5\.0 KiB\n/);

    const compressing = sink();
    const second = new LiveProgress(compressing);
    second.onEvent(progress({ phase: "layer", index: 2, layers: 3, wheels: 11, status: "compressing", read: 3 << 20 }));
    second.end();
    assert.match(compressing.text, /python for linux\/amd64: compressing layer 2\/3 \(11 wheels\) 3\.0 MiB read\n/);

    const done = sink();
    const third = new LiveProgress(done);
    third.onEvent(progress({ phase: "resolving", packages: ["pandas>=2.2", "scikit-learn"], requirementsFile: "requirements.txt" }));
    third.onEvent({ kind: "python", image, platform, source: "built", base: "layers", interpreter: "/usr/bin/python3", layers: 2, wheels: 14, resolved: true });
    third.end();
    const final = done.text.slice(done.text.lastIndexOf("[+] Finished"));
    assert.match(final, /python for linux\/amd64: 14 wheels in 2 layer\(s\), built, resolved/);
    assert.doesNotMatch(final, /resolving/);
  });

  it("plain lines: one per milestone (resolution, each wheel started and finished, each layer), none for byte ticks; one line when a blob upload starts", () => {
    const out = sink();
    const plain = plainProgress(out);
    const events: BuildEvent[] = [
      progress({ phase: "resolving", packages: ["a", "b", "c", "d", "e"] }),
      progress({ phase: "resolved", wheels: 2, fromCache: true }),
      progress({ phase: "downloading", wheels: 2, done: 0, cached: 0, bytes: 0, knownBytes: 0, wheel: { kind: "start", filename: wheel } }),
      progress({ phase: "downloading", wheels: 2, done: 0, cached: 0, bytes: 100, knownBytes: 4096, wheel: { kind: "bytes", filename: wheel, bytes: 100, size: 4096 } }),
      progress({ phase: "downloading", wheels: 2, done: 1, cached: 0, bytes: 4096, knownBytes: 4096, wheel: { kind: "done", filename: wheel, size: 4096, fromCache: false } }),
      progress({ phase: "downloading", wheels: 2, done: 2, cached: 1, bytes: 5120, knownBytes: 5120, wheel: { kind: "done", filename: "six-1.0-py3-none-any.whl", size: 1024, fromCache: true } }),
      progress({ phase: "layer", index: 1, layers: 1, wheels: 2, status: "compressing", read: 0 }),
      progress({ phase: "layer", index: 1, layers: 1, wheels: 2, status: "compressing", read: 1000 }),
      progress({ phase: "layer", index: 1, layers: 1, wheels: 2, status: "written", read: 2 << 20, size: 1 << 20 }),
      { kind: "push", image, event: { type: "blob", status: "uploading", digest: `sha256:${"a".repeat(64)}`, size: 1 << 20, bytes: 0 } },
      { kind: "push", image, event: { type: "blob", status: "uploading", digest: `sha256:${"a".repeat(64)}`, size: 1 << 20, bytes: 4096 } },
      { kind: "push", image, event: { type: "blob", status: "uploaded", digest: `sha256:${"a".repeat(64)}`, size: 1 << 20 } },
    ];
    for (const event of events) plain.onEvent(event);
    const lines = out.text.trim().split("\n").map((l) => l.replace(/^\S+ /, ""));
    assert.deepEqual(lines, [
      `${image}: python for linux/amd64: resolving a, b, c and 2 more`,
      `${image}: python for linux/amd64: 2 wheels to install (resolution cached)`,
      `${image}: python for linux/amd64: downloading ${wheel}`,
      `${image}: python for linux/amd64: wheel 1/2 ${wheel} 4.0 KiB downloaded`,
      `${image}: python for linux/amd64: wheel 2/2 six-1.0-py3-none-any.whl 1.0 KiB cached`,
      `${image}: python for linux/amd64: layer 1/1 (2 wheels) compressing`,
      `${image}: python for linux/amd64: layer 1/1 (2 wheels) written, 2.0 MiB compressed to 1.0 MiB`,
      `${image}: blob sha256:aaaaaaaaaaaa 1.0 MiB uploading`,
      `${image}: blob sha256:aaaaaaaaaaaa 1.0 MiB uploaded`,
    ]);
  });
});
