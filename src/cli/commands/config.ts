// `imagespec config`: every setting with its value and where it came from (a flag cannot be
// given here, so: the environment, the project config, the user config, or the default).
import type { Command } from "commander";
import { loadConfig, resolveSettings, SETTINGS, type LoadedConfig } from "../config.js";
import { reportError } from "../output.js";
import { redactSecrets } from "../../reference/index.js";
import type { RegisterCommand } from "./index.js";

export const registerConfigCommand: RegisterCommand = (program: Command) => {
  program
    .command("config")
    .description("print the settings (registry, builder, platform, cache dir, ...) and where each comes from")
    .option("--json", "print them as one JSON object")
    .addHelpText(
      "after",
      `
Order: flags > environment > project config > user config > default.
  project config  the nearest imagespec.config.{json,yaml,yml} from here up (to a .git folder)
  user config     $XDG_CONFIG_HOME/imagespec/config.{json,yaml,yml} (~/.config/imagespec)

Settings (config key, environment variable, flag):
${SETTINGS.map((s) => `  ${s.key.padEnd(19)}${s.env.padEnd(31)}${s.flag.padEnd(20)}${s.description}`).join("\n")}

Examples:
  imagespec config
  IMAGESPEC_BUILDER=buildah imagespec config --json`,
    )
    .action(async (flags: { json?: boolean }) => {
      let config: LoadedConfig;
      try {
        config = await loadConfig();
      } catch (error) {
        process.exitCode = reportError(error);
        return;
      }
      // A credential typed into a setting (registry: user:pw@host) is not printed back.
      const settings = resolveSettings(config).map((s) => ({ ...s, value: redactValue(s.value) }));
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ files: config.files, settings: Object.fromEntries(settings.map((s) => [s.key, { value: s.value ?? null, source: s.source }])) }, null, 2)}\n`);
        return;
      }
      process.stdout.write(`project config: ${config.files.project ?? "(none)"}\nuser config:    ${config.files.user ?? "(none)"}\n\n`);
      const shown = settings.map((s) => ({ key: s.key, value: s.value === undefined ? "-" : Array.isArray(s.value) ? s.value.join(",") : String(s.value), source: s.source }));
      const keyWidth = Math.max(...shown.map((s) => s.key.length)) + 2;
      const valueWidth = Math.max(...shown.map((s) => s.value.length)) + 2;
      for (const s of shown) process.stdout.write(`${s.key.padEnd(keyWidth)}${s.value.padEnd(valueWidth)}${s.source}\n`);
    });
};

function redactValue<T>(value: T): T {
  if (typeof value === "string") return redactSecrets(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => (typeof v === "string" ? redactSecrets(v) : v)) as T;
  return value;
}
