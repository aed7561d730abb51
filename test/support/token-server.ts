// A Docker/OCI token server (https://distribution.github.io/distribution/spec/auth/token/) for tests:
// node:http on 127.0.0.1, GET /token?service=...&scope=...[&scope=...], Basic credentials checked,
// answers { token, access_token, expires_in, issued_at } with an ES256 JWT that docker-registry 2.8
// (`auth.token` with `rootcertbundle` = this server's certificate) accepts.
//
// Policy (the default; `policy` replaces it):
//   - right Basic credentials: every requested action on every requested scope is granted;
//   - wrong Basic credentials: 401, no token;
//   - no credentials (anonymous): a token with no access at all (`anonymous: "none"`, the default),
//     or with only the `pull` actions requested (`anonymous: "pull"`).
import { createHash, createPrivateKey, createPublicKey, randomUUID, sign, timingSafeEqual, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { runOk } from "./tools.js";

/** distribution accepts a token until `exp` + this leeway (registry/auth/token/token.go: Leeway). */
export const REGISTRY_TOKEN_LEEWAY_SECONDS = 60;

export interface Access {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenRequestRecord {
  time: Date;
  /** User named in the Basic credentials (or the `account` parameter when anonymous). */
  account?: string;
  /** Basic credentials present and right. */
  authenticated: boolean;
  /** `scope` parameters as sent (each may hold several space-separated scopes). */
  scopes: string[];
  service?: string;
  /** What the issued token grants; empty when no token was issued. */
  granted: Access[];
  status: number;
}

export interface PolicyRequest {
  /** Undefined for anonymous requests. */
  account?: string;
  requested: Access;
}

export interface TokenServerOptions {
  /** Must equal the registry's `auth.token.service` (it becomes the token's `aud`). */
  service: string;
  /** Must equal the registry's `auth.token.issuer`. */
  issuer: string;
  username: string;
  password: string;
  /** Lifetime reported in `expires_in`. Default 300. */
  ttlSeconds?: number;
  /**
   * If true (default), the JWT's `exp` is set `REGISTRY_TOKEN_LEEWAY_SECONDS` early, so the registry
   * really stops accepting the token `ttlSeconds` after issue (what `expires_in` says). If false,
   * `exp` = issue + ttl and the registry keeps accepting it for another 60 s.
   */
  exactExpiry?: boolean;
  /** How the JWT names its signing key: the certificate chain (`x5c`) or a libtrust key id (`kid`). */
  keyHeader?: "x5c" | "kid";
  anonymous?: "none" | "pull";
  /** Replaces the default policy: returns the actions granted for one requested scope. */
  policy?: (req: PolicyRequest) => string[];
  /** Directory for the signing key and certificate (made with openssl). */
  dir: string;
}

export interface TokenServer {
  /** The realm: http://127.0.0.1:PORT/token */
  readonly realm: string;
  /** PEM file of the signing certificate: the registry's `auth.token.rootcertbundle`. */
  readonly certFile: string;
  requests(): TokenRequestRecord[];
  reset(): void;
  /** Signs a token directly (for tests of expired or under-scoped tokens), bypassing the policy and the log. */
  mint(opts: { access: Access[]; subject?: string; ttlSeconds?: number; issuedAt?: Date }): string;
  close(): Promise<void>;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString("base64url");
}

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function base32(data: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of data) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/**
 * libtrust's key id: SHA-256 of the DER SubjectPublicKeyInfo, first 240 bits, base32, in 12 groups of
 * 4 joined by ":". distribution 2.8 indexes the keys of its rootcertbundle by this id.
 */
export function libtrustKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: "spki", format: "der" });
  const digest = createHash("sha256").update(der).digest().subarray(0, 30);
  return base32(digest).match(/.{4}/g)!.join(":");
}

/** Parses "type:name:a,b" (name may hold ":"; type may hold "(class)"). */
export function parseScope(scope: string): Access | undefined {
  const first = scope.indexOf(":");
  const last = scope.lastIndexOf(":");
  if (first <= 0 || last === first) return undefined;
  const actions = scope
    .slice(last + 1)
    .split(",")
    .map((a) => a.trim())
    .filter((a) => a !== "");
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions };
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const keyFile = join(opts.dir, "token-signer.key");
  const certFile = join(opts.dir, "token-signer.crt");
  await runOk("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", keyFile, "-out", certFile, "-days", "7", "-subj", "/CN=imagespec test token signer",
  ]);
  const privateKey = createPrivateKey(await readFile(keyFile));
  const certPem = await readFile(certFile, "utf8");
  const certDer = Buffer.from(certPem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, ""), "base64");
  const kid = libtrustKeyId(createPublicKey(privateKey));
  const ttl = opts.ttlSeconds ?? 300;
  const exact = opts.exactExpiry ?? true;
  const keyHeader = opts.keyHeader ?? "x5c";

  const mint = (m: { access: Access[]; subject?: string; ttlSeconds?: number; issuedAt?: Date }): string => {
    const iat = Math.floor((m.issuedAt ?? new Date()).getTime() / 1000);
    const life = m.ttlSeconds ?? ttl;
    const header = { typ: "JWT", alg: "ES256", ...(keyHeader === "x5c" ? { x5c: [certDer.toString("base64")] } : { kid }) };
    const claims = {
      iss: opts.issuer,
      sub: m.subject ?? "",
      aud: opts.service, // distribution 2.8 wants a string here, not an array
      exp: iat + life - (exact ? REGISTRY_TOKEN_LEEWAY_SECONDS : 0),
      nbf: iat - 5,
      iat,
      jti: randomUUID(),
      access: m.access,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = sign("sha256", Buffer.from(input), { key: privateKey, dsaEncoding: "ieee-p1363" });
    return `${input}.${b64url(sig)}`;
  };

  let log: TokenRequestRecord[] = [];

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify(body));
    };
    if (url.pathname !== "/token") return reply(404, { errors: [{ code: "NOT_FOUND", message: "no such endpoint" }] });
    // OAuth2 POST (used by docker with refresh tokens) is not offered; 404 tells clients to fall back to GET.
    if (req.method !== "GET") return reply(404, { errors: [{ code: "UNSUPPORTED", message: "use GET" }] });

    const scopes = url.searchParams.getAll("scope");
    const record: TokenRequestRecord = {
      time: new Date(),
      authenticated: false,
      scopes,
      service: url.searchParams.get("service") ?? undefined,
      granted: [],
      status: 0,
    };
    log.push(record);
    const finish = (status: number, body: unknown, headers?: Record<string, string>) => {
      record.status = status;
      reply(status, body, headers);
    };

    let account: string | undefined;
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      const m = /^Basic\s+(\S+)$/i.exec(auth);
      const decoded = m ? Buffer.from(m[1]!, "base64").toString("utf8") : "";
      const colon = decoded.indexOf(":");
      const user = colon < 0 ? decoded : decoded.slice(0, colon);
      const pass = colon < 0 ? "" : decoded.slice(colon + 1);
      record.account = user;
      if (!m || !safeEqual(user, opts.username) || !safeEqual(pass, opts.password)) {
        return finish(
          401,
          { errors: [{ code: "UNAUTHORIZED", message: "incorrect username or password" }] },
          { "www-authenticate": 'Basic realm="imagespec test token server"' },
        );
      }
      record.authenticated = true;
      account = user;
    } else {
      record.account = url.searchParams.get("account") ?? undefined;
    }
    if (record.service !== undefined && record.service !== opts.service) {
      return finish(400, { errors: [{ code: "INVALID_SERVICE", message: `unknown service ${record.service}` }] });
    }

    const requested = scopes.flatMap((s) => s.split(" ")).filter((s) => s !== "");
    const granted: Access[] = [];
    for (const s of requested) {
      const access = parseScope(s);
      if (!access) return finish(400, { errors: [{ code: "INVALID_SCOPE", message: `bad scope ${s}` }] });
      let actions: string[];
      if (opts.policy) actions = opts.policy({ account, requested: access });
      else if (account !== undefined) actions = access.actions;
      else actions = (opts.anonymous ?? "none") === "pull" ? access.actions.filter((a) => a === "pull") : [];
      if (actions.length > 0) {
        const existing = granted.find((g) => g.type === access.type && g.name === access.name);
        if (existing) existing.actions = [...new Set([...existing.actions, ...actions])];
        else granted.push({ ...access, actions });
      }
    }
    record.granted = granted;
    const issuedAt = new Date();
    const token = mint({ access: granted, subject: account ?? "", issuedAt });
    finish(200, { token, access_token: token, expires_in: ttl, issued_at: issuedAt.toISOString() });
  };

  const server = createServer(handle);
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  server.unref(); // a forgotten server must not keep the test process alive
  const { port } = server.address() as AddressInfo;

  return {
    realm: `http://127.0.0.1:${port}/token`,
    certFile,
    requests: () => [...log],
    reset: () => {
      log = [];
    },
    mint,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
