// The local runtime: the worker as a child process from the project's Python environment.
// It waits for the worker's READY line and then for health SERVING (never a fixed sleep), keeps
// the last stderr lines for error messages, and stops the worker on stop(), on abort and when
// this process exits. The worker in turn checkpoints and stops its training processes.
import { execa, type ResultPromise } from "execa";
import { existsSync } from "node:fs";
import { delimiter, resolve } from "node:path";
import { createInterface } from "node:readline";
import { hostDataPath, projectRoot, setupCommand, venvPython, workerDir } from "./paths.js";
import { WorkerStartError, type RunningWorker } from "./types.js";
import { connectAndWait } from "./connect.js";

export interface LocalWorkerOptions {
  /** Python interpreter (default: the project's environment). */
  python?: string;
  /** Where the worker keeps runs (default ./runs). */
  runRoot?: string;
  /** Extra directories the worker may read datasets from. */
  dataRoots?: string[];
  host?: string;
  /** 0 = pick a free port. */
  port?: number;
  token?: string;
  maxRuns?: number;
  /** Extra environment for the worker. */
  env?: Record<string, string>;
  /** Milliseconds to wait for READY and SERVING (default 120 s: a cold torch import is slow). */
  startTimeoutMs?: number;
  signal?: AbortSignal;
  /** Called with each stderr line of the worker (default: kept silently in the ring buffer). */
  onStderr?: (line: string) => void;
}

const STDERR_LINES = 60;

export function localWorkerCommand(opts: LocalWorkerOptions): { file: string; args: string[] } {
  const file = opts.python ?? venvPython();
  const args = ["-m", "projhead_worker", "serve", "--host", opts.host ?? "127.0.0.1", "--port", String(opts.port ?? 0)];
  args.push("--run-root", resolve(opts.runRoot ?? "runs"));
  for (const d of opts.dataRoots ?? []) args.push("--data-root", resolve(d));
  if (opts.maxRuns) args.push("--max-runs", String(opts.maxRuns));
  return { file, args };
}

export async function startLocalWorker(opts: LocalWorkerOptions = {}): Promise<RunningWorker> {
  const { file, args } = localWorkerCommand(opts);
  // (a bare name such as "python3" is looked up on PATH by the spawn itself)
  if (/[\\/]/.test(file) && !existsSync(file)) {
    const given = opts.python ? "runtime.python" : process.env.PROJHEAD_PYTHON ? "PROJHEAD_PYTHON" : null;
    throw new WorkerStartError(
      given
        ? `${given}: ${file} does not exist (expected a Python with the worker's dependencies; \`${setupCommand()}\` makes one)`
        : `the worker's Python environment is missing (${file}); run \`${setupCommand()}\``,
      [],
    );
  }
  const stderr: string[] = [];
  const child: ResultPromise = execa(file, args, {
    cwd: projectRoot(),
    // The worker's code comes from this package: environments made by `projhead setup` hold
    // only its dependencies, and any other Python (runtime.python) works the same way.
    env: { PYTHONUNBUFFERED: "1", PYTHONPATH: [workerDir(), process.env.PYTHONPATH].filter(Boolean).join(delimiter), ...(opts.token ? { PROJHEAD_TOKEN: opts.token } : {}), ...opts.env },
    stdin: "ignore",
    buffer: false, // a long-lived server: keep a ring buffer of stderr instead of all of it
    reject: false,
    cleanup: true, // execa stops the worker if this process exits first
    forceKillAfterDelay: 20_000,
  });
  const exited = child.then((r) => r);
  createInterface({ input: child.stderr! }).on("line", (line) => {
    stderr.push(line);
    if (stderr.length > STDERR_LINES) stderr.shift();
    opts.onStderr?.(line);
  });

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };

  const fail = async (reason: string): Promise<never> => {
    await stop();
    // give the stderr reader a moment to drain the last lines after exit
    await new Promise((r) => setImmediate(r));
    throw new WorkerStartError(reason, [...stderr]);
  };

  const timeoutMs = opts.startTimeoutMs ?? 120_000;
  const ready = await new Promise<{ port: number; pid: number } | string>((done) => {
    const timer = setTimeout(() => done(`the worker did not announce READY within ${timeoutMs / 1000} s`), timeoutMs);
    const onAbort = () => done("aborted");
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      try {
        const msg = JSON.parse(line) as { event?: string; port?: number; pid?: number };
        if (msg.event === "ready" && msg.port) {
          clearTimeout(timer);
          opts.signal?.removeEventListener("abort", onAbort);
          done({ port: msg.port, pid: msg.pid ?? child.pid ?? 0 });
        }
      } catch {
        // not the READY line
      }
    });
    void exited.then((r) => {
      clearTimeout(timer);
      done(`the worker exited before it was ready (${r.signal ?? `exit code ${r.exitCode}`})`);
    });
  });
  if (typeof ready === "string") return fail(ready);

  const address = `${opts.host ?? "127.0.0.1"}:${ready.port}`;
  try {
    const conn = await connectAndWait(address, { token: opts.token }, timeoutMs, opts.signal);
    return {
      kind: "local", address, pid: ready.pid, connection: conn, stderrTail: () => [...stderr],
      dataRoots: (opts.dataRoots ?? []).map((d) => resolve(d)), dataPath: hostDataPath,
      alive: () => child.exitCode === null && child.signalCode === null,
      stop: async () => { conn.close(); await stop(); },
    };
  } catch (err) {
    return fail(`the worker did not become healthy: ${(err as Error).message}`);
  }
}
