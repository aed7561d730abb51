// The names a module exports, values and types alike, as the TypeScript compiler sees them
// (for the tests that pin the package's public API).
import assert from "node:assert/strict";
import ts from "typescript";

/** Every name a module exports (values and types), sorted. */
export function exportedNames(file: string, options: ts.CompilerOptions = {}): string[] {
  const program = userProgram(file, options);
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  assert.ok(source, `${file} is part of the program`);
  const module = checker.getSymbolAtLocation(source);
  assert.ok(module, `${file} is a module`);
  return checker.getExportsOfModule(module).map((s) => s.getName()).sort();
}

/** A program of one file, compiled as a user's project compiles it (package.json "exports", "types" condition). */
function userProgram(file: string, options: ts.CompilerOptions = {}): ts.Program {
  return ts.createProgram([file], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
    ...options,
  });
}

/**
 * The names behind each module specifier `file` imports, resolved as a user's project resolves them
 * (package.json "exports", "types" condition); a specifier that does not resolve is missing from the map.
 */
export function importedModuleNames(file: string): Map<string, string[]> {
  const program = userProgram(file);
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  assert.ok(source, `${file} is part of the program`);
  const out = new Map<string, string[]>();
  for (const statement of source.statements) {
    if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) continue;
    const module = checker.getSymbolAtLocation(statement.moduleSpecifier);
    if (module) out.set(statement.moduleSpecifier.text, checker.getExportsOfModule(module).map((s) => s.getName()).sort());
  }
  return out;
}

/** The type errors of `file` as a user's project reports them, one line each (`line:col message`). */
export function typeErrors(file: string): string[] {
  const program = userProgram(file);
  const source = program.getSourceFile(file);
  assert.ok(source, `${file} is part of the program`);
  return ts.getPreEmitDiagnostics(program, source).map((d) => {
    const at = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
    return `${at ? `${at.line + 1}:${at.character + 1} ` : ""}${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
  });
}
