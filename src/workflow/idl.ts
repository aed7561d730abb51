// Flyte's IDL from the official @flyteorg/flyteidl package: the generated protobufjs classes
// (messages, typed by the package's own flyteidl.d.ts) and the AdminService definition read from
// the package's .proto files, so the gRPC method paths and message types are Flyte's, not ours.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import protobuf from "protobufjs";
import type { flyteidl as FlyteIdl } from "@flyteorg/flyteidl/gen/pb-js/flyteidl.js";

const require = createRequire(import.meta.url);

/** The generated message classes (flyteidl.core, flyteidl.admin, flyteidl.service). */
export const flyteidl: typeof FlyteIdl = (require("@flyteorg/flyteidl/gen/pb-js/flyteidl.js") as { flyteidl: typeof FlyteIdl }).flyteidl;
export type { FlyteIdl };

/** The folder of the package's .proto files. */
export function protoDir(): string {
  return join(dirname(require.resolve("@flyteorg/flyteidl/package.json")), "protos");
}

/** One unary method of a service as the .proto file declares it. */
export interface ServiceMethod {
  /** e.g. CreateTask */
  readonly name: string;
  /** e.g. /flyteidl.service.AdminService/CreateTask */
  readonly path: string;
  /** Full names, e.g. flyteidl.admin.TaskCreateRequest */
  readonly requestType: string;
  readonly responseType: string;
}

const services = new Map<string, Promise<ServiceMethod[]>>();

/**
 * The methods of a service in flyteidl/service/*.proto. The HTTP and OpenAPI annotations the files
 * import (google/api, protoc-gen-openapiv2) are not shipped with the package and carry nothing gRPC
 * needs, so they are skipped; the well-known google/protobuf types come with protobufjs.
 */
export function serviceMethods(file: string, service: string): Promise<ServiceMethod[]> {
  const key = `${file}#${service}`;
  let loaded = services.get(key);
  if (!loaded) {
    loaded = (async () => {
      const dir = protoDir();
      const root = new protobuf.Root();
      root.resolvePath = (_origin, target) => {
        if (target.startsWith("google/api/") || target.startsWith("protoc-gen-openapiv2/")) return null;
        if (target.startsWith("google/protobuf/")) return target;
        return join(dir, target);
      };
      await root.load(file, { keepCase: true });
      const definition = root.lookupService(service);
      definition.resolveAll();
      return Object.values(definition.methods).map((method) => ({
        name: method.name,
        path: `/${service}/${method.name}`,
        requestType: method.resolvedRequestType!.fullName.replace(/^\./, ""),
        responseType: method.resolvedResponseType!.fullName.replace(/^\./, ""),
      }));
    })();
    services.set(key, loaded);
  }
  return loaded;
}

export const ADMIN_SERVICE = "flyteidl.service.AdminService";
export const ADMIN_PROTO = "flyteidl/service/admin.proto";
export const AUTH_METADATA_SERVICE = "flyteidl.service.AuthMetadataService";
export const AUTH_PROTO = "flyteidl/service/auth.proto";

/** A generated message class, by its full name (flyteidl.admin.TaskCreateRequest). */
export interface MessageClass {
  encode(message: object): { finish(): Uint8Array };
  decode(data: Uint8Array): object;
}

export function messageClass(fullName: string): MessageClass {
  let node: unknown = { flyteidl };
  for (const part of fullName.split(".")) node = (node as Record<string, unknown> | undefined)?.[part];
  if (typeof node !== "function") throw new Error(`flyteidl has no message ${fullName}`);
  return node as unknown as MessageClass;
}
