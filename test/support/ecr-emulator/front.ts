// One account's registry endpoint (`<account>.dkr.ecr.<region>.amazonaws.com`): an HTTP front on
// 127.0.0.1 that authenticates like ECR (Basic "AWS" + token from GetAuthorizationToken), applies
// ECR's rules (repositories must be created first, repository policies for other accounts, tag
// immutability, 5 MiB chunks) and proxies the rest to one real docker-registry, where this
// account's repositories live under "<account>/". Names are rewritten both ways so clients never
// see the prefix.
//
// With `public: true`, the ECR Public registry (`public.ecr.aws/<alias>/<name>`) instead: a Bearer
// challenge whose token endpoint (`/token/`) hands anonymous pull tokens, and push tokens for Basic
// "AWS" + a token from ECR Public's GetAuthorizationToken; anyone pulls, only the alias's account
// pushes; repositories live under "public/<alias>/".
import { createHmac, randomBytes } from "node:crypto";
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { policyAllows, wildcardMatch } from "./policy.js";
import type { EmulatorAccount, RegistryRequest, RepositoryRecord, State } from "./state.js";

/** ECR's minimum size of a chunk that is not the last one (S3 multipart part size). */
export const MIN_CHUNK = 5 * 1024 * 1024;
export const TOKEN_EXPIRED_MESSAGE = "Your authorization token has expired. Reauthenticate and try again.";

export interface FrontOptions {
  state: State;
  /** The account whose private registry this is; ignored with `public`. */
  accountId: string;
  /** Serve ECR Public (`public.ecr.aws`) instead of one account's private registry. */
  public?: boolean;
  upstream: { host: string; port: number };
  dropUploadsToMissingRepository: boolean;
  redirectBlobs: boolean;
}

export interface Front {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer", "upgrade", "authorization"]);
const MANIFEST_ACCEPT = [
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v1+prettyjws",
].join(", ");
const DIGEST_RE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

type Route =
  | { kind: "ping" }
  | { kind: "catalog" }
  | { kind: "manifest"; name: string; reference: string }
  | { kind: "uploadStart"; name: string }
  | { kind: "upload"; name: string; uuid: string }
  | { kind: "blob"; name: string; digest: string }
  | { kind: "tags"; name: string };

function route(path: string): Route | undefined {
  if (path === "/v2/" || path === "/v2") return { kind: "ping" };
  if (path === "/v2/_catalog") return { kind: "catalog" };
  let m: RegExpExecArray | null;
  if ((m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(path))) return { kind: "manifest", name: m[1]!, reference: decodeURIComponent(m[2]!) };
  if ((m = /^\/v2\/(.+)\/blobs\/uploads\/?$/.exec(path))) return { kind: "uploadStart", name: m[1]! };
  if ((m = /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/.exec(path))) return { kind: "upload", name: m[1]!, uuid: m[2]! };
  if ((m = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(path))) return { kind: "blob", name: m[1]!, digest: decodeURIComponent(m[2]!) };
  if ((m = /^\/v2\/(.+)\/tags\/list$/.exec(path))) return { kind: "tags", name: m[1]! };
  return undefined;
}

/** The IAM action ECR checks for a registry request (as named in repository policies). */
function actionFor(r: Exclude<Route, { kind: "ping" | "catalog" }>, method: string): string {
  switch (r.kind) {
    case "manifest":
      return method === "PUT" ? "ecr:PutImage" : method === "DELETE" ? "ecr:BatchDeleteImage" : "ecr:BatchGetImage";
    case "blob":
      return method === "DELETE" ? "ecr:BatchDeleteImage" : "ecr:GetDownloadUrlForLayer";
    case "uploadStart":
      return "ecr:InitiateLayerUpload";
    case "upload":
      return method === "PUT" ? "ecr:CompleteLayerUpload" : "ecr:UploadLayerPart";
    case "tags":
      return "ecr:ListImages";
  }
}

/** Whether pushing `tag` again is refused under the repository's tag mutability setting. */
export function tagIsImmutable(repo: RepositoryRecord, tag: string): boolean {
  const excluded = repo.imageTagMutabilityExclusionFilters.some((f) => wildcardMatch(f.filter, tag, false));
  switch (repo.imageTagMutability) {
    case "MUTABLE":
      return false;
    case "IMMUTABLE":
      return true;
    case "IMMUTABLE_WITH_EXCLUSION":
      return !excluded;
    case "MUTABLE_WITH_EXCLUSION":
      return excluded;
  }
}

export async function startFront(opts: FrontOptions): Promise<Front> {
  const { state, accountId } = opts;
  const isPublic = opts.public === true;
  const prefix = isPublic ? "public/" : `${accountId}/`;
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  /** Size of the last PATCH of each upload session (by upload UUID), for the chunk-size rule. */
  const lastPatch = new Map<string, number>();
  /** Presigned "S3" URLs handed out by blob redirects: id -> upstream path and expiry. */
  const presigned = new Map<string, { path: string; expires: number }>();
  const presignKey = randomBytes(32);
  const realm = `https://${state.registryHost(accountId)}/`;

  function send(res: ServerResponse, status: number, body: string, headers: OutgoingHttpHeaders = {}): void {
    res.writeHead(status, {
      "Docker-Distribution-Api-Version": "registry/2.0",
      "Content-Length": Buffer.byteLength(body),
      ...headers,
    });
    res.end(body);
  }

  function sendError(res: ServerResponse, status: number, code: string, message: string, headers: OutgoingHttpHeaders = {}): void {
    send(res, status, JSON.stringify({ errors: [{ code, message }] }) + "\n", { "Content-Type": "application/json; charset=utf-8", ...headers });
  }

  function challenge(res: ServerResponse): void {
    if (isPublic) {
      // ECR Public's realm is https://public.ecr.aws/token/; this front's own token endpoint stands in for it.
      return sendError(res, 401, "UNAUTHORIZED", "Not Authorized", {
        "WWW-Authenticate": `Bearer realm="http://127.0.0.1:${port}/token/",service="public.ecr.aws",scope="aws"`,
      });
    }
    send(res, 401, "Not Authorized\n", {
      "Content-Type": "text/plain; charset=utf-8",
      "WWW-Authenticate": `Basic realm="${realm}",service="ecr.amazonaws.com"`,
    });
  }

  /** ECR Public's token endpoint: anonymous pull tokens, or an account's for Basic AWS:<ECR Public token>. */
  function publicToken(req: IncomingMessage, res: ServerResponse, record: RegistryRequest): void {
    let account: string | undefined;
    if (req.headers.authorization !== undefined) {
      const basic = basicToken(req.headers.authorization, "public");
      if (basic === "invalid") return sendError(res, 401, "DENIED", "Your Authorization Token is invalid.");
      if (basic === "expired") return sendError(res, 403, "DENIED", TOKEN_EXPIRED_MESSAGE);
      account = basic.account;
      record.account = account;
    }
    const { token, expiresIn } = state.issuePublicBearer(account);
    send(res, 200, JSON.stringify({ token, expires_in: expiresIn }), { "Content-Type": "application/json; charset=utf-8" });
  }

  /** A Basic "AWS:<token>" header: the token's account, or why it is refused. */
  function basicToken(header: string, kind: "private" | "public"): { account: string } | "invalid" | "expired" {
    const m = /^Basic\s+(\S+)$/i.exec(header);
    if (!m) return "invalid";
    const decoded = Buffer.from(m[1]!, "base64").toString("utf8");
    const i = decoded.indexOf(":");
    if (i < 0 || decoded.slice(0, i) !== "AWS") return "invalid";
    const token = state.lookupToken(decoded.slice(i + 1), kind);
    if (!token) return "invalid";
    return token.expired ? "expired" : { account: token.account };
  }

  /**
   * The account a request's credentials belong to (ECR Public: undefined for an anonymous token),
   * or the answer ECR gives instead.
   */
  function authenticate(header: string | undefined): { account?: string } | "challenge" | "expired" {
    if (isPublic) {
      const m = /^Bearer\s+(\S+)$/i.exec(header ?? "");
      const bearer = m ? state.lookupPublicBearer(m[1]!) : undefined;
      // An expired bearer token gets the challenge again, as token-auth registries answer.
      return bearer === undefined || bearer.expired ? "challenge" : bearer;
    }
    const basic = basicToken(header ?? "", "private");
    return basic === "invalid" ? "challenge" : basic;
  }

  const upstreamPath = (name: string, rest: string) => `/v2/${prefix}${name}${rest}`;

  /** Strips the account prefix from a path or URL the registry sent back. */
  function unprefixUrl(value: string): string {
    return value.split(`/v2/${prefix}`).join("/v2/");
  }

  /**
   * A Location from the registry, made relative: the registry builds absolute URLs from the Host
   * header, which need not be where the client really connected (a host mapped to 127.0.0.1:PORT).
   */
  function clientLocation(value: string): string {
    const u = new URL(value, "http://front");
    return unprefixUrl(u.pathname + u.search);
  }

  function forwardHeaders(req: IncomingMessage, extra: OutgoingHttpHeaders = {}): OutgoingHttpHeaders {
    const out: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
    return { ...out, ...extra };
  }

  function upstream(method: string, path: string, headers: OutgoingHttpHeaders): { req: ReturnType<typeof httpRequest>; res: Promise<IncomingMessage> } {
    const req = httpRequest({ host: opts.upstream.host, port: opts.upstream.port, method, path, headers, agent });
    const res = new Promise<IncomingMessage>((resolve, reject) => {
      req.once("response", resolve);
      req.once("error", reject);
    });
    return { req, res };
  }

  async function upstreamStatus(method: string, path: string, headers: OutgoingHttpHeaders = {}): Promise<number> {
    const u = upstream(method, path, headers);
    u.req.end();
    const r = await u.res;
    r.resume();
    return r.statusCode ?? 0;
  }

  interface ProxyOptions {
    /** Rewrite a JSON body that names the repository (tag lists, error details). */
    rewriteJson?: string;
    status?: (upstreamStatus: number) => number;
    dropHeaders?: string[];
    addHeaders?: OutgoingHttpHeaders;
    /** Counts request body bytes (the PATCH size rule). */
    onBodyBytes?: (n: number) => void;
  }

  async function proxy(req: IncomingMessage, res: ServerResponse, path: string, p: ProxyOptions = {}): Promise<void> {
    const u = upstream(req.method ?? "GET", path, forwardHeaders(req));
    let bytes = 0;
    req.on("data", (c: Buffer) => {
      bytes += c.length;
    });
    req.on("end", () => p.onBodyBytes?.(bytes));
    req.pipe(u.req);
    const up = await u.res;
    const headers: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(up.headers as IncomingHttpHeaders)) {
      if (v === undefined || k === "connection" || k === "keep-alive" || p.dropHeaders?.includes(k)) continue;
      headers[k] = k === "location" ? clientLocation(String(v)) : k === "link" ? unprefixUrl(String(v)) : v;
    }
    Object.assign(headers, p.addHeaders);
    const status = p.status ? p.status(up.statusCode ?? 502) : (up.statusCode ?? 502);
    const ctype = String(up.headers["content-type"] ?? "");
    if (p.rewriteJson !== undefined && ctype.includes("json") && req.method !== "HEAD") {
      const chunks: Buffer[] = [];
      for await (const c of up) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks).toString("utf8").split(`${prefix}${p.rewriteJson}`).join(p.rewriteJson);
      delete headers["transfer-encoding"];
      headers["content-length"] = Buffer.byteLength(body);
      res.writeHead(status, headers);
      res.end(body);
      return;
    }
    res.writeHead(status, headers);
    up.pipe(res);
  }

  function notAuthorized(userArn: string, action: string, name: string, kind: "identity-based" | "resource-based", owner = accountId): string {
    const arn = isPublic ? state.publicRepositoryArn(owner, name) : state.repositoryArn(accountId, name);
    return `User: ${userArn} is not authorized to perform: ${action} on resource: ${arn} because no ${kind} policy allows the ${action} action`;
  }

  async function handle(req: IncomingMessage, res: ServerResponse, record: RegistryRequest): Promise<void> {
    const method = req.method ?? "GET";
    const url = new URL(req.url ?? "/", "http://front");
    const path = url.pathname;

    // Presigned blob URLs carry their own authorization, as S3 URLs do.
    if (path.startsWith("/s3/")) {
      const id = path.slice(4);
      const entry = presigned.get(id);
      const sig = createHmac("sha256", presignKey).update(id).digest("hex");
      if (!entry || url.searchParams.get("X-Amz-Signature") !== sig || Date.now() > entry.expires) {
        send(res, 403, `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Request has expired or the signature does not match</Message></Error>`, {
          "Content-Type": "application/xml",
        });
        return;
      }
      await proxy(req, res, entry.path, { dropHeaders: ["docker-content-digest", "docker-distribution-api-version"] });
      return;
    }

    if (isPublic && (path === "/token" || path === "/token/") && method === "GET") return publicToken(req, res, record);
    const r = route(path);
    const auth = authenticate(req.headers.authorization);
    if (auth === "challenge") return challenge(res);
    if (auth === "expired") return sendError(res, 403, "DENIED", TOKEN_EXPIRED_MESSAGE);
    if (auth.account !== undefined) record.account = auth.account;
    const caller = auth.account === undefined ? undefined : state.accountById(auth.account)!;

    if (!r) return sendError(res, 404, "UNSUPPORTED", "The operation is unsupported.");
    if (r.kind === "ping") return send(res, 200, "{}", { "Content-Type": "application/json; charset=utf-8" });
    if (isPublic) {
      if (r.kind === "catalog") return sendError(res, 404, "UNSUPPORTED", "The operation is unsupported.");
      return handlePublic(req, res, r, caller, url);
    }
    if (!caller) return challenge(res);
    if (r.kind === "catalog") {
      if (caller.accountId !== accountId) return sendError(res, 403, "DENIED", notAuthorized(caller.userArn, "ecr:DescribeRepositories", "*", "resource-based"));
      const repositories = state.listRepos(accountId).map((x) => x.name);
      return send(res, 200, JSON.stringify({ repositories }), { "Content-Type": "application/json; charset=utf-8" });
    }

    const repo = state.getRepo(accountId, r.name);
    if (!repo) {
      if (r.kind === "uploadStart" && method === "POST" && opts.dropUploadsToMissingRepository) {
        // What ECR does: the connection is closed without any HTTP answer.
        req.socket.destroy();
        return;
      }
      return sendError(res, 404, "NAME_UNKNOWN", `The repository with name '${r.name}' does not exist in the registry with id '${accountId}'`);
    }

    const action = actionFor(r, method);
    if (!state.identityAllows(caller.accountId, action)) {
      return sendError(res, 403, "DENIED", notAuthorized(caller.userArn, action, r.name, "identity-based"));
    }
    if (caller.accountId !== accountId && !policyAllows(repo.policyText, caller.accountId, caller.userArn, action)) {
      return sendError(res, 403, "DENIED", notAuthorized(caller.userArn, action, r.name, "resource-based"));
    }

    return forward(req, res, r, repo, url);
  }

  /**
   * ECR Public: `<alias>/<name>` is the repository `name` of the account with that alias. Anyone
   * pulls (an anonymous token will do); only the alias's own account pushes.
   */
  async function handlePublic(req: IncomingMessage, res: ServerResponse, r: Exclude<Route, { kind: "ping" | "catalog" }>, caller: EmulatorAccount | undefined, url: URL): Promise<void> {
    const method = req.method ?? "GET";
    const slash = r.name.indexOf("/");
    const owner = slash < 0 ? undefined : state.accountByAlias(r.name.slice(0, slash));
    const name = slash < 0 ? r.name : r.name.slice(slash + 1);
    const repo = owner && state.publicRepos.get(owner.accountId, name);
    if (!owner || !repo) return sendError(res, 404, "NAME_UNKNOWN", `The repository with name '${name}' does not exist in the registry with id '${owner?.accountId ?? "unknown"}'`);
    const action = actionFor(r, method).replace(/^ecr:/, "ecr-public:");
    const pull = (r.kind === "manifest" || r.kind === "blob" || r.kind === "tags") && (method === "GET" || method === "HEAD");
    if (!pull) {
      if (!caller) return challenge(res);
      if (caller.accountId !== owner.accountId) return sendError(res, 403, "DENIED", notAuthorized(caller.userArn, action, name, "resource-based", owner.accountId));
      if (!state.identityAllows(caller.accountId, action)) return sendError(res, 403, "DENIED", notAuthorized(caller.userArn, action, name, "identity-based", owner.accountId));
    }
    return forward(req, res, r, undefined, url);
  }

  /** The request, under ECR's upload and tag rules, to the registry (`repo`: the private repository whose tag mutability applies). */
  async function forward(req: IncomingMessage, res: ServerResponse, r: Exclude<Route, { kind: "ping" | "catalog" }>, repo: RepositoryRecord | undefined, url: URL): Promise<void> {
    const method = req.method ?? "GET";
    const query = url.search;
    switch (r.kind) {
      case "manifest": {
        const target = upstreamPath(r.name, `/manifests/${encodeURIComponent(r.reference)}`);
        if (method === "PUT" && !DIGEST_RE.test(r.reference) && repo !== undefined && tagIsImmutable(repo, r.reference)) {
          // Decided on the tag alone, whatever the digest: re-pushing identical content fails too.
          if ((await upstreamStatus("HEAD", target, { accept: MANIFEST_ACCEPT })) === 200) {
            return sendError(
              res,
              400,
              "TAG_INVALID",
              `The image tag '${r.reference}' already exists in the '${r.name}' repository and cannot be overwritten because the repository is immutable.`,
            );
          }
        }
        // ECR answers a manifest PUT with no Location.
        return proxy(req, res, target + query, { rewriteJson: r.name, ...(method === "PUT" ? { dropHeaders: ["location"] } : {}) });
      }
      case "blob": {
        const target = upstreamPath(r.name, `/blobs/${encodeURIComponent(r.digest)}`);
        if (method === "GET" && opts.redirectBlobs && (await upstreamStatus("HEAD", target)) === 200) {
          // Like ECR's redirect to a presigned S3 URL: a 307 to a short-lived signed URL.
          const id = randomBytes(16).toString("hex");
          presigned.set(id, { path: target, expires: Date.now() + 10 * 60 * 1000 });
          const sig = createHmac("sha256", presignKey).update(id).digest("hex");
          // Absolute, on the address the client connected to (S3 URLs are absolute too).
          return send(res, 307, "", {
            Location: `http://127.0.0.1:${port}/s3/${id}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=600&X-Amz-Signature=${sig}`,
          });
        }
        return proxy(req, res, target + query, { rewriteJson: r.name });
      }
      case "uploadStart": {
        // Cross-repository mounts stay inside this account's namespace.
        const from = url.searchParams.get("from");
        if (from !== null) url.searchParams.set("from", prefix + from);
        return proxy(req, res, upstreamPath(r.name, "/blobs/uploads/") + url.search, {
          rewriteJson: r.name,
          addHeaders: { "OCI-Chunk-Min-Length": String(MIN_CHUNK) },
        });
      }
      case "upload": {
        const previous = lastPatch.get(r.uuid);
        const hasBody = method === "PATCH" || Number(req.headers["content-length"] ?? 0) > 0 || req.headers["transfer-encoding"] !== undefined;
        if ((method === "PATCH" || (method === "PUT" && hasBody)) && previous !== undefined && previous < MIN_CHUNK) {
          // The previous PATCH turned out not to be the last chunk, and it was too small.
          return sendError(
            res,
            400,
            "BLOB_UPLOAD_INVALID",
            `Upload chunk of ${previous} bytes is smaller than the minimum of ${MIN_CHUNK} bytes; only the last chunk of an upload may be smaller (OCI-Chunk-Min-Length).`,
          );
        }
        const target = upstreamPath(r.name, `/blobs/uploads/${r.uuid}`) + query;
        if (method === "PATCH") {
          return proxy(req, res, target, {
            rewriteJson: r.name,
            status: (s) => (s === 202 ? 201 : s), // ECR answers PATCH with 201 Created
            addHeaders: { "OCI-Chunk-Min-Length": String(MIN_CHUNK) },
            onBodyBytes: (n) => lastPatch.set(r.uuid, n),
          });
        }
        if (method === "PUT" || method === "DELETE") lastPatch.delete(r.uuid);
        return proxy(req, res, target, { rewriteJson: r.name, addHeaders: { "OCI-Chunk-Min-Length": String(MIN_CHUNK) } });
      }
      case "tags": {
        const target = upstreamPath(r.name, "/tags/list") + query;
        if ((await upstreamStatus("GET", upstreamPath(r.name, "/tags/list"))) === 404) {
          // Created through the API but nothing pushed yet: the registry has no such name, ECR has an empty list.
          return send(res, 200, JSON.stringify({ name: r.name, tags: [] }), { "Content-Type": "application/json; charset=utf-8" });
        }
        return proxy(req, res, target, { rewriteJson: r.name });
      }
    }
  }

  let port = 0;
  const server = createServer((req, res) => {
    const record: RegistryRequest = { method: req.method ?? "GET", path: req.url ?? "/", status: 0 };
    if (/\bchunked\b/i.test(String(req.headers["transfer-encoding"] ?? ""))) record.chunkedBody = true;
    state.registryRequests.push(record);
    res.on("finish", () => {
      record.status = res.statusCode;
    });
    handle(req, res, record).catch((e: unknown) => {
      if (!res.headersSent) sendError(res, 502, "UNKNOWN", `emulator front: ${e instanceof Error ? e.message : String(e)}`);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}
