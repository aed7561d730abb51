// Small wheels for tests, written as zip files by node code (no setuptools, no network): fully
// under control, fast, and able to make the broken or hostile wheels negative tests need.
//
// `buildFixtureWheels(dir)` writes the standard set (see FixtureWheels); `buildWheel` makes one
// from a description; `writeZip` writes any zip, including ones no build backend would produce.
// Next to each wheel a `<wheel>.metadata` file holds its METADATA, which the test index serves
// as PEP 658 metadata so pip resolves without downloading the wheels.
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { crc32, deflateRawSync } from "node:zlib";
import { runOk, tempDir, removeDir } from "./tools.js";

export interface ZipMember {
  name: string;
  data: Buffer;
  /** Unix mode including the file type (default 0o100644); stored in the external attributes. */
  mode?: number;
  /** Write without compression (default: deflate). */
  stored?: boolean;
}

/** A zip with fixed timestamps and members in the order given (made on "Unix", so modes are kept). */
export function zipBytes(members: readonly ZipMember[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const member of members) {
    const name = Buffer.from(member.name, "utf8");
    const method = member.stored ? 0 : 8;
    const body = member.stored ? member.data : deflateRawSync(member.data);
    const crc = crc32(member.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // names are UTF-8
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(0, 10); // time 00:00:00
    local.writeUInt16LE((0 << 9) | (1 << 5) | 1, 12); // date 1980-01-01
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(member.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by Unix
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt16LE(0, 12);
    central.writeUInt16LE((0 << 9) | (1 << 5) | 1, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(member.data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(((member.mode ?? 0o100644) << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += local.length + name.length + body.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(members.length, 8);
  end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

export async function writeZip(path: string, members: readonly ZipMember[]): Promise<void> {
  await writeFile(path, zipBytes(members));
}

export type WheelContent = string | Buffer | { content: string | Buffer; mode: number };

export interface WheelDescription {
  /** Project name as users write it, e.g. "greet" or "My_Pkg". */
  name: string;
  version: string;
  /** `python-abi-platform`, default `py3-none-any`. */
  tag?: string;
  /** Paths inside the wheel (package files and `<name>-<ver>.data/<key>/...`). */
  files: Record<string, WheelContent>;
  requires?: string[];
  /** `Provides-Extra:` lines (pip applies only the extras a wheel declares). */
  providesExtras?: string[];
  requiresPython?: string;
  /** e.g. { console_scripts: { greet: "greet.cli:main" } } */
  entryPoints?: Record<string, Record<string, string>>;
  /** Default: true for `none` ABI wheels, false otherwise. */
  rootIsPurelib?: boolean;
  /** Rewrites RECORD rows before they are written (to make a wheel lie about its content). */
  editRecord?: (rows: string[][]) => string[][];
}

export interface BuiltWheel {
  path: string;
  filename: string;
  project: string;
  version: string;
  sha256: string;
  size: number;
  metadata: string;
}

function escapeName(name: string): string {
  return name.replace(/[-_.]+/g, "_");
}

function contentOf(value: WheelContent): { data: Buffer; mode: number } {
  if (typeof value === "string") return { data: Buffer.from(value), mode: 0o100644 };
  if (Buffer.isBuffer(value)) return { data: value, mode: 0o100644 };
  return { data: Buffer.isBuffer(value.content) ? value.content : Buffer.from(value.content), mode: value.mode };
}

function recordHashOf(data: Buffer): string {
  return `sha256=${createHash("sha256").update(data).digest("base64url")}`;
}

/** Writes `<dir>/<filename>.whl` (and `<filename>.whl.metadata`) and returns its facts. */
export async function buildWheel(dir: string, wheel: WheelDescription): Promise<BuiltWheel> {
  const tag = wheel.tag ?? "py3-none-any";
  const distribution = escapeName(wheel.name);
  const filename = `${distribution}-${wheel.version}-${tag}.whl`;
  const distInfo = `${distribution}-${wheel.version}.dist-info`;
  const abi = tag.split("-")[1] ?? "none";
  const metadata = [
    "Metadata-Version: 2.1",
    `Name: ${wheel.name}`,
    `Version: ${wheel.version}`,
    ...(wheel.requiresPython ? [`Requires-Python: ${wheel.requiresPython}`] : []),
    ...(wheel.providesExtras ?? []).map((e) => `Provides-Extra: ${e}`),
    ...(wheel.requires ?? []).map((r) => `Requires-Dist: ${r}`),
    "",
    "",
  ].join("\n");
  const wheelFile = [
    "Wheel-Version: 1.0",
    "Generator: imagespec-test-fixtures",
    `Root-Is-Purelib: ${String(wheel.rootIsPurelib ?? abi === "none")}`,
    ...tag.split("-")[2]!.split(".").map((platform) => `Tag: ${tag.split("-")[0]}-${abi}-${platform}`),
    "",
  ].join("\n");
  const members: ZipMember[] = [];
  for (const [name, value] of Object.entries(wheel.files)) {
    const { data, mode } = contentOf(value);
    members.push({ name, data, mode });
  }
  members.push({ name: `${distInfo}/METADATA`, data: Buffer.from(metadata) });
  members.push({ name: `${distInfo}/WHEEL`, data: Buffer.from(wheelFile) });
  if (wheel.entryPoints) {
    const text = Object.entries(wheel.entryPoints)
      .map(([group, entries]) => `[${group}]\n${Object.entries(entries).map(([k, v]) => `${k} = ${v}`).join("\n")}\n`)
      .join("\n");
    members.push({ name: `${distInfo}/entry_points.txt`, data: Buffer.from(text) });
  }
  let rows = members.map((m) => [m.name, recordHashOf(m.data), String(m.data.length)]);
  rows.push([`${distInfo}/RECORD`, "", ""]);
  if (wheel.editRecord) rows = wheel.editRecord(rows);
  members.push({ name: `${distInfo}/RECORD`, data: Buffer.from(rows.map((r) => `${r.join(",")}\n`).join("")) });

  const bytes = zipBytes(members);
  await mkdir(dir, { recursive: true });
  const path = join(dir, filename);
  await writeFile(path, bytes);
  await writeFile(`${path}.metadata`, metadata);
  return {
    path,
    filename,
    project: wheel.name.toLowerCase().replace(/[-_.]+/g, "-"),
    version: wheel.version,
    sha256: createHash("sha256").update(bytes).digest("hex"),
    size: bytes.length,
    metadata,
  };
}

// ---------------------------------------------------------------------------------------------
// ELF: a real x86-64 extension module compiled with gcc, and an aarch64 stand-in.

export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;

/** The e_machine field of an ELF file, or undefined when the bytes are not ELF. */
export function elfMachine(bytes: Buffer): number | undefined {
  if (bytes.length < 20 || !bytes.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) return undefined;
  return bytes[5] === 2 ? bytes.readUInt16BE(18) : bytes.readUInt16LE(18);
}

/** A 64-bit little-endian ELF shared-object header for aarch64: enough for `file` and machine checks, not to load. */
export function fakeAarch64SharedObject(): Buffer {
  const header = Buffer.alloc(64);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]).copy(header, 0);
  header.writeUInt16LE(3, 16); // ET_DYN
  header.writeUInt16LE(EM_AARCH64, 18);
  header.writeUInt32LE(1, 20);
  header.writeUInt16LE(64, 52); // e_ehsize
  return header;
}

const EXTENSION_SOURCE = `#include <Python.h>
static PyObject *add(PyObject *self, PyObject *args) {
  long a, b;
  if (!PyArg_ParseTuple(args, "ll", &a, &b)) return NULL;
  return PyLong_FromLong(a + b);
}
static PyMethodDef methods[] = {{"add", add, METH_VARARGS, "Add two integers."}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_speedups", NULL, -1, methods};
PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&module); }
`;

let compiledExtension: Promise<Buffer> | undefined;

/** `_speedups.cpython-311-x86_64-linux-gnu.so` for the host python3 (compiled once per process). */
export function hostExtensionModule(): Promise<Buffer> {
  compiledExtension ??= (async () => {
    const dir = await tempDir("imagespec-ext-");
    try {
      const include = (await runOk("python3", ["-c", "import sysconfig; print(sysconfig.get_paths()['include'])"])).stdout.trim();
      await writeFile(join(dir, "speedups.c"), EXTENSION_SOURCE);
      await runOk("gcc", ["-shared", "-fPIC", "-O1", `-I${include}`, "-o", join(dir, "speedups.so"), join(dir, "speedups.c")]);
      return await readFile(join(dir, "speedups.so"));
    } finally {
      await removeDir(dir);
    }
  })();
  return compiledExtension;
}

// ---------------------------------------------------------------------------------------------
// The standard set

export interface FixtureWheels {
  dir: string;
  /** Pure Python, no dependencies. */
  helper: BuiltWheel;
  /** Pure Python, depends on helper>=1.0; console + GUI scripts, `.data/scripts|data|headers`. */
  greet: BuiltWheel;
  /** "Compiled" cp311 wheels: a real x86-64 extension and an aarch64 ELF stand-in. */
  fastmathAmd64: BuiltWheel;
  fastmathArm64: BuiltWheel;
  /** modern 1.0 runs on Python >= 3.8, modern 2.0 needs >= 3.12 (for data-requires-python). */
  modernOld: BuiltWheel;
  modernNew: BuiltWheel;
  /** Only built for x86-64: no wheel for linux/arm64. */
  x86only: BuiltWheel;
  all: BuiltWheel[];
}

export const FASTMATH_AMD64_TAG = "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64";
export const FASTMATH_ARM64_TAG = "cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64";

export async function buildFixtureWheels(dir: string): Promise<FixtureWheels> {
  await mkdir(dir, { recursive: true });
  const helper = await buildWheel(dir, {
    name: "helper",
    version: "1.2",
    requiresPython: ">=3.8",
    files: { "helper/__init__.py": "def shout(text):\n    return text.upper() + '!'\n" },
  });
  const greet = await buildWheel(dir, {
    name: "greet",
    version: "1.0",
    requires: ["helper>=1.0"],
    requiresPython: ">=3.8",
    files: {
      "greet/__init__.py": "from helper import shout\n\ndef greeting(name):\n    return shout('hello ' + name)\n",
      "greet/cli.py":
        "import sys\nfrom greet import greeting\n\ndef main():\n    print(greeting(sys.argv[1] if len(sys.argv) > 1 else 'world'))\n    return 3\n",
      "greet/data.json": '{"ok": true}\n',
      "greet-1.0.data/scripts/greet-legacy": { content: "#!python\nimport greet\nprint('legacy', greet.greeting('script'))\n", mode: 0o100755 },
      "greet-1.0.data/scripts/greet-sh": "#!/bin/sh\necho plain shell\n",
      // A setuptools-made wrapper for the `greet` entry point: pip replaces it with its own launcher.
      "greet-1.0.data/scripts/greet": { content: "#!python\nraise SystemExit('the wrapper shipped in the wheel must not be installed')\n", mode: 0o100755 },
      "greet-1.0.data/data/share/greet/README.txt": "greet data file\n",
      "greet-1.0.data/headers/greet.h": "#define GREET 1\n",
    },
    entryPoints: { console_scripts: { greet: "greet.cli:main" }, gui_scripts: { "greet-gui": "greet.cli:main" }, "greet.plugins": { x: "greet:greeting" } },
  });
  const fastmathInit = "from ._speedups import add\n";
  const fastmathAmd64 = await buildWheel(dir, {
    name: "fastmath",
    version: "2.0",
    tag: FASTMATH_AMD64_TAG,
    requiresPython: ">=3.11",
    files: {
      "fastmath/__init__.py": fastmathInit,
      "fastmath/_speedups.cpython-311-x86_64-linux-gnu.so": { content: await hostExtensionModule(), mode: 0o100755 },
    },
  });
  const fastmathArm64 = await buildWheel(dir, {
    name: "fastmath",
    version: "2.0",
    tag: FASTMATH_ARM64_TAG,
    requiresPython: ">=3.11",
    files: {
      "fastmath/__init__.py": fastmathInit,
      "fastmath/_speedups.cpython-311-aarch64-linux-gnu.so": { content: fakeAarch64SharedObject(), mode: 0o100755 },
    },
  });
  const modernOld = await buildWheel(dir, { name: "modern", version: "1.0", requiresPython: ">=3.8", files: { "modern/__init__.py": "VERSION = 1\n" } });
  const modernNew = await buildWheel(dir, { name: "modern", version: "2.0", requiresPython: ">=3.12", files: { "modern/__init__.py": "VERSION = 2\n" } });
  const x86only = await buildWheel(dir, {
    name: "x86only",
    version: "1.0",
    tag: "cp311-cp311-manylinux_2_17_x86_64",
    files: { "x86only/__init__.py": "" },
  });
  return {
    dir,
    helper,
    greet,
    fastmathAmd64,
    fastmathArm64,
    modernOld,
    modernNew,
    x86only,
    all: [helper, greet, fastmathAmd64, fastmathArm64, modernOld, modernNew, x86only],
  };
}
