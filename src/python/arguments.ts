// `pipExtraArgs` is one string (as in flytekit); it is split into arguments the way a POSIX shell
// would split words, without a shell ever seeing it (no expansion, no substitution).
import { PythonError } from "./errors.js";

export function splitArguments(text: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === "\\" && i + 1 < text.length && '"\\$`'.includes(text[i + 1]!)) word += text[++i];
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === "\\" && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote !== undefined) {
    throw new PythonError("PYTHON_RESOLUTION_FAILED", `pipExtraArgs ${JSON.stringify(text)} has an unterminated ${quote} quote`, {
      hint: "close the quote, or drop it if the argument has no spaces",
    });
  }
  if (inWord) words.push(word);
  return words;
}
