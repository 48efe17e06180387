// The worker's Python environment: one implementation for the repository's setup script
// (scripts/setup.mjs: uv in .tools/uv, the environment in python_worker/.venv) and for
// `projhead setup` where the package is installed (a per-user cache folder keyed by the
// lockfile's hash, never inside node_modules). Node built-ins only (fsutil/atomic.ts is too): the
// repository's setup runs this file before anything is built.
import { execFileSync, type StdioOptions } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { writeFileAtomic } from "../fsutil/atomic.js";

/** The uv the lockfile is synced with, everywhere (a private install: no global uv needed). */
export const UV_VERSION = "0.13.8";

const bin = (venv: string, name: string) =>
  process.platform === "win32" ? join(venv, "Scripts", `${name}.exe`) : join(venv, "bin", name);

/** The interpreter of a virtual environment. */
export const envPython = (envDir: string): string => bin(envDir, "python");

/** Per-user folder for uv and worker environments: $PROJHEAD_HOME, else the user cache dir. */
export function projheadHome(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PROJHEAD_HOME) return env.PROJHEAD_HOME;
  if (process.platform === "win32") return join(env.LOCALAPPDATA || join(homedir(), "AppData", "Local"), "projhead");
  if (process.platform === "darwin") return join(homedir(), "Library", "Caches", "projhead");
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "projhead");
}

/** First 16 hex digits of the lockfile's SHA-256: environments of equal locks are shared. */
export function lockHash(workerDir: string): string {
  return createHash("sha256").update(readFileSync(join(workerDir, "uv.lock"))).digest("hex").slice(0, 16);
}

/** Where `projhead setup` puts the environment for this lockfile by default. */
export function cachedEnvDir(workerDir: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(projheadHome(env), "envs", lockHash(workerDir));
}

/** Written last by setupWorkerEnv: an environment without it is incomplete. */
const READY = ".projhead-ready";
export const envReady = (envDir: string, workerDir: string): boolean => {
  try {
    return readFileSync(join(envDir, READY), "utf8").trim() === lockHash(workerDir) && existsSync(envPython(envDir));
  } catch {
    return false;
  }
};

export interface SetupLog {
  say: (msg: string) => void;
  /** Silence uv and pip (errors still reach stderr). */
  quiet?: boolean;
}

function run(cmd: string, args: string[], log: SetupLog, env?: NodeJS.ProcessEnv): void {
  // stdout of the tools goes to our stderr: `projhead setup --json` keeps stdout for itself
  const stdio: StdioOptions = log.quiet ? ["ignore", "ignore", "inherit"] : ["ignore", 2, "inherit"];
  execFileSync(cmd, args, { stdio, env: env ?? process.env });
}

/** Python >= 3.10 to build environments from: $UV_PYTHON, python3, python. */
export function findBasePython(preferred?: string): string {
  for (const candidate of [preferred, process.env.UV_PYTHON, "python3", "python"].filter((c): c is string => Boolean(c))) {
    try {
      const v = execFileSync(candidate, ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
      const [major, minor] = v.split(".").map(Number);
      if (major === 3 && minor! >= 10) return candidate;
    } catch {
      // try the next candidate
    }
  }
  throw new Error("setup: Python 3.10 or newer is required (python3 on PATH, or pass --python / set UV_PYTHON)");
}

/** uv UV_VERSION in its own virtual environment at uvDir (installed by pip when missing). */
export function ensureUv(uvDir: string, python: string, log: SetupLog): string {
  const uv = bin(uvDir, "uv");
  try {
    if (execFileSync(uv, ["--version"], { encoding: "utf8" }).includes(UV_VERSION)) return uv;
  } catch {
    // missing or broken: (re)install below
  }
  log.say(`installing uv ${UV_VERSION} into ${uvDir} (using ${python})`);
  run(python, ["-m", "venv", "--clear", uvDir], log);
  run(envPython(uvDir), ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", `uv==${UV_VERSION}`], log);
  return uv;
}

export interface SyncOptions {
  uv: string;
  /** The folder holding pyproject.toml and uv.lock. */
  workerDir: string;
  python: string;
  /** Target environment (default: uv's own, workerDir/.venv). */
  envDir?: string;
  /** Install projhead_worker itself (editable) and the dev group: the repository's test setup.
   *  Otherwise only the locked runtime dependencies; the worker's code is put on PYTHONPATH
   *  from the package when it starts, so nothing in the environment points into node_modules. */
  development: boolean;
  /** Compile bytecode at install (default true). */
  compile?: boolean;
  /** Optional dependency groups of the lockfile to install too (e.g. "tensorboard"). */
  groups?: string[];
}

/** `uv sync --frozen`: exactly the lockfile; re-syncs when it changed, a no-op otherwise. */
export function syncEnv(o: SyncOptions, log: SetupLog): void {
  const args = ["sync", "--frozen", "--project", o.workerDir];
  // Bytecode is compiled at install because PYTHONDONTWRITEBYTECODE machines would otherwise
  // recompile torch at every worker start.
  // (Minutes for torch on a small machine: `projhead setup --no-compile` leaves it to Python.)
  if (o.compile ?? true) args.push("--compile-bytecode");
  if (!o.development) args.push("--no-dev", "--no-install-project");
  for (const g of o.groups ?? []) args.push("--group", g);
  if (log.quiet) args.push("--quiet");
  const env: NodeJS.ProcessEnv = { ...process.env, UV_PYTHON_DOWNLOADS: "never", UV_PYTHON: o.python };
  if (o.envDir) env.UV_PROJECT_ENVIRONMENT = o.envDir;
  else delete env.UV_PROJECT_ENVIRONMENT;
  run(o.uv, args, log, env);
}

export interface WorkerEnvOptions extends SetupLog {
  /** The package's python_worker folder. */
  workerDir: string;
  /** Environment folder (default cachedEnvDir(workerDir)). */
  envDir?: string;
  /** Base interpreter (default findBasePython()). */
  python?: string;
  compile?: boolean;
  /** Optional dependency groups to install too ("tensorboard": `projhead tensorboard`). */
  groups?: string[];
}

/** `projhead setup`: the worker's runtime environment in the per-user cache; idempotent. */
export function setupWorkerEnv(o: WorkerEnvOptions): { envDir: string; python: string; created: boolean } {
  const envDir = o.envDir ?? cachedEnvDir(o.workerDir);
  if (envReady(envDir, o.workerDir) && !o.groups?.length) {
    o.say(`the worker's Python environment is ready: ${envDir}`);
    return { envDir, python: envPython(envDir), created: false };
  }
  const python = findBasePython(o.python);
  const uv = ensureUv(join(projheadHome(), "uv", UV_VERSION), python, o);
  o.say(`creating the worker's Python environment in ${envDir} (uv sync --frozen; torch is large, the first time takes minutes)`);
  syncEnv({ uv, workerDir: o.workerDir, python, envDir, development: false, compile: o.compile, groups: o.groups }, o);
  if (!existsSync(envPython(envDir))) throw new Error(`setup: ${envPython(envDir)} missing after uv sync`);
  writeFileAtomic(join(envDir, READY), lockHash(o.workerDir) + "\n");
  o.say(`ready: ${envDir}`);
  return { envDir, python: envPython(envDir), created: true };
}
