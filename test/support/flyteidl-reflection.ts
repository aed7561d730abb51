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

const WIRE: Record<string, number> = { double: 1, fixed64: 1, sfixed64: 1, float: 5, fixed32: 5, sfixed32: 5, string: 2, bytes: 2 };

/** The wire type a field's values have (varint for ints, bools and enums; length-delimited for messages). */
function wireTypeOf(field: protobuf.Field): number {
  if (field.resolvedType instanceof protobuf.Type) return 2;
  return WIRE[field.type] ?? 0;
}

/**
 * Walks the encoded message tag by tag: every field must be declared by the .protos, with the wire
 * type they declare (a packed repeated scalar is length-delimited), and every nested message is
 * walked the same way. protobufjs's decoders skip unknown fields silently; this does not.
 */
function checkWire(type: protobuf.Type, bytes: Uint8Array, path: string): void {
  const reader = protobuf.Reader.create(bytes);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const id = tag >>> 3;
    const wire = tag & 7;
    const field = type.fieldsById[id];
    assert.ok(field, `${path}: field ${id} (wire type ${wire}) is not declared by ${type.fullName} in the .proto sources`);
    const where = `${path}.${field.name}`;
    if (field instanceof protobuf.MapField) {
      assert.equal(wire, 2, `${where}: a map entry must be length-delimited`);
      const entry = new protobuf.Type(`${type.name}Entry`).add(new protobuf.Field("key", 1, field.keyType)).add(new protobuf.Field("value", 2, field.type));
      entry.fieldsById[2]!.resolvedType = field.resolvedType;
      checkWire(entry, reader.bytes(), where);
      continue;
    }
    const expected = wireTypeOf(field);
    const packed = field.repeated && wire === 2 && expected !== 2;
    assert.ok(wire === expected || packed, `${where}: wire type ${wire}, the .proto declares ${field.type} (wire type ${expected})`);
    if (field.resolvedType instanceof protobuf.Type) checkWire(field.resolvedType, reader.bytes(), where);
    else reader.skipType(wire);
  }
}

/**
 * A decoded message as plain data, read field by field through the .proto type: the fields present
 * (protobufjs keeps defaults on the prototype) without proto3 default values outside oneofs (one
 * decoder keeps an explicit "" or 0 the other drops; neither means anything else), 64-bit numbers as strings.
 */
function present(type: protobuf.Type, message: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const scalar = (value: unknown): unknown => {
    if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
    if (typeof value === "object" && value !== null && typeof (value as { low?: unknown }).low === "number") return String(value);
    return value;
  };
  const isDefault = (value: unknown) => value === "" || value === 0 || value === false || value === "0" || (value instanceof Uint8Array && value.length === 0) || (Array.isArray(value) && value.length === 0);
  for (const field of type.fieldsArray) {
    if (!Object.prototype.hasOwnProperty.call(message, field.name)) continue;
    const value = message[field.name];
    if (value === null || value === undefined) continue;
    const one = (v: unknown) => (field.resolvedType instanceof protobuf.Type ? present(field.resolvedType, v as Record<string, unknown>) : scalar(v));
    let read: unknown;
    if (field.map) read = Object.fromEntries(Object.keys(value as object).sort().map((k) => [k, one((value as Record<string, unknown>)[k])]));
    else if (field.repeated) read = (value as unknown[]).map(one);
    else read = one(value);
    if (!field.partOf && !(field.resolvedType instanceof protobuf.Type) && isDefault(read)) continue;
    if ((field.map && Object.keys(read as object).length === 0) || (field.repeated && (read as unknown[]).length === 0)) continue;
    out[field.name] = read;
  }
  return out;
}

/**
 * Reads `bytes` as `typeName` through the .proto sources and through the generated class the
 * product encodes with, and asserts: every field on the wire is one the .protos declare, with its
 * wire type; both read the same fields with the same values. Returns the message as a plain
 * object read through the .protos (enums by name, unset fields left out).
 */
export async function decodeBoth(typeName: string, bytes: Uint8Array, what = typeName): Promise<Record<string, unknown>> {
  const type = (await reflectionRoot()).lookupType(typeName);
  checkWire(type, bytes, what);
  const fromProtos = type.decode(bytes);
  const fromGenerated = messageClass(typeName).decode(bytes);
  assert.deepEqual(present(type, fromGenerated as Record<string, unknown>), present(type, fromProtos as unknown as Record<string, unknown>), `${what}: the generated classes and the .proto sources read different messages`);
  const plain = type.toObject(fromProtos, TO_OBJECT);
  assert.equal(type.verify(type.fromObject(plain)), null, `${what}: not a valid ${typeName}`);
  return plain;
}

/** A package entry (`<index>_<name>_<type>.pb`) read as the message its type digit names, through both decoders. */
export function decodePackageEntry(name: string, bytes: Uint8Array): Promise<Record<string, unknown>> {
  const typeName = PACKAGE_TYPES[/_(\d)\.pb$/.exec(name)?.[1] ?? ""];
  assert.ok(typeName, `${name}: not named <index>_<name>_<1|2|3>.pb`);
  return decodeBoth(typeName, bytes, name);
}
