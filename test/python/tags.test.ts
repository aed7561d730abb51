// Target tags: the lists are checked against the `packaging` library pip itself uses (vendored in
// the host's pip), told to pretend it runs on the target; then wheel names are judged against them.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { parsePlatform } from "../../src/oci/index.js";
import { PythonError } from "../../src/python/errors.js";
import { DEFAULT_MUSL, pipTargetArgs, platformTags, supportedTags, wheelIsCompatible, wheelRank, type PythonTarget } from "../../src/python/tags.js";
import { parseWheelFilename, wheelTags } from "../../src/python/wheel-filename.js";
import { runOk } from "../support/tools.js";

const amd64: PythonTarget = { platform: parsePlatform("linux/amd64"), pythonVersion: "3.11" };
const arm64: PythonTarget = { platform: parsePlatform("linux/arm64"), pythonVersion: "3.11" };
const alpineArm64: PythonTarget = { platform: parsePlatform("linux/arm64"), pythonVersion: "3.12", libc: DEFAULT_MUSL };

/** packaging's tag lists for a glibc or musl version and machine, computed by the host's pip. */
async function packagingTags(arch: string, libc: { family: "glibc" | "musl"; major: number; minor: number }, python: [number, number]) {
  const script = `
import json
from pip._vendor.packaging import tags, _manylinux, _musllinux
_manylinux._have_compatible_abi = lambda *a: True
_manylinux._get_glibc_version = lambda: (${libc.major}, ${libc.minor})
_musllinux._get_musl_version = lambda exe: _musllinux._MuslVersion(${libc.major}, ${libc.minor})
arch = "${arch}"
if "${libc.family}" == "glibc":
    platforms = list(_manylinux.platform_tags("linux_" + arch, arch))
else:
    platforms = list(_musllinux.platform_tags(arch))
platforms.append("linux_" + arch)
abi = "cp%d%d" % (${python[0]}, ${python[1]})
supported = list(tags.cpython_tags((${python[0]}, ${python[1]}), [abi], platforms)) + list(tags.compatible_tags((${python[0]}, ${python[1]}), abi, platforms))
print(json.dumps({"platforms": platforms, "supported": [str(t) for t in supported]}))
`;
  return JSON.parse((await runOk("python3", ["-c", script])).stdout) as { platforms: string[]; supported: string[] };
}

describe("platform and supported tags", () => {
  for (const [label, target, arch, libc] of [
    ["linux/amd64, glibc 2.36", amd64, "x86_64", { family: "glibc", major: 2, minor: 36 }],
    ["linux/arm64, glibc 2.36", arm64, "aarch64", { family: "glibc", major: 2, minor: 36 }],
    ["linux/arm64, glibc 2.28 (Debian 10)", { ...arm64, libc: { family: "glibc", version: "2.28" } }, "aarch64", { family: "glibc", major: 2, minor: 28 }],
    ["linux/arm64, musl 1.2 (Alpine), CPython 3.12", alpineArm64, "aarch64", { family: "musl", major: 1, minor: 2 }],
  ] as const) {
    it(`matches packaging's order for ${label}`, async () => {
      const oracle = await packagingTags(arch, libc, target.pythonVersion === "3.12" ? [3, 12] : [3, 11]);
      assert.deepEqual(platformTags(target), oracle.platforms);
      assert.deepEqual(supportedTags(target), oracle.supported);
    });
  }

  it("lists the manylinux tags most specific first, legacy aliases after their glibc level, linux_<arch> last", () => {
    const tags = platformTags(amd64);
    assert.equal(tags[0], "manylinux_2_36_x86_64");
    assert.equal(tags.at(-1), "linux_x86_64");
    assert.equal(tags[tags.indexOf("manylinux_2_17_x86_64") + 1], "manylinux2014_x86_64");
    assert.equal(tags[tags.indexOf("manylinux_2_12_x86_64") + 1], "manylinux2010_x86_64");
    assert.equal(tags[tags.indexOf("manylinux_2_5_x86_64") + 1], "manylinux1_x86_64");
    assert.deepEqual(platformTags(arm64).slice(-3), ["manylinux_2_17_aarch64", "manylinux2014_aarch64", "linux_aarch64"]);
    assert.deepEqual(platformTags(alpineArm64), ["musllinux_1_2_aarch64", "musllinux_1_1_aarch64", "musllinux_1_0_aarch64", "linux_aarch64"]);
  });

  it("gives pip the target instead of the host", () => {
    const args = pipTargetArgs(arm64);
    assert.deepEqual(args.slice(0, 4), ["--platform", "manylinux_2_36_aarch64", "--platform", "manylinux_2_35_aarch64"]);
    assert.deepEqual(args.slice(-6), ["--python-version", "3.11", "--implementation", "cp", "--abi", "cp311"]);
    assert.equal(args.filter((a) => a === "--platform").length, platformTags(arm64).length);
  });

  it("refuses platforms no wheel is built for", () => {
    for (const platform of ["windows/amd64", "linux/mips64", "linux/arm/v6"]) {
      assert.throws(() => platformTags({ platform: parsePlatform(platform), pythonVersion: "3.11" }), (e: unknown) => e instanceof PythonError && e.code === "PYTHON_TARGET_UNSUPPORTED");
    }
    assert.deepEqual(platformTags({ platform: parsePlatform("linux/arm/v7"), pythonVersion: "3.11" }).slice(-2), ["manylinux2014_armv7l", "linux_armv7l"]);
  });
});

describe("wheelIsCompatible", () => {
  const cases: [string, PythonTarget, boolean][] = [
    ["fastmath-2.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", amd64, true],
    ["fastmath-2.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", arm64, false],
    ["fastmath-2.0-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl", arm64, true],
    ["fastmath-2.0-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl", amd64, false],
    ["numpy-1.26.4-cp312-cp312-manylinux_2_17_x86_64.whl", amd64, false],
    ["cryptography-42.0.0-cp39-abi3-manylinux_2_28_x86_64.whl", amd64, true],
    ["requests-2.31.0-py3-none-any.whl", arm64, true],
    ["six-1.16.0-py2.py3-none-any.whl", amd64, true],
    ["oldie-1.0-py2-none-any.whl", amd64, false],
    ["new_glibc-1.0-cp311-cp311-manylinux_2_38_x86_64.whl", amd64, false],
    ["new_glibc-1.0-cp311-cp311-manylinux_2_38_x86_64.whl", { ...amd64, libc: { family: "glibc", version: "2.39" } }, true],
    ["alpine-1.0-cp311-cp311-musllinux_1_1_x86_64.whl", amd64, false],
    ["alpine-1.0-cp312-cp312-musllinux_1_1_aarch64.whl", alpineArm64, true],
    ["glibc_only-1.0-cp312-cp312-manylinux_2_17_aarch64.whl", alpineArm64, false],
    ["win-1.0-cp311-cp311-win_amd64.whl", amd64, false],
    ["mac-1.0-cp311-cp311-macosx_11_0_arm64.whl", arm64, false],
    ["plain-1.0-cp311-cp311-linux_x86_64.whl", amd64, true],
  ];
  for (const [filename, target, expected] of cases) {
    it(`${filename} on ${target.platform.architecture}${target.libc ? ` ${target.libc.family} ${target.libc.version}` : ""}: ${expected}`, () => {
      assert.equal(wheelIsCompatible(filename, target), expected);
    });
  }

  it("ranks the most specific wheel first", () => {
    const specific = wheelRank("x-1.0-cp311-cp311-manylinux_2_28_x86_64.whl", amd64)!;
    const abi3 = wheelRank("x-1.0-cp38-abi3-manylinux_2_28_x86_64.whl", amd64)!;
    const pure = wheelRank("x-1.0-py3-none-any.whl", amd64)!;
    assert.ok(specific < abi3 && abi3 < pure, `${specific} < ${abi3} < ${pure}`);
    assert.ok(wheelRank("x-1.0-cp311-cp311-manylinux_2_34_x86_64.whl", amd64)! < specific, "a newer glibc level is more specific");
  });
});

describe("parseWheelFilename", () => {
  it("splits the name, version, build tag and compressed tag sets", () => {
    const wheel = parseWheelFilename("Typing_Extensions-4.9.0-1-py2.py3-none-any.whl");
    assert.equal(wheel.project, "typing-extensions");
    assert.equal(wheel.build, "1");
    assert.deepEqual(wheelTags(wheel), ["py2-none-any", "py3-none-any"]);
  });
});
