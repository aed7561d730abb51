// A FlyteAdmin stand-in for tests: a real gRPC server (grpc-js) whose service definition is built
// from flyteidl's own service/admin.proto (every AdminService method, by its real path), with
// requests and responses encoded by flyteidl's generated classes. It keeps what CreateTask,
// CreateWorkflow and CreateLaunchPlan receive and answers as FlyteAdmin does: identical content
// under an existing id is ALREADY_EXISTS, other content is INVALID_ARGUMENT "... different
// structure ...". AuthMetadataService advertises a token endpoint served over HTTP, and calls can
// be required to carry a header. Listens on 127.0.0.1 only; TLS with a self-signed CA on request.
import { createServer, type Server as HttpServer } from "node:http";
import { readFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { ADMIN_PROTO, ADMIN_SERVICE, AUTH_METADATA_SERVICE, AUTH_PROTO, flyteidl, messageClass, serviceMethods, type ServiceMethod } from "../../src/workflow/idl.js";
import { makeTls } from "./registry.js";
import { removeDir, tempDir } from "./tools.js";

export type EntityKind = "task" | "workflow" | "launchplan";

export interface Received {
  readonly kind: EntityKind;
  readonly key: string;
  /** The request's spec bytes as received (TaskSpec, WorkflowSpec, LaunchPlanSpec). */
  readonly bytes: Buffer;
  readonly outcome: "created" | "exists" | "conflict" | "unauthenticated";
}

export interface FakeAdminOptions {
  readonly tls?: boolean;
  /** Every AdminService call must carry this header with this value (else UNAUTHENTICATED). */
  readonly requireHeader?: { readonly name: string; readonly value: string };
  /** Serve an OAuth2 token endpoint that accepts these client credentials and issues `token`. */
  readonly oauth?: { readonly clientId: string; readonly clientSecret: string; readonly token: string };
}

export interface FakeAdmin {
  /** 127.0.0.1:PORT */
  readonly endpoint: string;
  readonly caFile?: string;
  readonly tokenUrl?: string;
  /** Every create call, in order of arrival. */
  readonly received: Received[];
  /** Registered entities by "kind project/domain/name@version". */
  readonly stored: Map<string, Buffer>;
  /** Launch plans made ACTIVE through UpdateLaunchPlan, as "project/domain/name@version". */
  readonly activated: string[];
  /** Token requests the OAuth2 endpoint answered (grant type and client id). */
  readonly tokenRequests: { grantType: string | null; clientId: string; ok: boolean; scope: string | null }[];
  decodedTasks(): InstanceType<typeof flyteidl.admin.TaskSpec>[];
  stop(): Promise<void>;
}

function keyOf(kind: EntityKind, id: { project?: string | null; domain?: string | null; name?: string | null; version?: string | null } | null | undefined): string {
  return `${kind} ${id?.project}/${id?.domain}/${id?.name}@${id?.version}`;
}

export async function startFakeAdmin(options: FakeAdminOptions = {}): Promise<FakeAdmin> {
  const received: Received[] = [];
  const stored = new Map<string, Buffer>();
  const tokenRequests: FakeAdmin["tokenRequests"] = [];
  let tokenUrl: string | undefined;
  let http: HttpServer | undefined;

  if (options.oauth) {
    const oauth = options.oauth;
    http = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const form = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
        const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? "")?.[1];
        const [id, secret] = basic ? Buffer.from(basic, "base64").toString("utf8").split(":").map(decodeURIComponent) : [];
        const ok = req.method === "POST" && req.url === "/oauth2/token" && form.get("grant_type") === "client_credentials" && id === oauth.clientId && secret === oauth.clientSecret;
        tokenRequests.push({ grantType: form.get("grant_type"), clientId: id ?? "", ok, scope: form.get("scope") });
        res.setHeader("content-type", "application/json");
        if (!ok) {
          res.statusCode = 401;
          res.end(JSON.stringify({ error: "invalid_client" }));
          return;
        }
        res.end(JSON.stringify({ access_token: oauth.token, token_type: "Bearer", expires_in: 3600 }));
      });
    });
    await new Promise<void>((resolve) => http!.listen(0, "127.0.0.1", resolve));
    tokenUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}/oauth2/token`;
  }
  const requiredHeader = options.requireHeader ?? (options.oauth ? { name: "authorization", value: `Bearer ${options.oauth.token}` } : undefined);

  const definition = (methods: ServiceMethod[]): grpc.ServiceDefinition => {
    const out: Record<string, grpc.MethodDefinition<object, object>> = {};
    for (const m of methods) {
      const request = messageClass(m.requestType);
      const response = messageClass(m.responseType);
      out[m.name] = {
        path: m.path,
        requestStream: false,
        responseStream: false,
        requestSerialize: (value: object) => Buffer.from(request.encode(value).finish()),
        requestDeserialize: (bytes: Buffer) => request.decode(bytes),
        responseSerialize: (value: object) => Buffer.from(response.encode(value).finish()),
        responseDeserialize: (bytes: Buffer) => response.decode(bytes),
      };
    }
    return out as grpc.ServiceDefinition;
  };
  const adminMethods = await serviceMethods(ADMIN_PROTO, ADMIN_SERVICE);
  const authMethods = await serviceMethods(AUTH_PROTO, AUTH_METADATA_SERVICE);

  const create = (kind: EntityKind, specBytes: (request: Record<string, unknown>) => Uint8Array): grpc.handleUnaryCall<Record<string, unknown>, object> => (call, callback) => {
    const key = keyOf(kind, call.request.id as never);
    const bytes = Buffer.from(specBytes(call.request));
    if (requiredHeader && call.metadata.get(requiredHeader.name)[0] !== requiredHeader.value) {
      received.push({ kind, key, bytes, outcome: "unauthenticated" });
      callback({ code: grpc.status.UNAUTHENTICATED, details: "token is missing or invalid" });
      return;
    }
    const existing = stored.get(key);
    if (existing) {
      const same = existing.equals(bytes);
      received.push({ kind, key, bytes, outcome: same ? "exists" : "conflict" });
      if (same) callback({ code: grpc.status.ALREADY_EXISTS, details: `${kind} already exists with identical structure` });
      else callback({ code: grpc.status.INVALID_ARGUMENT, details: `${kind} with different structure already exists. (Please register a new version of the ${kind})` });
      return;
    }
    stored.set(key, bytes);
    received.push({ kind, key, bytes, outcome: "created" });
    callback(null, {});
  };

  const handlers: grpc.UntypedServiceImplementation = {};
  for (const m of adminMethods) {
    handlers[m.name] = (_call: unknown, callback: grpc.sendUnaryData<object>) => callback({ code: grpc.status.UNIMPLEMENTED, details: `${m.name} is not implemented by the test server` });
  }
  handlers.CreateTask = create("task", (r) => flyteidl.admin.TaskSpec.encode(r.spec as object).finish());
  handlers.CreateWorkflow = create("workflow", (r) => flyteidl.admin.WorkflowSpec.encode(r.spec as object).finish());
  const activated: string[] = [];
  handlers.UpdateLaunchPlan = (call: grpc.ServerUnaryCall<Record<string, unknown>, object>, callback: grpc.sendUnaryData<object>) => {
    const key = keyOf("launchplan", call.request.id as never);
    if (requiredHeader && call.metadata.get(requiredHeader.name)[0] !== requiredHeader.value) return callback({ code: grpc.status.UNAUTHENTICATED, details: "token is missing or invalid" });
    if (!stored.has(key)) return callback({ code: grpc.status.NOT_FOUND, details: `missing entity of type LAUNCH_PLAN with identifier ${key}` });
    if (call.request.state !== flyteidl.admin.LaunchPlanState.ACTIVE) return callback({ code: grpc.status.INVALID_ARGUMENT, details: "the test server only activates" });
    activated.push(key.replace(/^launchplan /, ""));
    callback(null, {});
  };
  handlers.CreateLaunchPlan = create("launchplan", (r) => flyteidl.admin.LaunchPlanSpec.encode(r.spec as object).finish());
  const authHandlers: grpc.UntypedServiceImplementation = {};
  for (const m of authMethods) authHandlers[m.name] = (_call: unknown, callback: grpc.sendUnaryData<object>) => callback({ code: grpc.status.UNIMPLEMENTED, details: "not implemented" });
  authHandlers.GetOAuth2Metadata = (_call: unknown, callback: grpc.sendUnaryData<object>) =>
    tokenUrl ? callback(null, { issuer: tokenUrl.replace(/\/oauth2\/token$/, ""), tokenEndpoint: tokenUrl, grantTypesSupported: ["client_credentials"] }) : callback({ code: grpc.status.UNIMPLEMENTED, details: "no auth" });

  const server = new grpc.Server();
  server.addService(definition(adminMethods), handlers);
  server.addService(definition(authMethods), authHandlers);

  let tlsDir: string | undefined;
  let caFile: string | undefined;
  let credentials = grpc.ServerCredentials.createInsecure();
  if (options.tls) {
    tlsDir = await tempDir("imagespec-admin-tls-");
    const tls = await makeTls(tlsDir);
    caFile = tls.caFile;
    credentials = grpc.ServerCredentials.createSsl(null, [{ private_key: await readFile(tls.keyFile), cert_chain: await readFile(tls.certFile) }]);
  }
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", credentials, (error, p) => (error ? reject(error) : resolve(p))));

  return {
    endpoint: `127.0.0.1:${port}`,
    ...(caFile ? { caFile } : {}),
    ...(tokenUrl ? { tokenUrl } : {}),
    received,
    stored,
    activated,
    tokenRequests,
    decodedTasks: () => [...stored.entries()].filter(([k]) => k.startsWith("task ")).map(([, b]) => flyteidl.admin.TaskSpec.decode(b)),
    async stop() {
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      if (http) await new Promise<void>((resolve) => http!.close(() => resolve()));
      if (tlsDir) await removeDir(tlsDir);
    },
  };
}
