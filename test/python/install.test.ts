// Installing wheels into layer entries: the entries are written to a temp root the way a layer
// extracts, then the host's python3 imports the packages and runs the generated scripts from
// there (the interpreter in the shebangs is the host's for this purpose).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, readFile, stat, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { installWheel, INSTALLER_NAME, type InstalledWheel } from "../../src/python/install.js";
import { parseRecord, parseRecordHash } from "../../src/python/record.js";
import { prefixScheme, type InstallTarget } from "../../src/python/scheme.js";
import { PythonError } from "../../src/python/errors.js";
import { planEntries } from "../../src/layer/entries.js";
import { removeDir, run, runOk, tempDir } from "../support/tools.js";
import { buildFixtureWheels, buildWheel, EM_AARCH64, EM_X86_64, elfMachine, writeZip, type FixtureWheels } from "../support/wheels.js";
import { extractEntries, listFiles, readEntry, sha256File } from "./helpers.js";

let work: string;
let wheels: FixtureWheels;
let hostPython: string;
let target: InstallTarget;
const SITE = "/usr/local/lib/python3.11/site-packages";

before(async () => {
  work = await tempDir("imagespec-install-");
  wheels = await buildFixtureWheels(join(work, "wheels"));
  hostPython = (await runOk("python3", ["-c", "import sys; print(sys.executable)"])).stdout.trim();
  target = { scheme: prefixScheme("/usr/local", "3.11"), interpreter: hostPython };
});
after(async () => {
  await removeDir(work);
});

async function installInto(root: string, wheel: { path: string; filename: string }, to: InstallTarget = target): Promise<InstalledWheel> {
  const installed = await installWheel(wheel, to);
  await extractEntries(root, installed.entries);
  return installed;
}

function pythonEnv(root: string, site = SITE): NodeJS.ProcessEnv {
  return { ...process.env, PYTHONPATH: join(root, site), PYTHONDONTWRITEBYTECODE: "1", PYTHONNOUSERSITE: "1" };
}

async function rejectsWith(promise: Promise<unknown>, code: string, pattern?: RegExp): Promise<PythonError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof PythonError, `expected a PythonError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (pattern) assert.match(error.message, pattern);
    return error;
  }
  assert.fail(`expected ${code}`);
}

describe("installWheel: a pure-Python wheel with scripts and data", () => {
  let root: string;
  let installed: InstalledWheel;
  before(async () => {
    root = join(work, "root-greet");
    await installInto(root, wheels.helper);
    installed = await installInto(root, wheels.greet);
  });

  it("lays files out like pip: package in site-packages, scripts in bin, data under the prefix, headers per project", async () => {
    assert.deepEqual(await listFiles(root), [
      "usr/local/bin/greet",
      "usr/local/bin/greet-gui",
      "usr/local/bin/greet-legacy",
      "usr/local/bin/greet-sh",
      "usr/local/include/python3.11/greet/greet.h",
      "usr/local/lib/python3.11/site-packages/greet-1.0.dist-info/INSTALLER",
      "usr/local/lib/python3.11/site-packages/greet-1.0.dist-info/METADATA",
      "usr/local/lib/python3.11/site-packages/greet-1.0.dist-info/RECORD",
      "usr/local/lib/python3.11/site-packages/greet-1.0.dist-info/WHEEL",
      "usr/local/lib/python3.11/site-packages/greet-1.0.dist-info/entry_points.txt",
      "usr/local/lib/python3.11/site-packages/greet/__init__.py",
      "usr/local/lib/python3.11/site-packages/greet/cli.py",
      "usr/local/lib/python3.11/site-packages/greet/data.json",
      "usr/local/lib/python3.11/site-packages/helper-1.2.dist-info/INSTALLER",
      "usr/local/lib/python3.11/site-packages/helper-1.2.dist-info/METADATA",
      "usr/local/lib/python3.11/site-packages/helper-1.2.dist-info/RECORD",
      "usr/local/lib/python3.11/site-packages/helper-1.2.dist-info/WHEEL",
      "usr/local/lib/python3.11/site-packages/helper/__init__.py",
      "usr/local/share/greet/README.txt",
    ]);
    assert.equal(installed.project, "greet");
    assert.equal(installed.version, "1.0");
    assert.equal(installed.distInfo, `${SITE}/greet-1.0.dist-info`);
    assert.deepEqual(installed.scripts, ["/usr/local/bin/greet", "/usr/local/bin/greet-gui", "/usr/local/bin/greet-legacy", "/usr/local/bin/greet-sh"]);
    assert.equal(await readFile(join(root, SITE, "greet-1.0.dist-info/INSTALLER"), "utf8"), `${INSTALLER_NAME}\n`);
  });

  it("imports the package with the host python", async () => {
    const r = await runOk(hostPython, ["-c", "import greet; print(greet.greeting('layer'))"], { env: pythonEnv(root) });
    assert.equal(r.stdout, "HELLO LAYER!\n");
  });

  it("generates a console-script launcher that runs and passes on the exit status", async () => {
    const launcher = await readFile(join(root, "usr/local/bin/greet"), "utf8");
    assert.ok(launcher.startsWith(`#!${hostPython}\n`), launcher);
    assert.match(launcher, /^from greet\.cli import main$/m);
    assert.match(launcher, /^ {4}sys\.exit\(main\(\)\)$/m);
    const r = await run(join(root, "usr/local/bin/greet"), ["script"], { env: pythonEnv(root) });
    assert.equal(r.stderr, "");
    assert.equal(r.stdout, "HELLO SCRIPT!\n");
    assert.equal(r.code, 3, "sys.exit(main()) hands main's return value to the shell");
    const gui = await run(join(root, "usr/local/bin/greet-gui"), [], { env: pythonEnv(root) });
    assert.equal(gui.stdout, "HELLO WORLD!\n");
  });

  it("rewrites #!python in .data/scripts to the interpreter and leaves other shebangs alone", async () => {
    const legacy = await readFile(join(root, "usr/local/bin/greet-legacy"), "utf8");
    assert.equal(legacy.split("\n")[0], `#!${hostPython}`);
    const r = await runOk(join(root, "usr/local/bin/greet-legacy"), [], { env: pythonEnv(root) });
    assert.equal(r.stdout, "legacy HELLO SCRIPT!\n");
    assert.equal(await readFile(join(root, "usr/local/bin/greet-sh"), "utf8"), "#!/bin/sh\necho plain shell\n");
    assert.equal((await runOk(join(root, "usr/local/bin/greet-sh"), [])).stdout, "plain shell\n");
  });

  it("gives scripts 0755 and other files 0644", async () => {
    const modes = Object.fromEntries(installed.entries.map((e) => [e.path, e.mode]));
    for (const script of installed.scripts) assert.equal(modes[script], 0o755, script);
    assert.equal(modes[`${SITE}/greet/__init__.py`], 0o644);
    assert.equal(modes[`${SITE}/greet-1.0.dist-info/RECORD`], 0o644);
    assert.equal((await stat(join(root, "usr/local/bin/greet-sh"))).mode & 0o777, 0o755);
  });

  it("writes a RECORD whose paths, hashes and sizes match the installed files", async () => {
    const recordText = await readFile(join(root, SITE, "greet-1.0.dist-info/RECORD"), "utf8");
    const rows = parseRecord(recordText);
    const listed = rows.map((r) => r.path).sort();
    assert.equal(rows.length, installed.entries.length, "one row per installed file");
    for (const row of rows) {
      const absolute = join(root, SITE, row.path);
      if (row.path === "greet-1.0.dist-info/RECORD") {
        assert.deepEqual([row.hash, row.size], ["", ""]);
        continue;
      }
      const hash = parseRecordHash(row.hash);
      assert.equal(hash?.algorithm, "sha256", row.path);
      assert.equal(hash.hex, await sha256File(absolute), `hash of ${row.path}`);
      assert.equal(Number(row.size), (await stat(absolute)).size, `size of ${row.path}`);
    }
    assert.ok(listed.includes("../../../bin/greet"), "scripts are recorded relative to site-packages");
    assert.ok(listed.includes("../../../share/greet/README.txt"));
    assert.ok(recordText.endsWith("\r\n"), "Python's csv writer ends rows with CRLF");
  });

  it("is read correctly by importlib.metadata (files, hashes, entry points, installer)", async () => {
    const script = [
      "import hashlib, base64, importlib.metadata as md, sys",
      "d = md.distribution('greet')",
      "bad = []",
      "for f in d.files:",
      "    if f.hash is None: continue",
      "    data = f.locate().read_bytes()",
      "    h = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()",
      "    if h != f.hash.value or len(data) != f.size: bad.append(str(f))",
      "print(len(d.files), bad, d.read_text('INSTALLER').strip(), sorted(e.name for e in d.entry_points if e.group.endswith('_scripts')))",
    ].join("\n");
    const r = await runOk(hostPython, ["-c", script], { env: pythonEnv(root) });
    assert.equal(r.stdout.trim(), `${installed.entries.length} [] imagespec ['greet', 'greet-gui']`);
  });

  it("streams content: every entry has a size and an open() whose bytes match it", async () => {
    for (const entry of installed.entries) {
      assert.equal(entry.type, "file");
      assert.equal(typeof entry.open, "function");
      assert.equal((await readEntry(entry)).length, entry.size, entry.path);
    }
  });

  it("produces entries the layer planner accepts", () => {
    const planned = planEntries(installed.entries);
    assert.ok(planned.some((e) => e.path === "usr/local/lib/python3.11/site-packages/greet" && e.type === "dir"));
  });
});

describe("installWheel: compiled wheels", () => {
  it("installs a Root-Is-Purelib: false wheel into platlib and imports its real x86-64 extension", async () => {
    const root = join(work, "root-fastmath");
    const split: InstallTarget = {
      interpreter: hostPython,
      scheme: { ...prefixScheme("/usr/local", "3.11"), platlib: "/usr/local/lib64/python3.11/site-packages" },
    };
    const installed = await installInto(root, wheels.fastmathAmd64, split);
    assert.equal(installed.distInfo, "/usr/local/lib64/python3.11/site-packages/fastmath-2.0.dist-info");
    const so = installed.entries.find((e) => e.path.endsWith(".so"))!;
    assert.equal(so.mode, 0o755, "the zip marks the .so executable");
    assert.equal(elfMachine(await readEntry(so)), EM_X86_64);
    const r = await runOk(hostPython, ["-c", "import fastmath; print(fastmath.add(2, 40))"], {
      env: pythonEnv(root, "/usr/local/lib64/python3.11/site-packages"),
    });
    assert.equal(r.stdout, "42\n");
  });

  it("installs the aarch64 wheel's shared object unchanged", async () => {
    const installed = await installWheel(wheels.fastmathArm64, target);
    const so = installed.entries.find((e) => e.path.endsWith(".so"))!;
    assert.equal(so.path, `${SITE}/fastmath/_speedups.cpython-311-aarch64-linux-gnu.so`);
    assert.equal(elfMachine(await readEntry(so)), EM_AARCH64);
  });
});

describe("installWheel: interpreters whose path cannot go in a plain shebang", () => {
  it("writes a /bin/sh trampoline for an interpreter path with a space, and the launcher still runs", async () => {
    const dir = join(work, "my python");
    await mkdir(dir, { recursive: true });
    const interpreter = join(dir, "python3");
    await symlink(hostPython, interpreter);
    const root = join(work, "root-space");
    await installInto(root, wheels.helper, { ...target, interpreter });
    await installInto(root, wheels.greet, { ...target, interpreter });
    const launcher = await readFile(join(root, "usr/local/bin/greet"), "utf8");
    assert.ok(launcher.startsWith("#!/bin/sh\n"), launcher);
    const r = await run(join(root, "usr/local/bin/greet"), ["space"], { env: pythonEnv(root) });
    assert.equal(r.stdout, "HELLO SPACE!\n", r.stderr);
    const legacy = await run(join(root, "usr/local/bin/greet-legacy"), [], { env: pythonEnv(root) });
    assert.equal(legacy.stdout, "legacy HELLO SCRIPT!\n", legacy.stderr);
  });
});

describe("installWheel: refuses bad wheels", () => {
  it("rejects file names that are not PEP 427 wheel names", async () => {
    for (const filename of ["greet.whl", "greet-1.0-py3-none.whl", "greet-1.0-py3-none-any.zip", "gr eet-1.0-py3-none-any.whl", "greet-1.0-x1-py3-none-any.whl"]) {
      await rejectsWith(installWheel({ path: wheels.greet.path, filename }, target), "WHEEL_INVALID_FILENAME");
    }
  });

  for (const [label, member] of [
    ["a parent-directory member", "../../../etc/cron.d/evil"],
    ["a nested parent-directory member", "evil/../../outside.py"],
    ["an absolute member", "/etc/passwd"],
    ["a backslash member", "evil\\..\\..\\x.py"],
  ] as const) {
    it(`rejects ${label} (path traversal)`, async () => {
      const file = join(work, `${label.replaceAll(" ", "-")}.whl`);
      await writeZip(file, [
        { name: "evil/__init__.py", data: Buffer.from("") },
        { name: member, data: Buffer.from("pwned") },
        { name: "evil-1.0.dist-info/WHEEL", data: Buffer.from("Wheel-Version: 1.0\nRoot-Is-Purelib: true\n") },
        { name: "evil-1.0.dist-info/RECORD", data: Buffer.from("") },
      ]);
      await rejectsWith(installWheel({ path: file, filename: "evil-1.0-py3-none-any.whl" }, target), "WHEEL_UNSAFE_PATH", /evil-1\.0-py3-none-any\.whl/);
    });
  }

  it("rejects a .data member outside the known scheme keys", async () => {
    const built = await buildWheel(join(work, "bad-data"), { name: "baddata", version: "1.0", files: { "baddata-1.0.data/etc/passwd": "x" } });
    await rejectsWith(installWheel(built, target), "WHEEL_INVALID", /baddata-1\.0\.data\/etc\/passwd/);
  });

  it("rejects a wheel whose .dist-info belongs to another project", async () => {
    const built = await buildWheel(join(work, "other"), { name: "other", version: "1.0", files: { "other/__init__.py": "" } });
    await rejectsWith(installWheel({ path: built.path, filename: "notother-1.0-py3-none-any.whl" }, target), "WHEEL_INVALID", /does not belong/);
  });

  it("fails the content stream when a file does not match the hash in the wheel's RECORD", async () => {
    const built = await buildWheel(join(work, "tampered"), {
      name: "tampered",
      version: "1.0",
      files: { "tampered/__init__.py": "print('original')\n" },
      editRecord: (rows) => rows.map((r) => (r[0] === "tampered/__init__.py" ? [r[0], `sha256=${Buffer.alloc(32).toString("base64url")}`, r[2]!] : r)),
    });
    const installed = await installWheel(built, target);
    const entry = installed.entries.find((e) => e.path.endsWith("tampered/__init__.py"))!;
    await rejectsWith(readEntry(entry), "WHEEL_RECORD_MISMATCH", /tampered\/__init__\.py/);
  });

  it("refuses at install time a script whose content does not match RECORD, and a size that does not", async () => {
    const script = await buildWheel(join(work, "tampered-script"), {
      name: "tscript",
      version: "1.0",
      files: { "tscript-1.0.data/scripts/run": "#!python\nprint(1)\n" },
      editRecord: (rows) => rows.map((r) => (r[0]!.endsWith("/run") ? [r[0]!, `sha256=${Buffer.alloc(32, 1).toString("base64url")}`, r[2]!] : r)),
    });
    await rejectsWith(installWheel(script, target), "WHEEL_RECORD_MISMATCH", /scripts\/run/);
    const size = await buildWheel(join(work, "tampered-size"), {
      name: "tsize",
      version: "1.0",
      files: { "tsize/__init__.py": "x = 1\n" },
      editRecord: (rows) => rows.map((r) => (r[0] === "tsize/__init__.py" ? [r[0], r[1]!, "999"] : r)),
    });
    await rejectsWith(installWheel(size, target), "WHEEL_RECORD_MISMATCH", /999/);
  });

  it("hashes files the wheel's RECORD does not list, so the installed RECORD is complete", async () => {
    const built = await buildWheel(join(work, "unlisted"), {
      name: "unlisted",
      version: "1.0",
      files: { "unlisted/__init__.py": "x = 1\n" },
      editRecord: (rows) => rows.filter((r) => r[0] !== "unlisted/__init__.py"),
    });
    const installed = await installWheel(built, target);
    const record = installed.entries.find((e) => e.path.endsWith("/RECORD"))!;
    const row = parseRecord((await readEntry(record)).toString()).find((r) => r.path === "unlisted/__init__.py");
    assert.equal(row?.hash, `sha256=${createHash("sha256").update("x = 1\n").digest("base64url")}`);
    assert.equal(row.size, "6");
  });

  it("rejects a damaged zip with a message naming the wheel", async () => {
    const file = join(work, "broken-1.0-py3-none-any.whl");
    await writeZip(file, [{ name: "broken/__init__.py", data: Buffer.from("") }]);
    const bytes = await readFile(file);
    await writeFile(file, bytes.subarray(0, bytes.length - 10));
    await rejectsWith(installWheel({ path: file, filename: "broken-1.0-py3-none-any.whl" }, target), "WHEEL_INVALID", /broken-1\.0-py3-none-any\.whl/);
  });
});
