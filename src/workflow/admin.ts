// A FlyteAdmin client over gRPC: the AdminService methods as flyteidl's service.proto declares
// them, messages encoded with flyteidl's generated classes, TLS (system CAs plus an optional CA
// file) or plaintext, and per-call authorisation: an API key header, or an OAuth2 access token
// from the client-credentials grant (token endpoint given, or discovered through FlyteAdmin's
// AuthMetadataService, as flytekit does). Secrets never appear in messages.
import { readFile } from "node:fs/promises";
import * as grpc from "@grpc/grpc-js";
import { Agent, fetch } from "undici";
import { WorkflowError } from "./errors.js";
import { ADMIN_PROTO, ADMIN_SERVICE, AUTH_METADATA_SERVICE, AUTH_PROTO, flyteidl, messageClass, serviceMethods, type FlyteIdl, type ServiceMethod } from "./idl.js";

export type AdminAuth =
  | { readonly kind: "apiKey"; readonly key: string; /** Header name; default authorization, sent as "Bearer KEY". */ readonly header?: string }
  | {
      readonly kind: "clientCredentials";
      readonly clientId: string;
      readonly clientSecret: string;
      /** Token endpoint; default: discovered from the AuthMetadataService. */
      readonly tokenUrl?: string;
      readonly scopes?: readonly string[];
      readonly audience?: string;
      /** Header the token goes in (FlyteAdmin's default is authorization). */
      readonly header?: string;
    };

export interface AdminOptions {
  /** host[:port] (dns:/// prefix accepted); the port defaults to 443 (TLS) or 80 (insecure). */
  readonly endpoint: string;
  /** Plaintext gRPC (a local Flyte sandbox). */
  readonly insecure?: boolean;
  /** PEM CA certificates trusted besides the system ones. */
  readonly caFile?: string;
  readonly auth?: AdminAuth;
  /** Per-call deadline (default 30 s). */
  readonly timeoutMs?: number;
}

export type CreateOutcome = "created" | "exists";

/** The target a user wrote, as grpc-js dials it. */
export function adminTarget(endpoint: string, insecure: boolean): string {
  let host = endpoint.trim().replace(/^dns:\/\/\//, "");
  if (/^[a-z]+:\/\//i.test(host)) {
    throw new WorkflowError("INVALID_OPTION", `--endpoint ${JSON.stringify(endpoint)}: write the FlyteAdmin endpoint as HOST[:PORT], without a scheme`, "e.g. --endpoint flyte.example.com:443, or --endpoint localhost:30080 --insecure");
  }
  host = host.replace(/\/+$/, "");
  if (host === "" || /[/\s]/.test(host)) throw new WorkflowError("INVALID_OPTION", `--endpoint ${JSON.stringify(endpoint)} is not HOST[:PORT]`, "e.g. --endpoint flyte.example.com:443");
  const hasPort = /:\d+$/.test(host) && !/^\[[^\]]*\]$/.test(host);
  return hasPort ? host : `${host}:${insecure ? 80 : 443}`;
}

function statusName(code: number): string {
  return (grpc.status as unknown as Record<number, string>)[code] ?? String(code);
}

export class AdminClient {
  private token?: { value: string; expires: number };
  private fetching?: Promise<string>;
  private tokenUrl?: string;
  private readonly client: grpc.Client;
  private readonly target: string;

  private constructor(
    private readonly options: AdminOptions,
    private readonly methods: Map<string, ServiceMethod>,
    credentials: grpc.ChannelCredentials,
    private readonly ca: Buffer | undefined,
  ) {
    this.target = adminTarget(options.endpoint, options.insecure ?? false);
    this.client = new grpc.Client(this.target, credentials, { "grpc.max_receive_message_length": 64 * 1024 * 1024 });
  }

  static async connect(options: AdminOptions): Promise<AdminClient> {
    let ca: Buffer | undefined;
    if (options.caFile !== undefined) {
      ca = await readFile(options.caFile).catch((error: unknown) => {
        throw new WorkflowError("INVALID_OPTION", `--ca-file ${options.caFile}: cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)})`, "name a PEM file of CA certificates");
      });
    }
    const credentials = options.insecure ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(ca ?? null);
    const methods = new Map<string, ServiceMethod>();
    for (const m of await serviceMethods(ADMIN_PROTO, ADMIN_SERVICE)) methods.set(m.name, m);
    for (const m of await serviceMethods(AUTH_PROTO, AUTH_METADATA_SERVICE)) methods.set(`auth:${m.name}`, m);
    return new AdminClient(options, methods, credentials, ca);
  }

  get endpoint(): string {
    return this.target;
  }

  close(): void {
    this.client.close();
  }

  /** Gets the OAuth2 access token now (nothing for an API key or no auth), so bad credentials are found before any build. */
  async authenticate(): Promise<void> {
    if (this.options.auth?.kind === "clientCredentials") await this.accessToken(this.options.auth);
  }

  /** Connects (TLS handshake included) or fails with FLYTE_UNREACHABLE; run before building, so an unreachable control plane is known first. */
  ready(): Promise<void> {
    const deadline = Date.now() + (this.options.timeoutMs ?? 30_000);
    return new Promise((resolve, reject) => {
      this.client.waitForReady(deadline, (error) => {
        if (!error) return resolve();
        const hint = this.options.insecure ? "check --endpoint and that FlyteAdmin is running there" : "check --endpoint; for a plaintext endpoint (a local sandbox) add --insecure; for a private CA add --admin-ca-file";
        reject(new WorkflowError("FLYTE_UNREACHABLE", `cannot reach FlyteAdmin at ${this.target} (${error.message})`, hint, error));
      });
    });
  }

  private unary(method: string, request: object, metadata: grpc.Metadata): Promise<object> {
    const m = this.methods.get(method);
    if (!m) throw new Error(`AdminService has no method ${method}`);
    const requestClass = messageClass(m.requestType);
    const responseClass = messageClass(m.responseType);
    const deadline = new Date(Date.now() + (this.options.timeoutMs ?? 30_000));
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(
        m.path,
        (value: object) => Buffer.from(requestClass.encode(value).finish()),
        (bytes: Buffer) => responseClass.decode(bytes),
        request,
        metadata,
        { deadline },
        (error, response) => (error ? reject(error) : resolve(response as object)),
      );
    });
  }

  private async metadata(): Promise<grpc.Metadata> {
    const metadata = new grpc.Metadata();
    const auth = this.options.auth;
    if (!auth) return metadata;
    if (auth.kind === "apiKey") {
      const header = (auth.header ?? "authorization").toLowerCase();
      metadata.set(header, header === "authorization" ? `Bearer ${auth.key}` : auth.key);
      return metadata;
    }
    metadata.set((auth.header ?? "authorization").toLowerCase(), `Bearer ${await this.accessToken(auth)}`);
    return metadata;
  }

  /** One token for all calls: concurrent calls wait for the same request. */
  private async accessToken(auth: Extract<AdminAuth, { kind: "clientCredentials" }>): Promise<string> {
    if (this.token && this.token.expires > Date.now()) return this.token.value;
    this.fetching ??= this.fetchToken(auth).finally(() => {
      this.fetching = undefined;
    });
    return this.fetching;
  }

  private async fetchToken(auth: Extract<AdminAuth, { kind: "clientCredentials" }>): Promise<string> {
    const url = auth.tokenUrl ?? this.tokenUrl ?? (this.tokenUrl = await this.discoverTokenUrl());
    const body = new URLSearchParams({ grant_type: "client_credentials" });
    if (auth.scopes && auth.scopes.length > 0) body.set("scope", auth.scopes.join(" "));
    if (auth.audience !== undefined) body.set("audience", auth.audience);
    const basic = Buffer.from(`${encodeURIComponent(auth.clientId)}:${encodeURIComponent(auth.clientSecret)}`).toString("base64");
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: { authorization: `Basic ${basic}`, "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
        body: body.toString(),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
        ...(this.ca ? { dispatcher: new Agent({ connect: { ca: this.ca } }) } : {}),
      });
    } catch (error) {
      throw new WorkflowError("FLYTE_AUTH_FAILED", `cannot reach the OAuth2 token endpoint ${url}: ${(error as Error).message}`, "check --token-url (or the endpoint FlyteAdmin advertises)", error);
    }
    const text = await response.text();
    if (!response.ok) {
      const reason = /"error"\s*:\s*"([^"]+)"/.exec(text)?.[1] ?? `HTTP ${response.status}`;
      throw new WorkflowError("FLYTE_AUTH_FAILED", `the OAuth2 token endpoint ${url} refused the client credentials of client "${auth.clientId}" (${reason})`, "check the client id and secret, and the scopes the client may ask for");
    }
    let parsed: { access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      parsed = {};
    }
    if (typeof parsed.access_token !== "string" || parsed.access_token === "") {
      throw new WorkflowError("FLYTE_AUTH_FAILED", `the OAuth2 token endpoint ${url} answered without an access_token`, "check --token-url points at the token endpoint of the authorization server");
    }
    const lifetime = typeof parsed.expires_in === "number" ? parsed.expires_in : 300;
    this.token = { value: parsed.access_token, expires: Date.now() + Math.max(0, lifetime - 30) * 1000 };
    return this.token.value;
  }

  /** The token endpoint FlyteAdmin advertises (AuthMetadataService.GetOAuth2Metadata). */
  private async discoverTokenUrl(): Promise<string> {
    let response: FlyteIdl.service.OAuth2MetadataResponse;
    try {
      response = (await this.unary("auth:GetOAuth2Metadata", {}, new grpc.Metadata())) as FlyteIdl.service.OAuth2MetadataResponse;
    } catch (error) {
      throw this.callError(error, "GetOAuth2Metadata");
    }
    if (!response.tokenEndpoint) throw new WorkflowError("FLYTE_AUTH_FAILED", `FlyteAdmin at ${this.target} advertises no OAuth2 token endpoint`, "pass the token endpoint with --token-url");
    return response.tokenEndpoint;
  }

  /** A gRPC failure as a WorkflowError with a hint. */
  callError(error: unknown, what: string): Error {
    if (error instanceof WorkflowError) return error;
    const e = error as grpc.ServiceError;
    if (typeof e?.code !== "number") return error as Error;
    const details = e.details || e.message;
    switch (e.code) {
      case grpc.status.UNAVAILABLE:
        return new WorkflowError("FLYTE_UNREACHABLE", `cannot reach FlyteAdmin at ${this.target} (${details})`, this.options.insecure ? "check --endpoint and that FlyteAdmin is running there" : "check --endpoint; for a plaintext endpoint (a local sandbox) add --insecure", error);
      case grpc.status.DEADLINE_EXCEEDED:
        return new WorkflowError("FLYTE_UNREACHABLE", `FlyteAdmin at ${this.target} did not answer ${what} in time`, "check --endpoint and the network; raise --timeout for a slow control plane", error);
      case grpc.status.UNAUTHENTICATED:
        return new WorkflowError("FLYTE_UNAUTHENTICATED", `FlyteAdmin at ${this.target} refused ${what}: not authenticated (${details})`, "pass credentials: --client-id with --client-secret-env, or --api-key-env", error);
      case grpc.status.PERMISSION_DENIED:
        return new WorkflowError("FLYTE_PERMISSION_DENIED", `FlyteAdmin at ${this.target} refused ${what}: permission denied (${details})`, "the identity used may not register in this project and domain", error);
      default:
        return new WorkflowError("FLYTE_ADMIN_ERROR", `FlyteAdmin at ${this.target} failed ${what}: ${statusName(e.code)}: ${details}`, "see the message from FlyteAdmin above", error);
    }
  }

  private async create(method: string, kind: string, request: { id?: FlyteIdl.core.IIdentifier | null }): Promise<CreateOutcome> {
    const id = request.id!;
    const what = `${method} ${id.name}@${id.version}`;
    try {
      await this.unary(method, request, await this.metadata());
      return "created";
    } catch (error) {
      const e = error as grpc.ServiceError;
      // FlyteAdmin: identical content -> ALREADY_EXISTS; other content under the same id -> INVALID_ARGUMENT "... different structure ...".
      if (e?.code === grpc.status.ALREADY_EXISTS) return "exists";
      if (e?.code === grpc.status.INVALID_ARGUMENT && /different structure/i.test(e.details ?? "")) {
        throw new WorkflowError("FLYTE_CONFLICT", `${kind} "${id.name}" version ${id.version} is already registered in ${id.project}/${id.domain} with different content`, "a registered version never changes: leave out --version (the default is a hash of the content) or pass a new one", error);
      }
      throw this.callError(error, what);
    }
  }

  createTask(request: FlyteIdl.admin.ITaskCreateRequest): Promise<CreateOutcome> {
    return this.create("CreateTask", "task", request);
  }
  createWorkflow(request: FlyteIdl.admin.IWorkflowCreateRequest): Promise<CreateOutcome> {
    return this.create("CreateWorkflow", "workflow", request);
  }
  createLaunchPlan(request: FlyteIdl.admin.ILaunchPlanCreateRequest): Promise<CreateOutcome> {
    return this.create("CreateLaunchPlan", "launch plan", request);
  }

  /** Makes a launch plan version the active one of its name (its schedule runs; FlyteAdmin deactivates the others). */
  async activateLaunchPlan(id: FlyteIdl.core.IIdentifier): Promise<void> {
    try {
      await this.unary("UpdateLaunchPlan", { id, state: flyteidl.admin.LaunchPlanState.ACTIVE }, await this.metadata());
    } catch (error) {
      throw this.callError(error, `UpdateLaunchPlan ${id.name}@${id.version}`);
    }
  }
}
