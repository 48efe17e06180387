// Where the package and the worker's Python environment are, from this file's own location
// (works from src/ under tsx and from dist/ after the build, in a checkout or in node_modules).
import { existsSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { cachedEnvDir, envPython } from "../setup/pyenv.js";

export function projectRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), "../..");
}

/** A path on this machine as a worker here sees it: absolute, from the working directory. */
export const hostDataPath = (path: string): string => (isAbsolute(path) ? path : resolve(path));

/** The folder with the worker's Python code, pyproject.toml and uv.lock. */
export const workerDir = (): string => join(projectRoot(), "python_worker");

/** A source checkout (it has the repository's setup script) rather than an installed package. */
export const isCheckout = (): boolean => existsSync(join(projectRoot(), "scripts", "setup.mjs"));

/** The command that creates the default environment where this package is. */
export const setupCommand = (): string => (isCheckout() ? "npm run setup" : "npx projhead setup");

/**
 * The worker's interpreter: $PROJHEAD_PYTHON, else the checkout's python_worker/.venv, else the
 * environment `projhead setup` made for this lockfile in the per-user cache.
 */
export function venvPython(): string {
  if (process.env.PROJHEAD_PYTHON) return process.env.PROJHEAD_PYTHON;
  const checkoutEnv = envPython(join(workerDir(), ".venv"));
  if (isCheckout() || existsSync(checkoutEnv)) return checkoutEnv;
  return envPython(cachedEnvDir(workerDir()));
}
