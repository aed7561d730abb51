// A fault-injecting HTTP proxy between imagespec and a real docker-registry, on 127.0.0.1. Every
// request is forwarded unchanged (Host included, so the registry's Locations point back at the
// proxy) unless a rule matches it: method, path pattern and which occurrence (nth) of the match,
// for how many occurrences (times). Product code reaches it as an ordinary plain-HTTP registry.
//
// Faults, as a flaky network, a proxy or a broken registry produce them:
//   reset-upload     forward the request, then cut the connection after N bytes of its body
//   reset-download   forward the response, then cut the connection after N bytes of its body
//   status           answer this status (5xx, 429 with Retry-After, 401, ...) without forwarding
//   html-200         answer 200 text/html (a captive portal)
//   body             answer 200 with this content type and body (`{}`, junk, a wrong manifest)
//   delay            wait, then forward
//   hang             accept the request and never answer (until the proxy stops)
//   truncate         forward a GET, send only the first N bytes of the body with the full length, end
//   corrupt          forward a GET, flip one byte of the body
//   drop-after       forward, let the registry finish (it stored what was sent), then cut the connection
//   hang-after       forward, let the registry finish, then never answer (the client waits, or is killed)
//   stall-upload     forward the first N bytes of the request body, then stop reading it
import { request as httpRequest, createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";

export type Fault =
  | { readonly kind: "reset-upload"; readonly afterBytes: number }
  | { readonly kind: "reset-download"; readonly afterBytes: number }
  | { readonly kind: "status"; readonly status: number; readonly headers?: Record<string, string>; readonly body?: string }
  | { readonly kind: "html-200" }
  | { readonly kind: "body"; readonly contentType?: string; readonly body: string; readonly headers?: Record<string, string> }
  | { readonly kind: "delay"; readonly ms: number }
  | { readonly kind: "hang" }
  | { readonly kind: "truncate"; readonly bytes: number }
  | { readonly kind: "corrupt" }
  | { readonly kind: "drop-after" }
  | { readonly kind: "hang-after" }
  | { readonly kind: "stall-upload"; readonly afterBytes: number };

export interface FaultRule {
  /** Exact method (GET, HEAD, POST, PATCH, PUT, DELETE); any when left out. */
  readonly method?: string;
  /** Matched against the path with its query. */
  readonly path: RegExp;
  /** Request headers (lower-case names) whose values must match, e.g. one chunk's `content-range`. */
  readonly headers?: Readonly<Record<string, RegExp>>;
  /** The first matching request the fault applies to, counting from 1 (default 1). */
  readonly nth?: number;
  /** How many matching requests from the nth on get the fault (default 1; Infinity: all). */
  readonly times?: number;
  readonly fault: Fault;
}

export interface ProxiedRequest {
  readonly method: string;
  readonly path: string;
  /** The status sent to the client; 0 when the connection was cut or the proxy hung. */
  readonly status: number;
  /** The registry's own status for a forwarded request (also when the client never got it). */
  readonly upstreamStatus?: number;
  /** The fault applied, if any. */
  readonly fault?: Fault["kind"];
  /** The body came with Transfer-Encoding: chunked (a stream of unknown length), not a Content-Length. */
  readonly chunkedBody?: boolean;
}

export interface FaultProxy {
  /** `127.0.0.1:PORT`: use it as the registry host. */
  readonly host: string;
  readonly port: number;
  /** Replaces the rules (their occurrence counters start again). */
  setRules(rules: readonly FaultRule[]): void;
  /** Requests seen since start or the last reset, in the order they arrived (status filled in when answered). */
  readonly requests: readonly ProxiedRequest[];
  resetRequests(): void;
  /** Resolves when a request matching `method` and `path` arrives (already arrived: at once). */
  waitFor(method: string, path: RegExp, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

interface ActiveRule {
  readonly rule: FaultRule;
  seen: number;
}

export async function startFaultProxy(upstream: { host: string }): Promise<FaultProxy> {
  const [upstreamHost, upstreamPort] = upstream.host.split(":") as [string, string];
  let rules: ActiveRule[] = [];
  const requests: { method: string; path: string; status: number; upstreamStatus?: number; fault?: Fault["kind"] }[] = [];
  const sockets = new Set<Socket>();
  const waiters: { method: string; path: RegExp; resolve: () => void }[] = [];

  const pick = (method: string, path: string, headers: IncomingMessage["headers"]): Fault | undefined => {
    let chosen: Fault | undefined;
    for (const active of rules) {
      const { rule } = active;
      if (rule.method !== undefined && rule.method !== method) continue;
      if (!rule.path.test(path)) continue;
      if (Object.entries(rule.headers ?? {}).some(([name, pattern]) => !pattern.test(String(headers[name] ?? "")))) continue;
      active.seen++;
      const first = rule.nth ?? 1;
      const last = first + (rule.times ?? 1) - 1;
      if (chosen === undefined && active.seen >= first && active.seen <= last) chosen = rule.fault;
    }
    return chosen;
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const method = req.method ?? "GET";
    const path = req.url ?? "/";
    const fault = pick(method, path, req.headers);
    const chunkedBody = /\bchunked\b/i.test(String(req.headers["transfer-encoding"] ?? ""));
    const record: { method: string; path: string; status: number; upstreamStatus?: number; fault?: Fault["kind"]; chunkedBody?: boolean } = {
      method,
      path,
      status: 0,
      ...(fault ? { fault: fault.kind } : {}),
      ...(chunkedBody ? { chunkedBody } : {}),
    };
    requests.push(record);
    for (const w of waiters.splice(0)) {
      if (w.method === method && w.path.test(path)) w.resolve();
      else waiters.push(w);
    }
    const cut = (): void => {
      req.socket.destroy();
    };
    const answer = (status: number, headers: Record<string, string>, body: string): void => {
      // The request body is read first so the client is not cut off mid-send.
      req.resume();
      req.on("end", () => {
        record.status = status;
        res.writeHead(status, { "content-length": String(Buffer.byteLength(body)), ...headers });
        res.end(method === "HEAD" ? undefined : body);
      });
    };
    switch (fault?.kind) {
      case "status":
        return answer(fault.status, { "content-type": "application/json", ...fault.headers }, fault.body ?? JSON.stringify({ errors: [{ code: fault.status === 429 ? "TOOMANYREQUESTS" : fault.status === 401 ? "UNAUTHORIZED" : "UNAVAILABLE", message: `injected ${fault.status}` }] }));
      case "html-200":
        return answer(200, { "content-type": "text/html; charset=utf-8" }, "<html><head><title>Sign in</title></head><body>Please sign in to continue</body></html>");
      case "body":
        return answer(200, { ...(fault.contentType !== undefined ? { "content-type": fault.contentType } : {}), ...fault.headers }, fault.body);
      case "hang":
        req.resume();
        return; // the socket stays open until the client gives up or the proxy stops
      case "delay":
        setTimeout(() => forward(req, res, record, undefined), fault.ms);
        return;
      default:
        forward(req, res, record, fault, cut);
    }
  };

  const forward = (req: IncomingMessage, res: ServerResponse, record: { status: number; upstreamStatus?: number }, fault: Fault | undefined, cut = (): void => void req.socket.destroy()): void => {
    const upstreamReq = httpRequest({ host: upstreamHost, port: Number(upstreamPort), method: req.method, path: req.url, headers: req.headers });
    upstreamReq.on("error", () => cut());
    let sent = 0;
    req.on("data", (chunk: Buffer) => {
      if (fault?.kind === "stall-upload" && sent + chunk.length > fault.afterBytes) {
        upstreamReq.write(chunk.subarray(0, Math.max(0, fault.afterBytes - sent)));
        sent = fault.afterBytes;
        req.pause(); // and never resumed: the client's writes back up until it gives up or dies
        return;
      }
      if (fault?.kind === "reset-upload" && sent + chunk.length > fault.afterBytes) {
        upstreamReq.write(chunk.subarray(0, Math.max(0, fault.afterBytes - sent)));
        upstreamReq.destroy();
        cut();
        return;
      }
      sent += chunk.length;
      if (!upstreamReq.write(chunk)) {
        req.pause();
        upstreamReq.once("drain", () => req.resume());
      }
    });
    req.on("end", () => upstreamReq.end());
    upstreamReq.on("response", (upstreamRes) => {
      const status = upstreamRes.statusCode ?? 502;
      record.upstreamStatus = status;
      if (fault?.kind === "drop-after" || fault?.kind === "hang-after") {
        // The registry has done its work (stored the manifest, closed the upload); the client never hears of it.
        upstreamRes.resume();
        if (fault.kind === "drop-after") upstreamRes.on("end", cut);
        return;
      }
      const hasBody = req.method !== "HEAD" && status !== 204 && status !== 304;
      if (hasBody && (fault?.kind === "corrupt" || fault?.kind === "truncate")) {
        const chunks: Buffer[] = [];
        upstreamRes.on("data", (c: Buffer) => chunks.push(c));
        upstreamRes.on("end", () => {
          const body = Buffer.concat(chunks);
          res.writeHead(status, upstreamRes.headers);
          if (fault.kind === "corrupt") {
            const at = body.length >> 1;
            if (body.length > 0) body[at] = (body[at] ?? 0) ^ 0xff;
            record.status = status;
            res.end(body);
          } else {
            // The full Content-Length is announced; fewer bytes come, then the connection ends.
            res.write(body.subarray(0, Math.min(fault.bytes, Math.max(0, body.length - 1))), () => cut());
          }
        });
        return;
      }
      res.writeHead(status, upstreamRes.headers);
      let received = 0;
      upstreamRes.on("data", (chunk: Buffer) => {
        if (fault?.kind === "reset-download" && received + chunk.length > fault.afterBytes) {
          res.write(chunk.subarray(0, Math.max(0, fault.afterBytes - received)), () => cut());
          upstreamRes.destroy();
          return;
        }
        received += chunk.length;
        if (!res.write(chunk)) {
          upstreamRes.pause();
          res.once("drain", () => upstreamRes.resume());
        }
      });
      upstreamRes.on("end", () => {
        if (res.destroyed) return;
        record.status = status;
        res.end();
      });
    });
  };

  const server: Server = createServer(handle);
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;

  return {
    host: `127.0.0.1:${port}`,
    port,
    get requests() {
      return requests;
    },
    setRules(next) {
      rules = next.map((rule) => ({ rule, seen: 0 }));
    },
    resetRequests() {
      requests.length = 0;
    },
    waitFor(method, path, timeoutMs = 60_000) {
      if (requests.some((r) => r.method === method && path.test(r.path))) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${method} ${path} within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          method,
          path,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// ---- What a faulted run must leave behind, checked straight at the registry (not through the proxy).

/** Digests whose upload was closed (`PUT ...?digest=`) among these requests. */
export function uploadedDigests(requests: readonly ProxiedRequest[]): string[] {
  return requests.flatMap((r) => {
    if (r.method !== "PUT" || !r.path.includes("/blobs/uploads/")) return [];
    const digest = new URL(r.path, "http://x").searchParams.get("digest");
    return digest ? [digest] : [];
  });
}

/** Blobs a repository of a test registry holds (distribution links them in its storage). */
export async function linkedBlobs(registryDir: string, repository: string): Promise<Set<string>> {
  const { readdir } = await import("node:fs/promises");
  const { join } = await import("node:path");
  const dir = join(registryDir, "storage", "docker", "registry", "v2", "repositories", repository, "_layers", "sha256");
  try {
    return new Set((await readdir(dir)).map((hex) => `sha256:${hex}`));
  } catch {
    return new Set();
  }
}

/**
 * Every tag of a repository names a whole image (manifests, config and layers there, each blob's
 * digest and size right), checked with `registry` straight at the registry. Returns the tags.
 */
export async function assertNoBrokenTag(registry: import("../../src/registry/index.js").Registry, host: string, repository: string): Promise<string[]> {
  const { RegistryError } = await import("../../src/registry/index.js");
  let tags: string[];
  try {
    tags = await registry.listTags(`${host}/${repository}`);
  } catch (error) {
    if (error instanceof RegistryError && error.code === "NAME_UNKNOWN") return [];
    throw error;
  }
  for (const tag of tags) {
    const value = await registry.get(`${host}/${repository}:${tag}`);
    const images = "images" in value ? value.images : [value];
    for (const image of images) {
      for (const blob of [image.config, ...image.layers]) {
        let size = 0;
        for await (const chunk of await blob.open()) size += (chunk as Buffer).length; // the stream checks the digest at its end
        if (size !== blob.descriptor.size) throw new Error(`${repository}:${tag}: blob ${blob.descriptor.digest} has ${size} bytes, not ${blob.descriptor.size}`);
      }
    }
  }
  return tags;
}
