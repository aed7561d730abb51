// Running what was built: rootful podman with runc (crun does not work on these machines), with
// all of podman's state in a temp dir of this test process so it never touches the host's storage.
//
//   await podmanAvailable();                        // throws with a fix if podman/runc do not work
//   const r = await podmanRun(`${reg.host}/team/app:v1`, ["python3", "-c", "print(1)"]);
//   // r.code, r.stdout, r.stderr (RunResult from tools.ts); also podmanRun("oci:DIR:TAG", ...)
//
// Every `podman` invocation of a session gets:
//   --root, --runroot, --tmpdir, --network-config-dir, --storage-driver (overlay; vfs if overlay
//     does not work), --cgroup-manager cgroupfs, --events-backend file, all in the session dir;
//   --runtime SESSION/bin/runc: a wrapper that execs runc with `--root SESSION/runc`, because
//     podman 4.3 passes --runtime-flag to its own runc calls but not to the runc that its exit
//     command (`podman container cleanup --rm`) runs, which would use /run/runc;
//   CONTAINERS_CONF, CONTAINERS_STORAGE_CONF, CONTAINERS_REGISTRIES_CONF (no search registries),
//     REGISTRY_AUTH_FILE, HOME, XDG_*, DOCKER_CONFIG, TMPDIR: files and dirs of the session only.
// and `run` adds --rm, --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 (required here),
// --network none (no bridge, no iptables rules on the shared host; "host" on request),
// --pull always and --tls-verify=false (the test registries speak plain HTTP).
//
// Host state podman 4.3 still touches, with no setting to avoid it: rootful netavark creates the
// (empty) directory /run/containers/networks, and containers/image keeps its blob-info cache in
// /var/lib/containers/cache (a digest map; harmless for pulls).
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { makeTestImage, removeDir, run, type RunResult } from "./tools.js";

export interface PodmanRunOptions {
  /**
   * Registry the image comes from. A name without a registry host (`team/app:v1`) is looked up
   * there. Pulls never verify TLS (--tls-verify=false), so plain-HTTP test registries work.
   */
  registryHost?: string;
  /** Credentials for registries with auth (basic / token modes). */
  creds?: { username: string; password: string };
  env?: Record<string, string>;
  /** Default "none"; "host" to reach 127.0.0.1 services from inside the container. */
  network?: "none" | "host";
  /** Default "always": a tag pushed again by a later test is pulled again (unchanged blobs are not). */
  pull?: "always" | "missing" | "never" | "newer";
  /** e.g. "linux/arm64" to pick from an index (running it needs emulation, which these machines lack). */
  platform?: string;
  entrypoint?: string;
  user?: string;
  workdir?: string;
  /** Killed (and the container removed) after this long; default 120 s. */
  timeoutMs?: number;
}

export interface PodmanInfo {
  podmanVersion: string;
  runcVersion: string;
  storageDriver: string;
}

export class PodmanUnavailableError extends Error {
  override name = "PodmanUnavailableError";
}

const INSTALL_HINT = "install the test dependencies: sudo scripts/install-test-deps.sh (podman, runc, ...)";

/** One isolated podman state directory. Most tests use the process-wide one via podmanRun(). */
export class PodmanSession {
  private stopped = false;
  private aliases = 0;
  private constructor(
    readonly dir: string,
    readonly storageDriver: string,
  ) {}

  static async create(storageDriver = process.env.IMAGESPEC_PODMAN_STORAGE_DRIVER || "overlay"): Promise<PodmanSession> {
    sweepStaleSessions();
    // Lowercase on purpose (not mkdtemp): podman turns `oci:` paths into image names (see run()).
    const dir = join(tmpdir(), `imagespec-podman-${process.pid}-${randomBytes(6).toString("hex")}`);
    await mkdir(dir, { mode: 0o700 });
    const s = new PodmanSession(dir, storageDriver);
    await s.writeConfig();
    live.add(s);
    installExitHook();
    return s;
  }

  private path(...p: string[]): string {
    return join(this.dir, ...p);
  }

  private async writeConfig(): Promise<void> {
    for (const d of ["root", "runroot", "libpod-tmp", "networks", "runc", "tmp", "home", "config", "data", "docker", "layouts", "bin"]) {
      await mkdir(this.path(d), { recursive: true });
    }
    // runc keeps container state in /run/runc unless given --root. podman passes --runtime-flag to
    // the runc it calls itself but not to the one its exit command (`podman container cleanup`)
    // calls, so the state root is set in a wrapper named runc, given to podman as the runtime path.
    const runc = findProgram("runc");
    if (runc === undefined) throw new PodmanUnavailableError(`runc is not installed; ${INSTALL_HINT}`);
    await writeFile(this.path("bin", "runc"), `#!/bin/sh\nexec ${shellQuote(runc)} --root ${shellQuote(this.path("runc"))} "$@"\n`, { mode: 0o755 });
    const q = (s: string) => JSON.stringify(s);
    await writeFile(
      this.path("containers.conf"),
      [
        "[engine]",
        `tmp_dir = ${q(this.path("libpod-tmp"))}`,
        'events_logger = "file"',
        `events_logfile_path = ${q(this.path("events.log"))}`,
        `image_copy_tmp_dir = ${q(this.path("tmp"))}`,
        'cgroup_manager = "cgroupfs"',
        `volume_path = ${q(this.path("root", "volumes"))}`,
        "[network]",
        `network_config_dir = ${q(this.path("networks"))}`,
        "",
      ].join("\n"),
    );
    await writeFile(
      this.path("storage.conf"),
      ["[storage]", `driver = ${q(this.storageDriver)}`, `graphroot = ${q(this.path("root"))}`, `runroot = ${q(this.path("runroot"))}`, ""].join("\n"),
    );
    // No search registries: names must be fully qualified; nothing from the host's registries.conf.
    await writeFile(this.path("registries.conf"), 'unqualified-search-registries = []\nshort-name-mode = "disabled"\n');
    await writeFile(this.path("auth.json"), '{"auths":{}}\n');
  }

  /** Environment for podman: configuration and credentials from this session only. */
  env(): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      HOME: this.path("home"),
      XDG_CONFIG_HOME: this.path("config"),
      XDG_DATA_HOME: this.path("data"),
      XDG_RUNTIME_DIR: this.path("runroot"),
      DOCKER_CONFIG: this.path("docker"),
      TMPDIR: this.path("tmp"),
      CONTAINERS_CONF: this.path("containers.conf"),
      CONTAINERS_STORAGE_CONF: this.path("storage.conf"),
      CONTAINERS_REGISTRIES_CONF: this.path("registries.conf"),
      REGISTRY_AUTH_FILE: this.path("auth.json"),
    };
  }

  /** Global flags for every podman command of this session. */
  globalArgs(): string[] {
    return [
      "--root",
      this.path("root"),
      "--runroot",
      this.path("runroot"),
      "--tmpdir",
      this.path("libpod-tmp"),
      "--network-config-dir",
      this.path("networks"),
      "--storage-driver",
      this.storageDriver,
      "--runtime",
      this.path("bin", "runc"),
      "--cgroup-manager",
      "cgroupfs",
      "--events-backend",
      "file",
    ];
  }

  /** Any podman command in this session (`podman <global flags> ...args`). */
  podman(args: readonly string[], timeoutMs = 120_000): Promise<RunResult> {
    if (this.stopped) throw new Error("podman session already stopped");
    return run("podman", [...this.globalArgs(), ...args], { env: this.env(), timeoutMs });
  }

  /** `podman run --rm` of `image` with `args` as the command. Never throws for a non-zero exit. */
  async run(image: string, args: readonly string[], opts: PodmanRunOptions = {}): Promise<RunResult> {
    const name = `imagespec-${process.pid}-${randomBytes(4).toString("hex")}`;
    const ref = await this.aliasLayout(qualify(image, opts.registryHost));
    const flags = [
      "run",
      "--rm",
      "--name",
      name,
      "--ulimit",
      "nofile=1024:1024",
      "--ulimit",
      "nproc=1024:1024",
      "--network",
      opts.network ?? "none",
      "--pull",
      opts.pull ?? "always",
      "--tls-verify=false",
      ...(opts.creds ? ["--creds", `${opts.creds.username}:${opts.creds.password}`] : []),
      ...(opts.platform ? ["--platform", opts.platform] : []),
      ...(opts.entrypoint !== undefined ? ["--entrypoint", opts.entrypoint] : []),
      ...(opts.user !== undefined ? ["--user", opts.user] : []),
      ...(opts.workdir !== undefined ? ["--workdir", opts.workdir] : []),
      ...Object.entries(opts.env ?? {}).flatMap(([k, v]) => ["--env", `${k}=${v}`]),
      ref,
      ...args,
    ];
    const result = await this.podman(flags, opts.timeoutMs ?? 120_000);
    if (result.timedOut || result.signal !== null) {
      // The client was killed; conmon keeps the container running unless it is removed.
      await this.podman(["rm", "--force", "--time", "0", "--ignore", name], 30_000).catch(() => undefined);
    }
    return result;
  }

  /**
   * podman names an image pulled from `oci:PATH` after PATH, so a path with uppercase letters or a
   * component such as `.cache` fails ("invalid reference format"). Layouts are run through a
   * symlink with a tame name in the session dir instead.
   */
  private async aliasLayout(ref: string): Promise<string> {
    const m = /^oci:(.+?)(?::([^:/]+))?$/.exec(ref);
    if (!m) return ref;
    const alias = this.path("layouts", `l${++this.aliases}`);
    await symlink(resolve(m[1]!), alias);
    return `oci:${alias}${m[2] !== undefined ? `:${m[2]}` : ""}`;
  }

  /** Removes containers, unmounts what is left under the session dir, deletes it. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    await this.podman(["rm", "--all", "--force", "--time", "0"], 30_000).catch(() => undefined);
    this.stopped = true;
    live.delete(this);
    unmountUnder(this.dir);
    await removeDir(this.dir);
  }

  /** Synchronous variant for process exit. */
  stopSync(): void {
    if (this.stopped) return;
    this.stopped = true;
    live.delete(this);
    spawnSync("podman", [...this.globalArgs(), "rm", "--all", "--force", "--time", "0"], { env: this.env(), timeout: 20_000, stdio: "ignore" });
    unmountUnder(this.dir);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** `team/app:v1` + host -> `host/team/app:v1`; references that already name a host or a transport stay. */
function qualify(image: string, registryHost: string | undefined): string {
  if (registryHost === undefined) return image;
  if (/^(oci|oci-archive|docker-archive|containers-storage|dir|docker):/.test(image)) return image;
  const first = image.split("/")[0]!;
  const hasHost = image.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost");
  return hasHost ? image : `${registryHost}/${image}`;
}

function findProgram(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"];
  return dirs.filter(Boolean).map((d) => join(d, name)).find((p) => existsSync(p));
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function unmountUnder(dir: string): void {
  let points: string[] = [];
  try {
    points = readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
      .filter((p): p is string => p !== undefined && (p === dir || p.startsWith(dir + "/")))
      .sort((a, b) => b.length - a.length);
  } catch {
    return;
  }
  for (const p of points) spawnSync("umount", ["-l", p], { stdio: "ignore", timeout: 10_000 });
}

const live = new Set<PodmanSession>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const s of [...live]) s.stopSync();
  });
}

/** Session dirs of test processes that died without cleaning up (e.g. SIGKILL). */
function sweepStaleSessions(): void {
  let names: string[];
  try {
    names = readdirSync(tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^imagespec-podman-(\d+)-/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || processAlive(pid)) continue;
    const dir = join(tmpdir(), name);
    unmountUnder(dir);
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      /* leave it */
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

// ---------------------------------------------------------------------------------------------
// The process-wide session

let defaultSession: Promise<PodmanSession> | undefined;
let availability: Promise<PodmanInfo> | undefined;

function firstLine(text: string): string {
  return text.trim().split("\n")[0] ?? "";
}

async function probe(): Promise<PodmanInfo> {
  for (const cmd of ["podman", "runc", "conmon"]) {
    if (findProgram(cmd) === undefined && !existsSync(join("/usr/libexec/podman", cmd))) throw new PodmanUnavailableError(`${cmd} is not installed, so built images cannot be run; ${INSTALL_HINT}`);
  }
  const podmanVersion = firstLine((await run("podman", ["--version"])).stdout);
  const runcVersion = firstLine((await run("runc", ["--version"])).stdout);
  // A trivial container from a local busybox layout, through the same flags every test uses.
  const image = await makeTestImage();
  try {
    const errors: string[] = [];
    const drivers = process.env.IMAGESPEC_PODMAN_STORAGE_DRIVER ? [process.env.IMAGESPEC_PODMAN_STORAGE_DRIVER] : ["overlay", "vfs"];
    for (const driver of drivers) {
      const session = await PodmanSession.create(driver);
      const r = await session.run(image.ref, ["/bin/sh", "-c", "echo imagespec-podman-ok"], { pull: "missing", timeoutMs: 60_000 });
      if (r.code === 0 && r.stdout.includes("imagespec-podman-ok")) {
        // Keep this session as the process-wide one.
        defaultSession ??= Promise.resolve(session);
        if (driver !== "overlay") process.stderr.write(`[podman] overlay storage failed here, using ${driver}\n`);
        return { podmanVersion, runcVersion, storageDriver: driver };
      }
      errors.push(`${driver}: exit ${r.code}${r.timedOut ? " (timed out)" : ""}: ${r.stderr.trim()}`);
      await session.stop();
    }
    throw new PodmanUnavailableError(
      `podman (${podmanVersion}) with runc (${runcVersion}) cannot run a trivial container:\n${errors.join("\n")}\n` +
        `check: podman --runtime runc run --rm --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 ...; ${INSTALL_HINT}`,
    );
  } finally {
    await image.cleanup();
  }
}

/**
 * Checks once per process that podman and runc are installed and really run a container; throws a
 * PodmanUnavailableError saying what to install otherwise. Tests must not skip on it: the install
 * script installs podman, so its absence is a broken machine. podmanRun() calls it itself.
 */
export function podmanAvailable(): Promise<PodmanInfo> {
  availability ??= probe();
  return availability;
}

/** The process-wide session (created by the availability probe). Removed at exit or by stopPodman(). */
export async function podmanSession(): Promise<PodmanSession> {
  const info = await podmanAvailable();
  defaultSession ??= PodmanSession.create(info.storageDriver);
  return defaultSession;
}

/** Runs `image` (a registry reference, or `oci:DIR:TAG`) with `args` in the process-wide session. */
export async function podmanRun(image: string, args: readonly string[], opts: PodmanRunOptions = {}): Promise<RunResult> {
  return (await podmanSession()).run(image, args, opts);
}

/** Removes the process-wide session now (it is also removed at process exit). */
export async function stopPodman(): Promise<void> {
  const s = defaultSession;
  defaultSession = undefined;
  if (s) await (await s).stop();
}
