// Shell completion scripts made from the program's own commands and options, so they cannot
// drift from the CLI: bash (complete -F) and zsh (#compdef, with descriptions).
import type { Command, Option } from "commander";
import { BUILDERS } from "../spec/index.js";

interface Node {
  /** "" for the program, else "ecr login" style. */
  path: string;
  commands: { name: string; description: string }[];
  options: { flag: string; description: string; takesValue: boolean }[];
}

/** Values offered after an option, where there is a fixed set. */
const OPTION_VALUES: Record<string, string[]> = {
  "--builder": [...BUILDERS],
  "--compression": ["gzip", "zstd"],
};

function visible(options: readonly Option[]): Node["options"] {
  return options
    .filter((o) => !o.hidden && o.long !== undefined)
    .flatMap((o) => {
      const takesValue = o.required || o.optional;
      const flags = [o.long!, ...(o.short !== undefined ? [o.short] : [])];
      return flags.map((flag) => ({ flag, description: o.description, takesValue }));
    });
}

function nodes(command: Command, path = ""): Node[] {
  const children = command.commands.filter((c) => !(c as Command & { _hidden?: boolean })._hidden);
  const own: Node = {
    path,
    commands: children.map((c) => ({ name: c.name(), description: c.description() })),
    options: [...visible(command.options), { flag: "--help", description: "show help", takesValue: false }],
  };
  return [own, ...children.flatMap((c) => nodes(c, path === "" ? c.name() : `${path} ${c.name()}`))];
}

const words = (list: readonly string[]) => list.join(" ");

/** The `case` arms for the word after an option that takes a value: its fixed values, else file names. */
function valueCases(all: readonly Node[], fixed: (values: readonly string[]) => string, files: string): string {
  const valued = [...new Set(all.flatMap((n) => n.options.filter((o) => o.takesValue).map((o) => o.flag)))];
  return [
    ...Object.entries(OPTION_VALUES).map(([flag, values]) => `    ${flag}) ${fixed(values)}; return 0 ;;`),
    `    ${valued.filter((f) => !(f in OPTION_VALUES)).join("|")}) ${files}; return 0 ;;`,
  ].join("\n");
}

/** The `case` arms that extend the command path by one word (the same in bash and zsh). */
function pathCases(all: readonly Node[], variable: string): string {
  return all
    .filter((n) => n.path !== "")
    .map((n) => `      "${n.path}") ${variable}="${n.path}" ;;`)
    .join("\n");
}

export function bashCompletion(program: Command): string {
  const all = nodes(program);
  const name = program.name();
  const fn = `_${name.replace(/[^A-Za-z0-9]/g, "_")}`;
  return `# bash completion for ${name}; load with: source <(${name} completion bash)
${fn}() {
  local cur prev path="" w i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  # The command path: the words before the cursor that name (sub)commands.
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    case "$w" in -*) continue ;; esac
    case "\${path:+$path }$w" in
${pathCases(all, "path")}
    esac
  done
  case "$prev" in
${valueCases(all, (values) => `COMPREPLY=($(compgen -W "${words(values)}" -- "$cur"))`, 'COMPREPLY=($(compgen -f -- "$cur"))')}
  esac
  local commands="" options=""
  case "$path" in
${all.map((n) => `    "${n.path}") commands="${words(n.commands.map((c) => c.name))}"; options="${words(n.options.map((o) => o.flag))}" ;;`).join("\n")}
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$options" -- "$cur"))
  elif [[ -n "$commands" ]]; then
    COMPREPLY=($(compgen -W "$commands" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
  return 0
}
complete -o filenames -F ${fn} ${name}
`;
}

/** `name:description` for _describe, with colons in the name escaped. */
const described = (name: string, description: string) => `'${name.replace(/:/g, "\\:")}:${description.replace(/'/g, "'\\''").replace(/\s+/g, " ")}'`;

export function zshCompletion(program: Command): string {
  const all = nodes(program);
  const name = program.name();
  const fn = `_${name.replace(/[^A-Za-z0-9]/g, "_")}`;
  return `#compdef ${name}
# zsh completion for ${name}; load with: source <(${name} completion zsh), or save it as _${name} in a folder of $fpath
${fn}() {
  local path_="" w i
  local -a commands options
  for ((i = 2; i < CURRENT; i++)); do
    w="\${words[i]}"
    [[ "$w" == -* ]] && continue
    case "\${path_:+$path_ }$w" in
${pathCases(all, "path_")}
    esac
  done
  case "\${words[CURRENT-1]}" in
${valueCases(all, (values) => `compadd -- ${words(values)}`, "_files")}
  esac
  case "$path_" in
${all
  .map(
    (n) =>
      `    "${n.path}")\n      commands=(${n.commands.map((c) => described(c.name, c.description)).join(" ")})\n      options=(${n.options.map((o) => described(o.flag, o.description)).join(" ")}) ;;`,
  )
  .join("\n")}
  esac
  if [[ "\${words[CURRENT]}" == -* ]]; then
    _describe -t options 'option' options
  elif (( \${#commands} > 0 )); then
    _describe -t commands 'command' commands
  else
    _files
  fi
}
if [[ "\${funcstack[1]}" == "${fn}" ]]; then
  ${fn} "$@"
else
  compdef ${fn} ${name}
fi
`;
}
