// Experiment files: .yaml/.yml/.json, or a module (.ts/.mts/.js/.mjs/.cjs) whose default export
// is the experiment (or a function returning it). Errors name the file and, for syntax errors,
// the line and column.
import { access, readFile } from "node:fs/promises";
import { extname, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseDocument } from "yaml";
import { ExperimentError } from "./errors.js";
import { resolveExperiment } from "./resolve.js";
import type { ResolvedExperiment } from "./schema.js";

const DATA_EXT = [".yaml", ".yml", ".json"];
const MODULE_EXT = [".ts", ".mts", ".js", ".mjs", ".cjs"];

/** Reads, merges with the defaults and validates an experiment file. */
export async function loadExperiment(path: string): Promise<ResolvedExperiment> {
  return resolveExperiment(await readExperimentFile(path), { source: path });
}

/** The file's content as plain data, before defaults and validation. */
export async function readExperimentFile(path: string): Promise<unknown> {
  const ext = extname(path).toLowerCase();
  if (MODULE_EXT.includes(ext)) return importExperiment(path);
  if (!DATA_EXT.includes(ext)) {
    throw new ExperimentError({
      kind: "unsupported",
      source: path,
      message: `${path}: unsupported experiment file type "${ext}" (use ${[...DATA_EXT, ...MODULE_EXT].join(", ")})`,
    });
  }
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    throw readError(path, e);
  }
  text = text.replace(/^\uFEFF/, "");
  return ext === ".json" ? parseJson(path, text) : parseYaml(path, text);
}

function readError(path: string, e: unknown): ExperimentError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT") {
    const abs = resolve(path);
    const shown = abs === path ? path : `${path} (${abs})`;
    return new ExperimentError({ kind: "not_found", source: path, message: `experiment file not found: ${shown}`, cause: e });
  }
  return new ExperimentError({ kind: "not_found", source: path, message: `${path}: cannot read: ${(e as Error).message}`, cause: e });
}

function syntaxError(path: string, what: string, detail: string, line?: number, col?: number, cause?: unknown) {
  const where = line !== undefined ? `${path}:${line}:${col}` : path;
  return new ExperimentError({ kind: "syntax", source: path, message: `${where}: ${what} syntax error: ${detail}`, line, col, cause });
}

function parseYaml(path: string, text: string): unknown {
  const doc = parseDocument(text, { prettyErrors: true });
  const err = doc.errors[0];
  if (err) {
    const pos = err.linePos?.[0];
    // prettyErrors appends " at line L, column C:" and a code frame; keep the frame, drop the repeat.
    const detail = err.message.replace(/ at line \d+, column \d+:?/, ":").trimEnd();
    throw syntaxError(path, "YAML", detail, pos?.line, pos?.col, err);
  }
  return doc.toJS();
}

function parseJson(path: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const m = /position (\d+)/.exec(msg);
    if (!m) throw syntaxError(path, "JSON", msg, undefined, undefined, e);
    const before = text.slice(0, Number(m[1])).split("\n");
    const line = before.length;
    const col = before[before.length - 1]!.length + 1;
    throw syntaxError(path, "JSON", msg.replace(/ \(line \d+ column \d+\)/, ""), line, col, e);
  }
}

async function importExperiment(path: string): Promise<unknown> {
  await access(path).catch((e: unknown) => {
    throw readError(path, e);
  });
  const url = pathToFileURL(resolve(path)).href;
  let mod: { default?: unknown };
  try {
    mod = (await import(url)) as { default?: unknown };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ERR_UNKNOWN_FILE_EXTENSION") {
      throw new ExperimentError({
        kind: "unsupported",
        source: path,
        message: `${path}: this Node cannot import TypeScript directly; run with \`node --import tsx\` (or Node >= 22.6), or use a .mjs/.yaml file`,
        cause: e,
      });
    }
    throw new ExperimentError({ kind: "invalid", source: path, message: `${path}: failed to import: ${(e as Error).message}`, cause: e });
  }
  let value = mod.default;
  if (value === undefined) {
    throw new ExperimentError({
      kind: "invalid",
      source: path,
      message: `${path}: no default export (write \`export default defineExperiment({ ... })\`)`,
    });
  }
  if (typeof value === "function") value = await (value as () => unknown)();
  return value;
}
