// Maintainer scripts are never run. This reads a package's postinst to find what it would have
// done: `update-alternatives --install` calls (applied by alternatives.ts), and anything else
// beyond the effects imagespec knows to be harmless or handled. Those packages get a warning.

export interface AlternativeInstall {
  readonly link: string;
  readonly name: string;
  readonly path: string;
  readonly priority: number;
  readonly slaves: readonly { readonly link: string; readonly name: string; readonly path: string }[];
}

/** Commands whose effect does not matter in an image, or is handled here (alternatives, ldconfig, triggers). */
const HARMLESS = new Set([
  "update-alternatives",
  "ldconfig",
  "dpkg-trigger",
  "deb-systemd-helper",
  "deb-systemd-invoke",
  "systemctl",
  "update-rc.d",
  "invoke-rc.d",
  "dpkg-maintscript-helper",
  "py3compile",
  "pycompile",
  "pypy3compile",
  "py3clean",
  "echo",
  "printf",
  "true",
  "false",
  "return",
  "exit",
  "set",
  "shift",
  "local",
  "export",
  "unset",
  "trap",
  ".",
  "read",
  "break",
  "continue",
  "test",
  "[",
  "[[",
  ":",
  "command",
  "which",
  "dpkg",
  "dpkg-query",
  "db_get",
  "db_input",
  "db_go",
  "db_stop",
  "db_set",
  "db_fset",
  "db_fget",
  "db_purge",
  "db_version",
  "db_capb",
  "db_title",
  "db_reset",
  "db_register",
  "db_unregister",
  "db_subst",
  "db_metaget",
  // Reading, not changing: these only feed conditions and variables.
  "grep",
  "sed",
  "awk",
  "cut",
  "tr",
  "head",
  "tail",
  "basename",
  "dirname",
  "getent",
  "id",
  "readlink",
  "realpath",
  "ls",
  "expr",
  "sort",
  "uniq",
  "wc",
  "uname",
  "umask",
  // Cleaning up what an older version left: nothing to clean in a fresh layer.
  "rm",
  "rmdir",
]);
const KEYWORDS = new Set(["if", "then", "else", "elif", "fi", "while", "until", "do", "done", "for", "case", "esac", "in", "!", "{", "}", ";;", "function"]);

/** The script without here-document bodies (their text is data, not commands). */
function withoutHereDocs(script: string): string[] {
  const out: string[] = [];
  let hereEnd: string | undefined;
  for (const raw of script.split("\n")) {
    if (hereEnd !== undefined) {
      if (raw.replace(/^\t+/, "").trim() === hereEnd) hereEnd = undefined;
      continue;
    }
    const here = /<<-?\s*['"]?([A-Za-z_][A-Za-z0-9_]*)['"]?/.exec(raw);
    if (here) hereEnd = here[1];
    out.push(raw);
  }
  return out;
}

/** Joins backslash-continued lines and drops comments, blank lines and here-document bodies. */
function logicalLines(script: string): string[] {
  const out: string[] = [];
  let pending = "";
  for (const raw of withoutHereDocs(script)) {
    const line = raw.replace(/(^|\s)#.*$/, "").trimEnd();
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = (pending + line).trim();
    pending = "";
    if (full !== "") out.push(full);
  }
  return out;
}

/**
 * Lines of commands: quoted strings (which may span lines; one quoted word stays a word),
 * command substitutions (`$(...)`, backticks: their output is an argument, and what runs there
 * only reads) and comments are replaced by a placeholder word, then continuation lines are joined.
 */
function commandLines(script: string): string[] {
  const text = withoutHereDocs(script).join("\n");
  let out = "";
  let i = 0;
  /** Skips a quoted string; a single word in quotes (`"/usr/lib/x/tool"`) stays that word. */
  const skipQuoted = (close: string): string => {
    const start = ++i;
    while (i < text.length && text[i] !== close) i += text[i] === "\\" && close !== "'" ? 2 : 1;
    const content = text.slice(start, i++);
    return close !== "`" && /^[^\s`]+$/.test(content) && !content.includes("$(") ? content : "Q";
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === "\\" && text[i + 1] === "\n") {
      out += " ";
      i += 2;
    } else if (c === "\\") {
      out += text.slice(i, i + 2);
      i += 2;
    } else if (c === "'" || c === '"' || c === "`") {
      out += skipQuoted(c);
    } else if (c === "$" && text[i + 1] === "(") {
      let depth = 0;
      for (i++; i < text.length; i++) {
        if (text[i] === "(") depth++;
        else if (text[i] === ")" && --depth === 0) break;
      }
      i++;
      out += "Q";
    } else if (c === "#" && (i === 0 || /\s/.test(text[i - 1]!))) {
      while (i < text.length && text[i] !== "\n") i++;
    } else {
      out += c;
      i++;
    }
  }
  return out
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
}

/** The first command of each simple command in a line (split at `;`, `&&`, `||`, `|`). */
function commandsOf(line: string): string[] {
  const out: string[] = [];
  for (const part of line.split(/;|&&|\|\||\|/)) {
    const words = part.trim().split(/\s+/).filter(Boolean);
    // `for x in ...` and `case x in` name no command.
    if (words[0] === "for" || words[0] === "case" || words[0] === "select") continue;
    while (words.length > 0 && (KEYWORDS.has(words[0]!) || /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0]!))) words.shift();
    const first = words[0];
    if (first === undefined) continue;
    if (/\)$/.test(first) && !first.includes("(")) continue; // a case pattern: `configure)`
    if (/^[A-Za-z_][A-Za-z0-9_]*\(\)$/.test(first)) continue; // a function definition
    // Only a word that can name a program counts (not `Q`, an option or a glob).
    if (first === "Q" || !/^[A-Za-z0-9_./+${}-]+$/.test(first) || first.startsWith("-")) continue;
    out.push(first);
  }
  return out;
}

/** Shell functions a script defines: calling them is not an outside effect by itself. */
function definedFunctions(script: string): Set<string> {
  const names = new Set<string>();
  for (const m of script.matchAll(/^\s*(?:function\s+)?([A-Za-z_][A-Za-z0-9_-]*)\s*\(\)/gm)) names.add(m[1]!);
  return names;
}

/** Commands of a maintainer script that imagespec neither applies nor can ignore; empty when it has none. */
export function unhandledCommands(script: string): string[] {
  const functions = definedFunctions(script);
  const found = new Set<string>();
  for (const line of commandLines(script)) {
    // A case pattern (`configure|abort-upgrade)`) is not a command; what follows it on the line is.
    const body = line.replace(/^\(?[^\s()|]+(\s*\|\s*[^\s()|]+)*\)/, "");
    for (const command of commandsOf(body)) {
      const name = command.slice(command.lastIndexOf("/") + 1);
      if (HARMLESS.has(name) || functions.has(name) || name.startsWith("$")) continue;
      found.add(name);
    }
  }
  return [...found].sort();
}

/** `update-alternatives --install LINK NAME PATH PRIORITY [--slave LINK NAME PATH]...` calls with literal arguments. */
export function alternativesOf(script: string): AlternativeInstall[] {
  return readAlternatives(script).calls;
}

/** The literal `update-alternatives --install` calls, and how many others (with variables) could not be read. */
export function readAlternatives(script: string): { calls: AlternativeInstall[]; unreadable: number } {
  const out: AlternativeInstall[] = [];
  let unreadable = 0;
  for (const line of logicalLines(script)) {
    const at = line.indexOf("update-alternatives");
    if (at < 0) continue;
    const words = line.slice(at).split(/\s+/).map((w) => w.replace(/^["']|["']$/g, "").replace(/;$/, ""));
    const install = words.indexOf("--install");
    if (install < 0) continue;
    const [link, name, path, priority] = words.slice(install + 1, install + 5);
    if (link === undefined || name === undefined || path === undefined || priority === undefined || [link, name, path, priority].some((w) => w.includes("$")) || !/^-?\d+$/.test(priority)) {
      unreadable++;
      continue;
    }
    const slaves: { link: string; name: string; path: string }[] = [];
    for (let i = install + 5; i < words.length; i++) {
      if (words[i] !== "--slave") continue;
      const [sl, sn, sp] = words.slice(i + 1, i + 4);
      if (sl && sn && sp && ![sl, sn, sp].some((w) => w.includes("$"))) slaves.push({ link: sl, name: sn, path: sp });
    }
    out.push({ link, name, path, priority: Number(priority), slaves });
  }
  return { calls: out, unreadable };
}
