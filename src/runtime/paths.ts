// Where the project and its Python environment are, from this file's own location (works from
// src/ under tsx and from dist/ after the build).
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

export function projectRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), "../..");
}

/** The worker's interpreter: $PROJHEAD_PYTHON, else the project's uv environment. */
export function venvPython(): string {
  if (process.env.PROJHEAD_PYTHON) return process.env.PROJHEAD_PYTHON;
  const venv = join(projectRoot(), "python_worker", ".venv");
  return process.platform === "win32" ? join(venv, "Scripts", "python.exe") : join(venv, "bin", "python");
}
