// Real OCI registries for tests: Debian's docker-registry (CNCF distribution 2.8), one child process
// per registry, config and storage in a fresh temp dir, listening on 127.0.0.1 on a free port.
//
//   plain  http, no auth
//   basic  http, htpasswd (bcrypt) Basic auth
//   tls    https with a server cert (SANs 127.0.0.1, localhost) signed by a throwaway CA; no auth
//   token  http, Bearer token auth against ./token-server.ts (same username/password)
//
// `tls: true` adds TLS to basic and token modes too. See README.md in this folder.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync } from "node:fs";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify as toYaml } from "yaml";
import { startTokenServer, type PolicyRequest, type TokenRequestRecord, type TokenServer } from "./token-server.js";
import { removeDir, runOk, tempDir } from "./tools.js";

export type RegistryMode = "plain" | "basic" | "tls" | "token";

export interface RequestRecord {
  method: string;
  /** Path including the query, exactly as sent (e.g. `/v2/a/blobs/uploads/?mount=sha256:..&from=b`). */
  path: string;
  status: number;
}

/** "src"/"dest" for `skopeo copy`; "single" for commands with one image (inspect, delete, list-tags). */
export type SkopeoSide = "src" | "dest" | "single";

export interface TestRegistry {
  readonly mode: RegistryMode;
  /** "127.0.0.1:PORT" in every mode (the TLS cert also covers localhost; 127.0.0.1 avoids ::1 lookups). */
  readonly host: string;
  /** "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT". */
  readonly url: string;
  readonly port: number;
  /** True in tls mode and when started with `tls: true`. */
  readonly tls: boolean;
  /** basic and token modes. */
  readonly username?: string;
  readonly password?: string;
  /** TLS: PEM file of the CA that signed the server cert. */
  readonly caFile?: string;
  /** TLS: the same CA as a PEM string (e.g. for undici's `connect: { ca }`). */
  readonly caPem?: string;
  /** TLS: a directory holding only `ca.crt`, for skopeo --cert-dir / --src-cert-dir / --dest-cert-dir. */
  readonly certDir?: string;
  /** token mode: the realm URL of the token server, and the service name the registry expects. */
  readonly tokenRealm?: string;
  readonly tokenService?: string;
  /** token mode: the token server (mint tokens directly, inspect its log). */
  readonly tokenServer?: TokenServer;
  /** The registry's temp dir (config, storage under `storage/`, logs). Removed by stop(). */
  readonly dir: string;
  readonly pid: number;
  /** `docker://HOST/NAME` for skopeo, e.g. ref("team/app:v1"). */
  ref(nameWithTagOrDigest: string): string;
  /**
   * skopeo flags for this registry on one side: credentials (`--dest-creds user:pass`, or
   * `--dest-no-creds` when there is no auth) and TLS (`--dest-cert-dir DIR`, or
   * `--dest-tls-verify=false` for plain http). `credentials` overrides the username/password
   * (to test wrong ones).
   */
  skopeoArgs(side: SkopeoSide, credentials?: { username: string; password: string }): string[];
  /** Requests the registry served since start (or since the last reset), parsed from its access log. */
  requests(): Promise<RequestRecord[]>;
  /** Forgets recorded registry requests and token requests. */
  resetRequests(): void;
  /** token mode: requests the token server answered since start/reset; [] in other modes. */
  tokenRequests(): TokenRequestRecord[];
  /** The registry's own (JSON lines) application log, for debugging. */
  serverLog(): Promise<string>;
  stop(): Promise<void>;
}

export interface StartRegistryOptions {
  mode: RegistryMode;
  /** token mode: `expires_in` of issued tokens, and (see tokenExactExpiry) their real lifetime. Default 300. */
  tokenTtlSeconds?: number;
  /**
   * token mode: distribution accepts tokens until exp + 60 s. With true (default) the token server
   * sets exp 60 s early so the registry rejects a token exactly tokenTtlSeconds after issue.
   */
  tokenExactExpiry?: boolean;
  /** token mode: how the JWT header names the signing key. Both work with distribution 2.8. Default "x5c". */
  tokenKeyHeader?: "x5c" | "kid";
  /** token mode: what anonymous token requests get. Default "none" (a token granting nothing). */
  anonymous?: "none" | "pull";
  /** token mode: replaces the grant-everything-to-the-right-user policy. */
  tokenPolicy?: (req: PolicyRequest) => string[];
  /** Credentials for basic/token. Default "imagespec" and a random password. */
  username?: string;
  password?: string;
  /** Serve HTTPS in basic/token modes too. */
  tls?: boolean;
  /** Give up starting after this long. Default 10 000 ms. */
  startTimeoutMs?: number;
  /** Registry binary. Default $IMAGESPEC_REGISTRY_BIN or "docker-registry". */
  binary?: string;
}

const HARNESS_PARAM = "imagespec-harness";
const live = new Set<{ kill(): void }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Synchronous cleanup when the test process exits without stop(). A SIGKILLed test process is
  // covered by each registry's watchdog (below).
  process.on("exit", () => {
    for (const r of live) r.kill();
  });
}

/** A port on 127.0.0.1 that nothing listens on (for servers to start on, or to test a refused connection). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error("no port"))));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One GET without keep-alive; resolves with the status on any HTTP answer. */
function probe(url: string, ca: string | undefined, timeoutMs = 2000): Promise<{ status: number; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const opts = { method: "GET", agent: false as const, timeout: timeoutMs, ...(ca ? { ca } : {}) };
    const req = (u.protocol === "https:" ? httpsRequest : httpRequest)(u, opts, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

// Combined log format, as written by the registry's access log (gorilla/handlers) on stdout:
// 127.0.0.1 - - [22/Nov/2026:07:53:27 +0000] "POST /v2/foo/blobs/uploads/?mount=a&from=b HTTP/1.1" 202 0 "" "curl/7.88.1"
const ACCESS_LINE = /^\S+ \S+ \S+ \[[^\]]*\] "(\S+) (\S+) [^"]*" (\d{3}) /;

export function parseAccessLog(text: string): RequestRecord[] {
  const out: RequestRecord[] = [];
  for (const line of text.split("\n")) {
    const m = ACCESS_LINE.exec(line);
    if (!m) continue;
    const path = m[2]!;
    if (path.includes(HARNESS_PARAM + "=")) continue;
    out.push({ method: m[1]!, path, status: Number(m[3]) });
  }
  return out;
}

export async function makeTls(dir: string): Promise<{ caFile: string; certDir: string; certFile: string; keyFile: string }> {
  const d = join(dir, "tls");
  await mkdir(d);
  const caKey = join(d, "ca.key");
  const caFile = join(d, "ca.crt");
  const keyFile = join(d, "server.key");
  const csr = join(d, "server.csr");
  const certFile = join(d, "server.crt");
  const ext = join(d, "server.ext");
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await runOk("openssl", [
    "req", "-x509", ...ec, "-keyout", caKey, "-out", caFile, "-days", "7",
    "-subj", `/CN=imagespec test CA ${randomUUID()}`,
    "-addext", "basicConstraints=critical,CA:TRUE",
    "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  await runOk("openssl", ["req", ...ec, "-keyout", keyFile, "-out", csr, "-subj", "/CN=localhost"]);
  await writeFile(
    ext,
    [
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "",
    ].join("\n"),
  );
  await runOk("openssl", [
    "x509", "-req", "-in", csr, "-CA", caFile, "-CAkey", caKey, "-CAcreateserial",
    "-out", certFile, "-days", "7", "-sha256", "-extfile", ext,
  ]);
  const certDir = join(dir, "certs.d");
  await mkdir(certDir);
  await copyFile(caFile, join(certDir, "ca.crt"));
  return { caFile, certDir, certFile, keyFile };
}

function tail(text: string, lines = 15): string {
  return text.trim().split("\n").slice(-lines).join("\n");
}

export async function startRegistry(options: StartRegistryOptions): Promise<TestRegistry> {
  const mode = options.mode;
  const useTls = mode === "tls" || options.tls === true;
  if (options.tls && mode === "plain") throw new Error('startRegistry: use mode "tls" for TLS without auth');
  const hasAuth = mode === "basic" || mode === "token";
  const username = hasAuth ? (options.username ?? "imagespec") : undefined;
  const password = hasAuth ? (options.password ?? randomBytes(12).toString("hex")) : undefined;
  const binary = options.binary ?? process.env.IMAGESPEC_REGISTRY_BIN ?? "docker-registry";

  installExitHook();
  const dir = await tempDir("imagespec-registry-");
  let tokenServer: TokenServer | undefined;
  try {
    const storage = join(dir, "storage");
    await mkdir(storage);
    const tls = useTls ? await makeTls(dir) : undefined;
    const caPem = tls ? await readFile(tls.caFile, "utf8") : undefined;

    const service = "imagespec-test-registry";
    const issuer = "imagespec-test-token-issuer";
    let auth: Record<string, unknown> | undefined;
    if (mode === "basic") {
      const htpasswdFile = join(dir, "htpasswd");
      const { stdout } = await runOk("htpasswd", ["-Bbn", username!, password!]);
      await writeFile(htpasswdFile, stdout.trim() + "\n");
      auth = { htpasswd: { realm: "imagespec-test", path: htpasswdFile } };
    } else if (mode === "token") {
      tokenServer = await startTokenServer({
        service,
        issuer,
        username: username!,
        password: password!,
        ttlSeconds: options.tokenTtlSeconds,
        exactExpiry: options.tokenExactExpiry,
        keyHeader: options.tokenKeyHeader,
        anonymous: options.anonymous,
        policy: options.tokenPolicy,
        dir,
      });
      auth = { token: { realm: tokenServer.realm, service, issuer, rootcertbundle: tokenServer.certFile } };
    }

    const accessLog = join(dir, "access.log");
    const appLog = join(dir, "registry.log");
    const configFile = join(dir, "config.yml");
    const timeoutMs = options.startTimeoutMs ?? 10_000;
    let lastError = "";
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await freePort();
      const config = {
        version: 0.1,
        log: { level: "info", formatter: "json", accesslog: { disabled: false } },
        storage: {
          filesystem: { rootdirectory: storage },
          delete: { enabled: true },
          maintenance: { uploadpurging: { enabled: false } },
        },
        http: {
          addr: `127.0.0.1:${port}`,
          secret: randomBytes(16).toString("hex"),
          ...(tls ? { tls: { certificate: tls.certFile, key: tls.keyFile } } : {}),
        },
        ...(auth ? { auth } : {}),
      };
      await writeFile(configFile, toYaml(config));
      // Logs go straight to files: nothing in this process has to drain pipes, and the log is
      // complete even if this process is busy.
      const out = openSync(accessLog, "w");
      const err = openSync(appLog, "w");
      let child: ChildProcess;
      try {
        child = spawn(binary, ["serve", configFile], { stdio: ["ignore", out, err], cwd: dir });
      } finally {
        closeSync(out);
        closeSync(err);
      }
      const proc = await new Promise<ChildProcess>((resolve, reject) => {
        child.once("spawn", () => resolve(child));
        child.once("error", reject);
      });
      let exited = false;
      proc.once("exit", () => {
        exited = true;
      });
      // Unreferenced, so a registry a test forgot to stop does not keep the process alive (the exit
      // hook kills it). Referenced again while waiting for it to exit.
      proc.unref();
      const waitExit = () =>
        exited
          ? Promise.resolve()
          : new Promise<void>((r) => {
              proc.ref();
              proc.once("exit", () => r());
            });
      const pid = proc.pid!;
      const watchdog = startWatchdog(pid, dir);
      const terminate = () => {
        if (exited) return;
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          /* already gone */
        }
      };
      const killer = {
        kill() {
          terminate();
          watchdog.stop();
          live.delete(killer);
          rmSync(dir, { recursive: true, force: true });
        },
      };
      live.add(killer);

      const scheme = tls ? "https" : "http";
      const url = `${scheme}://127.0.0.1:${port}`;
      const deadline = Date.now() + timeoutMs;
      let ready = false;
      while (Date.now() < deadline && !exited) {
        const marker = `${HARNESS_PARAM}=ready-${randomUUID()}`;
        try {
          await probe(`${url}/v2/?${marker}`, caPem, 1000);
          // Something answered; make sure it was this registry and not another process that
          // grabbed the port first (our access log has the marker).
          if (readFileSync(accessLog, "utf8").includes(marker)) {
            ready = true;
            break;
          }
        } catch {
          /* not listening yet */
        }
        await sleep(50);
      }
      if (ready) {
        const reg = makeHandle({
          mode, port, url, tls, caPem, username, password, tokenServer, service, dir, pid, accessLog, appLog, killer, terminate,
          waitExit,
        });
        return reg;
      }
      const exitedBeforeReady = exited;
      // Not ready: collect the reason, clean up this attempt, retry on another port if it was a port clash.
      terminate();
      await waitExit();
      watchdog.stop();
      live.delete(killer);
      lastError = tail(existsSync(appLog) ? readFileSync(appLog, "utf8") : "");
      if (!/address already in use/.test(lastError)) {
        const why = exitedBeforeReady ? "exited before answering" : `did not answer within ${timeoutMs} ms`;
        throw new Error(`${binary} (${mode}) did not start: it ${why} on 127.0.0.1:${port}; its stderr:\n${lastError}`);
      }
    }
    throw new Error(`docker-registry (${mode}) found no free port after 5 attempts; last log:\n${lastError}`);
  } catch (e) {
    await tokenServer?.close();
    await removeDir(dir);
    throw e;
  }
}

/**
 * A detached `sh` that kills the registry (and removes its dir) once this process is gone, even if
 * it was SIGKILLed and never ran its exit hook. It exits by itself when the registry exits.
 */
function startWatchdog(registryPid: number, dir: string): { stop(): void } {
  const script = [
    'while kill -0 "$1" 2>/dev/null; do',
    '  kill -0 "$2" 2>/dev/null || exit 0',
    "  sleep 1",
    "done",
    'kill -9 "$2" 2>/dev/null',
    'case "$3" in "$4"/imagespec-registry-*) sleep 1; rm -rf "$3";; esac',
  ].join("\n");
  const child = spawn("sh", ["-c", script, "sh", String(process.pid), String(registryPid), dir, tmpdir()], {
    stdio: "ignore",
    detached: true,
  });
  let exited = false;
  child.once("exit", () => {
    exited = true;
  });
  child.on("error", () => {
    exited = true;
  });
  child.unref();
  return {
    stop() {
      if (!exited && child.pid !== undefined) {
        try {
          process.kill(child.pid, "SIGKILL");
        } catch {
          /* gone */
        }
        exited = true;
      }
    },
  };
}

interface HandleParts {
  mode: RegistryMode;
  port: number;
  url: string;
  tls: { caFile: string; certDir: string } | undefined;
  caPem: string | undefined;
  username: string | undefined;
  password: string | undefined;
  tokenServer: TokenServer | undefined;
  service: string;
  dir: string;
  pid: number;
  accessLog: string;
  appLog: string;
  killer: { kill(): void };
  terminate: () => void;
  waitExit: () => Promise<void>;
}

function makeHandle(p: HandleParts): TestRegistry {
  let offset = statSync(p.accessLog).size;
  let stopped = false;
  const host = `127.0.0.1:${p.port}`;

  const readLogFrom = (from: number): string => {
    const buf = readFileSync(p.accessLog);
    return buf.subarray(Math.min(from, buf.length)).toString("utf8");
  };

  return {
    mode: p.mode,
    host,
    url: p.url,
    port: p.port,
    tls: p.tls !== undefined,
    username: p.username,
    password: p.password,
    caFile: p.tls?.caFile,
    caPem: p.caPem,
    certDir: p.tls?.certDir,
    tokenRealm: p.tokenServer?.realm,
    tokenService: p.tokenServer ? p.service : undefined,
    tokenServer: p.tokenServer,
    dir: p.dir,
    pid: p.pid,

    ref: (name) => `docker://${host}/${name.replace(/^\/+/, "")}`,

    skopeoArgs(side, credentials) {
      const flag = (name: string) => (side === "single" ? `--${name}` : `--${side}-${name}`);
      const args: string[] = [];
      const user = credentials?.username ?? p.username;
      const pass = credentials?.password ?? p.password;
      if (user !== undefined && pass !== undefined) args.push(flag("creds"), `${user}:${pass}`);
      else args.push(flag("no-creds"));
      if (p.tls) args.push(flag("cert-dir"), p.tls.certDir);
      else args.push(`${flag("tls-verify")}=false`);
      return args;
    },

    async requests() {
      if (stopped) throw new Error("registry stopped");
      // Sync: send a marked request and wait until the registry has logged it. The registry logs a
      // request when its handler returns, so everything a client saw completed is logged by then.
      const marker = `${HARNESS_PARAM}=sync-${randomUUID()}`;
      await probe(`${p.url}/v2/?${marker}`, p.caPem);
      const deadline = Date.now() + 5000;
      let text = readLogFrom(offset);
      while (!text.includes(marker)) {
        if (Date.now() > deadline) throw new Error("registry access log did not record the sync request within 5 s");
        await sleep(10);
        text = readLogFrom(offset);
      }
      return parseAccessLog(text);
    },

    resetRequests() {
      offset = statSync(p.accessLog).size;
      p.tokenServer?.reset();
    },

    tokenRequests: () => p.tokenServer?.requests() ?? [],

    serverLog: () => readFile(p.appLog, "utf8"),

    async stop() {
      if (stopped) return;
      stopped = true;
      p.terminate();
      await p.waitExit();
      await p.tokenServer?.close();
      p.killer.kill(); // stops the watchdog, forgets the registry, removes the dir
    },
  };
}
