// Debian control data (deb822): paragraphs of `Field: value` lines, continuation lines starting
// with white space, paragraphs separated by blank lines. Used by dpkg's status, Packages indexes,
// Release files, `.deb` control files and deb822 `.sources`.

/** One paragraph: field names as written (first spelling kept), values with continuation lines joined by "\n". */
export interface Paragraph {
  /** Field value by lower-cased name. */
  readonly fields: ReadonlyMap<string, string>;
  /** Field names in the order and spelling they were written. */
  readonly order: readonly string[];
}

/** Parses all paragraphs of a control file. Comment lines (`#`) are skipped, as deb822 allows. */
export function parseParagraphs(text: string): Paragraph[] {
  const out: Paragraph[] = [];
  let fields = new Map<string, string>();
  let order: string[] = [];
  let last: string | undefined;
  const flush = () => {
    if (order.length > 0) out.push({ fields, order });
    fields = new Map();
    order = [];
    last = undefined;
  };
  for (const raw of text.split("\n")) {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line.trim() === "") {
      flush();
      continue;
    }
    if (line.startsWith("#")) continue;
    if (line.startsWith(" ") || line.startsWith("\t")) {
      if (last === undefined) continue;
      fields.set(last, `${fields.get(last) ?? ""}\n${line.slice(1)}`);
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon);
    const key = name.toLowerCase();
    if (!fields.has(key)) order.push(name);
    fields.set(key, line.slice(colon + 1).trim());
    last = key;
  }
  flush();
  return out;
}

export function field(paragraph: Paragraph, name: string): string | undefined {
  return paragraph.fields.get(name.toLowerCase());
}

/** Writes a paragraph back (no trailing blank line), in its field order. */
export function formatParagraph(paragraph: Paragraph): string {
  return paragraph.order.map((name) => formatField(name, paragraph.fields.get(name.toLowerCase()) ?? "")).join("\n");
}

export function formatField(name: string, value: string): string {
  const [first, ...rest] = value.split("\n");
  return [`${name}:${first === "" ? "" : ` ${first}`}`, ...rest.map((l) => ` ${l}`)].join("\n");
}

/** A paragraph from ordered [name, value] pairs. */
export function paragraphOf(pairs: readonly (readonly [string, string])[]): Paragraph {
  const fields = new Map<string, string>();
  const order: string[] = [];
  for (const [name, value] of pairs) {
    if (!fields.has(name.toLowerCase())) order.push(name);
    fields.set(name.toLowerCase(), value);
  }
  return { fields, order };
}
