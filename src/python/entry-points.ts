// console_scripts and gui_scripts (the entry points spec): each becomes a small launcher in the
// scripts directory, the same shape pip (through distlib) writes, so tools that inspect or
// patch launchers see what they expect. On Linux GUI scripts get the same launcher.
import { PythonError } from "./errors.js";

export interface ScriptEntryPoint {
  readonly group: "console_scripts" | "gui_scripts";
  /** File name of the launcher, e.g. `black`. */
  readonly name: string;
  /** `package.module` */
  readonly module: string;
  /** `main` or `cli.main` */
  readonly attribute: string;
}

const DOTTED_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const SCRIPT_GROUPS = new Set(["console_scripts", "gui_scripts"]);

/** The script entry points in an `entry_points.txt`; other groups (plugins) are not for installers. */
export function parseScriptEntryPoints(text: string, what: string): ScriptEntryPoint[] {
  const scripts: ScriptEntryPoint[] = [];
  let group: string | undefined;
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      group = section[1]!.trim();
      continue;
    }
    if (group === undefined || !SCRIPT_GROUPS.has(group)) continue;
    const equals = line.indexOf("=");
    const invalid = (problem: string) =>
      new PythonError("WHEEL_INVALID", `${what}: entry point ${JSON.stringify(line)} in [${group}] ${problem}`, {
        hint: "script entry points are written name = package.module:function",
      });
    if (equals <= 0) throw invalid('has no "name = value" form');
    const name = line.slice(0, equals).trim();
    // Extras in brackets only matter to tools that check them at run time; the launcher ignores them.
    const value = line.slice(equals + 1).replace(/\[[^\]]*\]\s*$/, "").trim();
    if (!/^[^\s/\\\0]+$/.test(name) || name === "." || name === "..") throw invalid("has a name that is not a plain file name");
    const colon = value.indexOf(":");
    if (colon < 0) throw invalid("names no callable (expected module:function)");
    const module = value.slice(0, colon).trim();
    const attribute = value.slice(colon + 1).trim();
    if (!DOTTED_IDENTIFIER.test(module) || !DOTTED_IDENTIFIER.test(attribute)) throw invalid("is not module:function");
    scripts.push({ group: group as ScriptEntryPoint["group"], name, module, attribute });
  }
  return scripts;
}

/**
 * The `#!` line for an interpreter. Linux reads at most 127 bytes of it and splits at the first
 * space, so a long path or one with spaces is run through /bin/sh instead (a line that sh
 * executes and Python reads as a string).
 */
export function shebang(interpreter: string): string {
  if (Buffer.byteLength(interpreter) <= 127 && !/\s/.test(interpreter)) return `#!${interpreter}\n`;
  const quoted = interpreter.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("$", "\\$").replaceAll("`", "\\`");
  return `#!/bin/sh\n'''exec' "${quoted}" "$0" "$@"\n' '''\n`;
}

/** The launcher script for an entry point. */
export function launcherScript(entry: ScriptEntryPoint, interpreter: string): string {
  const importName = entry.attribute.split(".")[0]!;
  return (
    shebang(interpreter) +
    "# -*- coding: utf-8 -*-\n" +
    "import re\n" +
    "import sys\n" +
    `from ${entry.module} import ${importName}\n` +
    "if __name__ == '__main__':\n" +
    "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n" +
    `    sys.exit(${entry.attribute}())\n`
  );
}
