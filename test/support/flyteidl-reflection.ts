// A second reading of Flyte's messages, independent of the generated JavaScript the product uses:
// the .proto files shipped with @flyteorg/flyteidl, loaded with protobufjs's reflection. Tests
// decode what imagespec wrote with both and compare, and re-encode with the reflection types, so a
// mistake in one path (a field the generated code writes but the proto does not declare, a wrong
// wire type, an enum out of range) is caught by the other.
import assert from "node:assert/strict";
import { join } from "node:path";
import protobuf from "protobufjs";
import { messageClass, protoDir } from "../../src/workflow/idl.js";

/** The entity files flytectl reads, by the type digit of their name: 1 TaskSpec, 2 WorkflowSpec, 3 LaunchPlan. */
export const PACKAGE_TYPES: Record<string, string> = { "1": "flyteidl.admin.TaskSpec", "2": "flyteidl.admin.WorkflowSpec", "3": "flyteidl.admin.LaunchPlan" };

const PROTOS = ["flyteidl/admin/task.proto", "flyteidl/admin/workflow.proto", "flyteidl/admin/launch_plan.proto"];
const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, bytes: String, defaults: false, arrays: false, objects: false, oneofs: false };

let loaded: Promise<protobuf.Root> | undefined;

/** The admin entity protos and everything they import, from the package's .proto sources. */
export function reflectionRoot(): Promise<protobuf.Root> {
  loaded ??= (async () => {
    const dir = protoDir();
    const root = new protobuf.Root();
    // google/protobuf/* (timestamp, duration, struct, wrappers, any) come with protobufjs.
    root.resolvePath = (_origin, target) => (target.startsWith("google/protobuf/") ? target : join(dir, target));
    await root.load(PROTOS, { keepCase: false });
    root.resolveAll();
    return root;
  })();
  return loaded;
}

/**
 * Decodes `bytes` as `typeName` with the .proto reflection types and with the generated class, and
 * asserts both read the same message: each decoded message, encoded by the other side's code, gives
 * back exactly these bytes (so no field is unknown to the .protos, read differently, or lost).
 * Returns the message as a plain object read through the .protos (enums by name).
 */
export async function decodeBoth(typeName: string, bytes: Uint8Array, what = typeName): Promise<Record<string, unknown>> {
  const type = (await reflectionRoot()).lookupType(typeName);
  const generated = messageClass(typeName);
  const original = Buffer.from(bytes);
  const fromProtos = type.decode(bytes);
  const fromGenerated = generated.decode(bytes);
  assert.deepEqual(Buffer.from(type.encode(fromProtos).finish()), original, `${what}: re-encoding with the .proto types changes the bytes (a field the protos do not declare?)`);
  assert.deepEqual(Buffer.from(type.encode(fromGenerated as protobuf.Message).finish()), original, `${what}: the generated classes read a message the .proto types write differently`);
  assert.deepEqual(Buffer.from(generated.encode(fromProtos).finish()), original, `${what}: the .proto types read a message the generated classes write differently`);
  const plain = type.toObject(fromProtos, TO_OBJECT);
  assert.equal(type.verify(type.fromObject(plain)), null, `${what}: not a valid ${typeName}`);
  return plain;
}
