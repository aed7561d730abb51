// OpenSSL's subject hash (`openssl x509 -subject_hash`), which names the `<hash>.0` links in
// /etc/ssl/certs that OpenSSL's CApath lookups use. It is the first four bytes (little-endian) of
// the SHA-1 of the subject name's canonical encoding: each RDN's SET re-encoded with string values
// as lower-cased UTF8String with white space trimmed and collapsed (x509_name_canon in OpenSSL).
import { createHash, X509Certificate } from "node:crypto";

interface Tlv {
  tag: number;
  start: number;
  end: number;
  /** The whole element, header included. */
  raw: Buffer;
}

function readTlv(buf: Buffer, offset: number): Tlv {
  const tag = buf[offset]!;
  let len = buf[offset + 1]!;
  let header = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Error("unsupported DER length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[offset + 2 + i]!;
    header += n;
  }
  const start = offset + header;
  const end = start + len;
  if (end > buf.length) throw new Error("DER element runs past the end");
  return { tag, start, end, raw: buf.subarray(offset, end) };
}

function children(buf: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.start; at < parent.end; ) {
    const child = readTlv(buf, at);
    out.push(child);
    at = child.end;
  }
  return out;
}

function encode(tag: number, content: Buffer): Buffer {
  const len = content.length;
  let header: number[];
  if (len < 0x80) header = [tag, len];
  else {
    const bytes: number[] = [];
    for (let n = len; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
    header = [tag, 0x80 | bytes.length, ...bytes];
  }
  return Buffer.concat([Buffer.from(header), content]);
}

const UTF8 = 0x0c;
// UTF8String, PrintableString, T61String, IA5String, VisibleString, UniversalString, BMPString.
const CANONICAL_TYPES = new Set([0x0c, 0x13, 0x14, 0x16, 0x1a, 0x1c, 0x1e]);

function toUtf8(tag: number, content: Buffer): Buffer {
  switch (tag) {
    case 0x1e: {
      // BMPString: UCS-2 big-endian.
      const swapped = Buffer.from(content);
      swapped.swap16();
      return Buffer.from(swapped.toString("utf16le"), "utf8");
    }
    case 0x1c: {
      let text = "";
      for (let i = 0; i + 3 < content.length; i += 4) text += String.fromCodePoint(content.readUInt32BE(i));
      return Buffer.from(text, "utf8");
    }
    case 0x14:
      return Buffer.from(content.toString("latin1"), "utf8");
    default:
      return content;
  }
}

const isSpace = (b: number) => b === 0x20 || (b >= 0x09 && b <= 0x0d);

function canonicalString(tag: number, content: Buffer): Buffer {
  if (!CANONICAL_TYPES.has(tag)) return encode(tag, content);
  const utf8 = toUtf8(tag, content);
  let from = 0;
  let to = utf8.length;
  while (from < to && isSpace(utf8[from]!)) from++;
  while (to > from && isSpace(utf8[to - 1]!)) to--;
  const out: number[] = [];
  while (from < to) {
    const b = utf8[from]!;
    if (b & 0x80) {
      out.push(b);
      from++;
    } else if (isSpace(b)) {
      out.push(0x20);
      while (from < to && isSpace(utf8[from]!)) from++;
    } else {
      out.push(b >= 0x41 && b <= 0x5a ? b + 0x20 : b);
      from++;
    }
  }
  return encode(UTF8, Buffer.from(out));
}

/** The subject Name element of a DER certificate. */
function subjectOf(der: Buffer): { buf: Buffer; name: Tlv } {
  const cert = readTlv(der, 0);
  const tbs = children(der, cert)[0]!;
  const fields = children(der, tbs);
  const skip = fields[0]!.tag === 0xa0 ? 1 : 0;
  // serialNumber, signature, issuer, validity, subject
  return { buf: der, name: fields[skip + 4]! };
}

/** The canonical encoding OpenSSL hashes. */
export function canonicalName(der: Buffer, name: Tlv): Buffer {
  const parts: Buffer[] = [];
  for (const rdn of children(der, name)) {
    const entries = children(der, rdn).map((atv) => {
      const [oid, value] = children(der, atv);
      return encode(0x30, Buffer.concat([oid!.raw, canonicalString(value!.tag, der.subarray(value!.start, value!.end))]));
    });
    entries.sort((a, b) => Buffer.compare(a.subarray(0, Math.min(a.length, b.length)), b.subarray(0, Math.min(a.length, b.length))) || a.length - b.length);
    parts.push(encode(0x31, Buffer.concat(entries)));
  }
  return Buffer.concat(parts);
}

/** `openssl x509 -subject_hash` of a PEM or DER certificate: eight hex digits. */
export function subjectHash(certificate: Buffer | string): string {
  const der = new X509Certificate(certificate).raw;
  const { buf, name } = subjectOf(der);
  const digest = createHash("sha1").update(canonicalName(buf, name)).digest();
  return digest.readUInt32LE(0).toString(16).padStart(8, "0");
}
