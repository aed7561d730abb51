// Canonical JSON: object keys sorted by UTF-16 code units at every level, no white space, strings and
// numbers as JSON.stringify writes them, keys with undefined values left out. For the values a spec produces (strings, integers, booleans,
// lists, maps) this is RFC 8785 (JCS), so the hashed bytes can be reproduced in any language.

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export function canonicalJson(value: JsonValue): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    // Like JSON.stringify, a key whose value is undefined is left out.
    const keys = Object.keys(value)
      .filter((key) => value[key] !== undefined)
      .sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key]!)}`).join(",")}}`;
  }
  if (typeof value === "number" && !Number.isSafeInteger(value)) throw new TypeError(`canonical JSON holds integers only, not ${value}`);
  return JSON.stringify(value);
}
