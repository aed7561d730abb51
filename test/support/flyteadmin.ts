// A FlyteAdmin stand-in for tests: a real gRPC server (grpc-js) whose service definition is built
// from flyteidl's own service/admin.proto (every AdminService method, by its real path), with
// requests and responses encoded by flyteidl's generated classes. It keeps what CreateTask,
// CreateWorkflow and CreateLaunchPlan receive and answers as FlyteAdmin does: identical content
// under an existing id is ALREADY_EXISTS, other content is INVALID_ARGUMENT "... different
// structure ...". Before storing, it applies FlyteAdmin's validation: task resources
// (task_validator.go: GPUs whole and request == limit, request <= limit, nothing above the platform
// limits, by default FlyteAdmin's memory 1Gi, CPU 2, GPU 1), and, as its workflow compiler does,
// refuses reserved node ids and references to tasks, launch plans or workflows it does not have
// (a launch plan's workflow, a node's task or launch plan, a sub-workflow missing from
// sub_workflows). AuthMetadataService advertises a token endpoint served over HTTP, and calls can
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
  readonly outcome: "created" | "exists" | "conflict" | "unauthenticated" | "invalid";
}

export interface FakeAdminOptions {
  readonly tls?: boolean;
  /** Every AdminService call must carry this header with this value (else UNAUTHENTICATED). */
  readonly requireHeader?: { readonly name: string; readonly value: string };
  /** Serve an OAuth2 token endpoint that accepts these client credentials and issues `token`. */
  readonly oauth?: { readonly clientId: string; readonly clientSecret: string; readonly token: string };
  /** The platform's task resource limits (FlyteAdmin's defaults unless given). */
  readonly platformLimits?: Partial<Record<"cpu" | "memory" | "gpu" | "ephemeralStorage", string>>;
}

/** FlyteAdmin's default task resource limits (flyteadmin/pkg/runtime/task_resource_provider.go). */
export const FLYTEADMIN_DEFAULT_LIMITS = { cpu: "2", memory: "1Gi", gpu: "1" } as const;

const SUFFIX: Record<string, number> = { m: 1e-3, "": 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };

/** A Kubernetes quantity in millis, rounded up as resource.Quantity.MilliValue() does; undefined when it does not parse. */
function milliValue(text: string): number | undefined {
  const match = /^([0-9]*\.?[0-9]+)(?:[eE]([+-]?[0-9]+)|(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei))?$/.exec(text);
  if (!match) return undefined;
  const value = Number(match[1]) * (match[2] !== undefined ? 10 ** Number(match[2]) : SUFFIX[match[3] ?? ""]!);
  return Math.ceil(Math.round(value * 1e6) / 1e3);
}

type Entry = { name?: number | null; value?: string | null };

/** FlyteAdmin's validateTaskResources, for a TaskTemplate's container: the error text, or undefined when valid. */
function resourceProblem(taskName: string, requests: Entry[], limits: Entry[], platform: Partial<Record<string, string>>): string | undefined {
  const R = flyteidl.core.Resources.ResourceName;
  const names: Record<number, string> = { [R.CPU]: "cpu", [R.MEMORY]: "memory", [R.GPU]: "gpu", [R.EPHEMERAL_STORAGE]: "ephemeralStorage" };
  const toMap = (entries: Entry[]): Map<string, number> | string => {
    const out = new Map<string, number>();
    for (const e of entries) {
      const name = names[e.name ?? -1];
      if (!name) continue;
      if (out.has(name)) return `can't specify ${name} limit for task [${taskName}] multiple times`;
      const milli = milliValue(e.value ?? "");
      if (milli === undefined) return `Parsing of ${name} request failed for value ${e.value}`;
      if (name === "gpu" && milli % 1000 !== 0) return `gpu for [${taskName}] must be a whole number, got: ${e.value} instead`;
      out.set(name, milli);
    }
    return out;
  };
  const req = toMap(requests);
  if (typeof req === "string") return req;
  const lim = toMap(limits);
  if (typeof lim === "string") return lim;
  const value = (milli: number) => Math.ceil(milli / 1000);
  for (const [name, request] of req) {
    const limit = lim.get(name);
    const platformLimit = platform[name] !== undefined ? milliValue(platform[name]!) : undefined;
    if (name === "gpu") {
      if (limit !== undefined && value(request) !== value(limit)) return `For extended resource 'gpu' the default value must equal the limit value for task [${taskName}]`;
    } else {
      if (limit !== undefined && value(limit) < value(request)) return `Requested ${name} default is greater than the limit. Please fix your configuration`;
      if (limit !== undefined && platformLimit !== undefined && value(limit) > value(platformLimit)) return `Requested ${name} limit is greater than current limit set in the platform configuration [${platform[name]}]`;
    }
    if (platformLimit !== undefined && value(request) > value(platformLimit)) return `Requested ${name} default is greater than current limit set in the platform configuration [${platform[name]}]`;
  }
  return undefined;
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

  const platform: Partial<Record<string, string>> = options.platformLimits ?? FLYTEADMIN_DEFAULT_LIMITS;
  const has = (kind: EntityKind, id: unknown) => stored.has(keyOf(kind, id as never));
  type Node = { id?: string | null; taskNode?: { referenceId?: object | null } | null; workflowNode?: { launchplanRef?: object | null; subWorkflowRef?: { name?: string | null } | null } | null; arrayNode?: { node?: Node | null } | null };
  /** What FlyteAdmin (and the workflow compiler it runs) refuses in a request, or undefined. */
  const invalid = (kind: EntityKind, request: Record<string, unknown>): string | undefined => {
    if (kind === "task") {
      const template = (request.spec as { template?: { container?: { resources?: { requests?: Entry[]; limits?: Entry[] } } } } | undefined)?.template;
      const resources = template?.container?.resources;
      return resources ? resourceProblem(String((request.id as { name?: string }).name), resources.requests ?? [], resources.limits ?? [], platform) : undefined;
    }
    if (kind === "launchplan") {
      const workflowId = (request.spec as { workflowId?: object } | undefined)?.workflowId;
      return has("workflow", workflowId) ? undefined : `missing entity of type WORKFLOW with identifier ${keyOf("workflow", workflowId as never).replace(/^workflow /, "")}`;
    }
    const spec = request.spec as { template?: { nodes?: Node[] }; subWorkflows?: { id?: { name?: string | null } | null; nodes?: Node[] }[] };
    const subWorkflows = new Set((spec.subWorkflows ?? []).map((w) => w.id?.name));
    const check = (nodes: Node[]): string | undefined => {
      for (const node of nodes) {
        if (node.id === "start-node" || node.id === "end-node") return `node id ${node.id} is reserved by the compiler`;
        const inner = node.arrayNode?.node;
        const target = inner ?? node;
        if (target.taskNode && !has("task", target.taskNode.referenceId)) return `missing entity of type TASK with identifier ${keyOf("task", target.taskNode.referenceId as never).replace(/^task /, "")}`;
        if (target.workflowNode?.launchplanRef && !has("launchplan", target.workflowNode.launchplanRef)) return `missing entity of type LAUNCH_PLAN with identifier ${keyOf("launchplan", target.workflowNode.launchplanRef as never).replace(/^launchplan /, "")}`;
        if (target.workflowNode?.subWorkflowRef && !subWorkflows.has(target.workflowNode.subWorkflowRef.name)) return `sub-workflow ${target.workflowNode.subWorkflowRef.name} is referenced but not in sub_workflows`;
      }
      return undefined;
    };
    return [spec.template?.nodes ?? [], ...(spec.subWorkflows ?? []).map((w) => w.nodes ?? [])].map(check).find((p) => p !== undefined);
  };

  const create = (kind: EntityKind, specBytes: (request: Record<string, unknown>) => Uint8Array): grpc.handleUnaryCall<Record<string, unknown>, object> => (call, callback) => {
    const key = keyOf(kind, call.request.id as never);
    const bytes = Buffer.from(specBytes(call.request));
    if (requiredHeader && call.metadata.get(requiredHeader.name)[0] !== requiredHeader.value) {
      received.push({ kind, key, bytes, outcome: "unauthenticated" });
      callback({ code: grpc.status.UNAUTHENTICATED, details: "token is missing or invalid" });
      return;
    }
    const problem = invalid(kind, call.request);
    if (problem !== undefined) {
      received.push({ kind, key, bytes, outcome: "invalid" });
      callback({ code: grpc.status.INVALID_ARGUMENT, details: problem });
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
