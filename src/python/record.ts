// The RECORD file of an installed distribution (PEP 376 / the recording-installed-packages spec):
// CSV rows of `path,hash,size`, the hash written `sha256=<urlsafe base64, no padding>`. Read from
// the wheel to learn the hashes it claims, written again for what was installed.

export interface RecordRow {
  readonly path: string;
  /** `sha256=...` as written; empty for RECORD itself and for files without a hash. */
  readonly hash: string;
  /** Byte count as written (empty when unknown). */
  readonly size: string;
}

/** A RECORD hash field split into algorithm and hex digest; undefined for an empty or unparsable field. */
export function parseRecordHash(field: string): { algorithm: string; hex: string } | undefined {
  const at = field.indexOf("=");
  if (at <= 0) return undefined;
  const algorithm = field.slice(0, at).toLowerCase();
  const encoded = field.slice(at + 1);
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(encoded)) return undefined;
  return { algorithm, hex: Buffer.from(encoded, "base64url").toString("hex") };
}

/** Hex digest -> the RECORD form, `sha256=<urlsafe base64 without padding>`. */
export function recordHash(hexDigest: string, algorithm = "sha256"): string {
  return `${algorithm}=${Buffer.from(hexDigest, "hex").toString("base64url")}`;
}

/** Parses CSV as Python's csv module writes it: fields quoted when they hold a comma, quote or newline. */
export function parseRecord(text: string): RecordRow[] {
  const rows: RecordRow[] = [];
  for (const fields of parseCsv(text)) {
    if (fields.length === 0 || (fields.length === 1 && fields[0] === "")) continue;
    rows.push({ path: fields[0] ?? "", hash: fields[1] ?? "", size: fields[2] ?? "" });
  }
  return rows;
}

function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c !== '"') field += c;
      else if (text[i + 1] === '"') {
        field += '"';
        i++;
      } else quoted = false;
    } else if (c === '"' && field === "") quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (field !== "" || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** Rows sorted by path (bytewise, as pip sorts them) and written with CRLF endings, as Python's csv writer does. */
export function formatRecord(rows: readonly RecordRow[]): string {
  const sorted = [...rows].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  return sorted.map((row) => `${csvField(row.path)},${csvField(row.hash)},${csvField(row.size)}\r\n`).join("");
}
