// The docker runtime: the worker in a container (docker/Dockerfile), started with `docker run`
// in the foreground so its READY line and stderr come back through pipes, exactly like the local
// runtime. Inside the container the worker listens on 0.0.0.0:50051, so it always gets a token
// (a random one when none is given), written to the container's stdin (`-i`, read by the worker
// as --token-file /dev/stdin): never on a command line (argv is visible to every user of the host
// in `ps`) nor in the container's environment (`docker inspect` shows it to anyone who may use
// the engine). The port is published on 127.0.0.1 only.
//
// Every container is labelled with the host and pid of the projhead process that started it, so
// that a start after a crash (SIGKILL, power loss of the client) finds and stops the leftovers
// whose projhead process is gone (`cleanupLeftoverContainers`).
//
// Paths: the host run root is mounted at /runs and each host data root at /data/<i> (read-only).
// The worker checks every path a client sends against its own (container) data roots, so what
// it is sent as data.root must be a container path (/data/<i>/..., or relative to /data, the
// image's working directory): `containerDataPath` / `DockerWorker.dataPath` translate a
// host path.
import { execa, type ResultPromise } from "execa";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { hostname } from "node:os";
import { isAbsolute, relative, resolve, sep } from "node:path";
import { createInterface } from "node:readline";
import { connectAndWait } from "./connect.js";
import { newToken } from "./token.js";
import { WorkerStartError, type RunningWorker } from "./types.js";

export const DEFAULT_IMAGE = "projhead-worker:latest";
/** Where things are inside the container (fixed by docker/Dockerfile). */
export const CONTAINER_PORT = 50051;
export const CONTAINER_RUN_ROOT = "/runs";
export const CONTAINER_DATA_ROOT = "/data";
/** Seconds `docker stop` waits for the worker to checkpoint before it kills it. */
export const STOP_TIMEOUT_S = 30;

/** Labels on every container this runtime starts. */
export const ROLE_LABEL = "projhead.role=worker";
export const CLIENT_LABEL = "projhead.client";
/** Where the worker in the container reads its token: the container's stdin (see above). */
const TOKEN_FILE = "/dev/stdin";

const STDERR_LINES = 60;

export interface DockerWorkerOptions {
  /** Image to run (default projhead-worker:latest). */
  image?: string;
  /** `--gpus` value: "all", a count, or "device=0,1"; omitted (CPU only) when unset, 0 or "none". */
  gpus?: number | string;
  /** Token for the worker; a random one is generated when absent. */
  token?: string;
  /** Host folder mounted at /runs (default ./runs; created when missing). */
  runRoot?: string;
  /** Host folders mounted read-only at /data/0, /data/1, ... */
  dataRoots?: string[];
  maxRuns?: number;
  /** Host port published on `bindAddress` (default: a free one). */
  hostPort?: number;
  /** Host address the port is published on (default 127.0.0.1). */
  bindAddress?: string;
  /** Container name (default projhead-worker-<random>). */
  name?: string;
  /**
   * `--user` for the container. Default: this process's uid:gid (POSIX), so that files the worker
   * writes into the run root belong to the user who runs projhead; "" keeps the image's user
   * (uid 10001). Also settable with $PROJHEAD_DOCKER_USER.
   */
  user?: string;
  /** `--shm-size` (default 8g: DataLoader workers and NCCL need more than Docker's 64 MB). */
  shmSize?: string;
  /** The docker executable (default $PROJHEAD_DOCKER, else "docker" on PATH). */
  docker?: string;
  /** Milliseconds to wait for READY and SERVING (default 10 min: the first run may pull the image). */
  startTimeoutMs?: number;
  signal?: AbortSignal;
  onStderr?: (line: string) => void;
  /** Told about leftover containers stopped before this start (default: a line on stderr). */
  onNotice?: (message: string) => void;
}

export interface DockerRunArgsOptions {
  image: string;
  name: string;
  hostPort: number;
  /** Absolute host paths. */
  runRoot: string;
  dataRoots?: string[];
  gpus?: number | string;
  bindAddress?: string;
  user?: string;
  shmSize?: string;
  maxRuns?: number;
  /** Value of the projhead.client label: `<host>:<pid>` of the starting process. */
  client?: string;
}

/** A running containerised worker; `exited` settles when the `docker run` client exits. */
export interface DockerWorker extends RunningWorker {
  kind: "docker";
  name: string;
  hostPort: number;
  /** The token the worker requires (generated unless one was given). */
  token: string;
  tokenGenerated: boolean;
  exited: Promise<{ exitCode?: number; signal?: string }>;
  dataRoots: readonly string[];
  /** `containerDataPath` for this container's mounts: what to send as data.root. */
  dataPath(path: string): string | undefined;
}

/** The `--gpus` value, or undefined for a CPU-only container. */
export function gpusArg(gpus: number | string | undefined): string | undefined {
  if (gpus === undefined || gpus === null) return undefined;
  const s = String(gpus).trim();
  if (s === "" || s === "0" || s === "none") return undefined;
  return s;
}

/** Host data roots (deduplicated, absolute) and where each is mounted in the container. */
export function dataMounts(dataRoots: readonly string[] = []): { host: string; container: string }[] {
  const unique = [...new Set(dataRoots.map((d) => resolve(d)))];
  return unique.map((host, i) => ({ host, container: `${CONTAINER_DATA_ROOT}/${i}` }));
}

/**
 * Where the worker in the container sees `path` (e.g. an experiment's data.root), given the host
 * data roots it was started with: a path inside a data root becomes /data/<i>/...; a relative
 * path is first resolved from where projhead runs (as for a local worker); a path already under
 * /data that no data root contains is taken as a container path and kept. Otherwise undefined:
 * the container cannot see it.
 */
export function containerDataPath(path: string, dataRoots: readonly string[] = []): string | undefined {
  const abs = resolve(path);
  for (const m of dataMounts(dataRoots)) {
    const rel = relative(m.host, abs);
    if (rel === "") return m.container;
    if (!rel.startsWith("..") && !isAbsolute(rel)) return `${m.container}/${rel.split(sep).join("/")}`;
  }
  if (path === CONTAINER_DATA_ROOT || path.startsWith(`${CONTAINER_DATA_ROOT}/`)) return path;
  return undefined;
}

function checkMountSource(path: string, what: string): void {
  // `-v a:b:ro` splits on ':'; on Windows the drive letter is understood, elsewhere a ':' breaks it.
  if (process.platform !== "win32" && path.includes(":")) throw new Error(`${what}: ${path} contains ':', which docker -v cannot mount`);
}

/**
 * The `docker run` argument list (pure). Foreground (no -d) so the worker's stdout/stderr come
 * through the client; --init so an init reaps the training subprocesses and passes SIGTERM on;
 * -i so the token can be written to the worker's stdin (never an argument or a variable).
 */
export function dockerRunArgs(o: DockerRunArgsOptions): string[] {
  checkMountSource(o.runRoot, "run root");
  const args = ["run", "--rm", "--init", "-i", "--name", o.name, "--label", ROLE_LABEL];
  if (o.client) args.push("--label", `${CLIENT_LABEL}=${o.client}`);
  args.push("--stop-timeout", String(STOP_TIMEOUT_S));
  const gpus = gpusArg(o.gpus);
  if (gpus) args.push("--gpus", gpus);
  if (o.user) args.push("--user", o.user);
  args.push("--shm-size", o.shmSize ?? "8g");
  const bind = o.bindAddress ?? "127.0.0.1";
  args.push("-p", `${bind.includes(":") ? `[${bind}]` : bind}:${o.hostPort}:${CONTAINER_PORT}`);
  args.push("-v", `${o.runRoot}:${CONTAINER_RUN_ROOT}`);
  for (const m of dataMounts(o.dataRoots)) {
    checkMountSource(m.host, "data root");
    args.push("-v", `${m.host}:${m.container}:ro`);
  }
  args.push(o.image);
  // Everything after the image goes to the entrypoint (`python -m projhead_worker serve`).
  args.push("--host", "0.0.0.0", "--port", String(CONTAINER_PORT), "--run-root", CONTAINER_RUN_ROOT, "--data-root", CONTAINER_DATA_ROOT);
  args.push("--token-file", TOKEN_FILE);
  if (o.maxRuns) args.push("--max-runs", String(o.maxRuns));
  return args;
}

/** A port that is free on `host` right now (the OS picks it; docker binds it a moment later). */
export function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", fail);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => (port ? done(port) : fail(new Error("could not find a free port"))));
    });
  });
}

export function dockerExecutable(): string {
  return process.env.PROJHEAD_DOCKER || "docker";
}

function defaultUser(): string | undefined {
  if (process.env.PROJHEAD_DOCKER_USER !== undefined) return process.env.PROJHEAD_DOCKER_USER || undefined;
  return typeof process.getuid === "function" && typeof process.getgid === "function" ? `${process.getuid()}:${process.getgid()}` : undefined;
}

/** The `<host>:<pid>` of this process, as put in the projhead.client label. */
export function clientLabelValue(pid = process.pid): string {
  return `${hostname()}:${pid}`;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM"; // alive, someone else's
  }
}

/**
 * Stops (running) or removes (created, exited) the worker containers on this engine that a
 * projhead process of this host started and that outlived it: a crashed client leaves its
 * `docker run` client and the container behind. `docker stop` lets running jobs checkpoint, so
 * their runs resume. Containers of live projhead processes, and of other hosts, are left alone.
 * Returns the names it cleaned.
 */
export async function cleanupLeftoverContainers(docker = dockerExecutable(), onNotice?: (message: string) => void): Promise<string[]> {
  const ls = await execa(docker, ["ps", "-a", "--filter", `label=${ROLE_LABEL}`, "--format", `{{.Names}}\t{{.State}}\t{{.Label "${CLIENT_LABEL}"}}`], { reject: false, stdin: "ignore", timeout: 30_000 });
  if (ls.exitCode !== 0) return []; // no engine: the start that follows says so
  const host = hostname();
  const leftovers = String(ls.stdout).split("\n").filter(Boolean).map((l) => l.split("\t")).filter(([, , client]) => {
    const m = /^(.*):(\d+)$/.exec(client ?? "");
    return m && m[1] === host && Number(m[2]) !== process.pid && !processAlive(Number(m[2]));
  });
  const cleaned: string[] = [];
  await Promise.all(leftovers.map(async ([name, state, client]) => {
    const r = state === "running"
      ? await execa(docker, ["stop", "-t", String(STOP_TIMEOUT_S), name!], { reject: false, stdin: "ignore", timeout: (STOP_TIMEOUT_S + 15) * 1000 })
      : { exitCode: 0 };
    // --rm removes a stopped container; one that never started (or a stop that failed) is removed here.
    await execa(docker, ["rm", "-f", name!], { reject: false, stdin: "ignore", timeout: 30_000 });
    cleaned.push(name!);
    onNotice?.(`stopped leftover worker container ${name} (${state}; its projhead process ${client} is gone)${r.exitCode === 0 ? "" : " by force"}`);
  }));
  return cleaned;
}

/** The error for a `--gpus` container on an engine without the NVIDIA runtime, when that is what happened. */
function gpuRuntimeMissing(stderr: string[], gpus: string | undefined): string | undefined {
  if (!gpus || !/could not select device driver|nvidia-container|unknown or invalid runtime name: nvidia/i.test(stderr.join("\n"))) return undefined;
  return `--gpus ${gpus}: this host lacks the NVIDIA Container Toolkit, so Docker cannot give the container GPUs. ` +
    "Install it and restart Docker (https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html), " +
    "or leave out --gpus for a CPU-only container";
}

/** Hints for the usual ways `docker run` fails, from its stderr. */
function hintFor(stderr: string[], image: string): string {
  const text = stderr.join("\n");
  if (/Unable to find image|pull access denied|manifest unknown|repository does not exist/i.test(text)) {
    return ` (build the image first: docker build -f docker/Dockerfile -t ${image} .)`;
  }
  if (/Cannot connect to the Docker daemon|permission denied while trying to connect/i.test(text)) {
    return " (is the Docker daemon running, and may this user use it?)";
  }
  if (/port is already allocated|address already in use/i.test(text)) return " (the host port is taken; choose another)";
  return "";
}

export async function startDockerWorker(opts: DockerWorkerOptions = {}): Promise<DockerWorker> {
  const image = opts.image ?? DEFAULT_IMAGE;
  const docker = opts.docker ?? dockerExecutable();
  const runRoot = resolve(opts.runRoot ?? "runs");
  const dataRoots = (opts.dataRoots ?? []).map((d) => resolve(d));
  // A missing bind-mount source would be created by the daemon, owned by root: create the run
  // root as this user, and refuse data roots that do not exist.
  mkdirSync(runRoot, { recursive: true });
  for (const d of dataRoots) {
    if (!existsSync(d) || !statSync(d).isDirectory()) throw new WorkerStartError(`data root ${d}: not a directory`, []);
  }
  const tokenGenerated = !opts.token;
  const token = opts.token || newToken();
  const name = opts.name ?? `projhead-worker-${randomBytes(4).toString("hex")}`;
  const bindAddress = opts.bindAddress ?? "127.0.0.1";
  // Where this process reaches the published port: loopback when it is published everywhere.
  const connectHost = bindAddress === "0.0.0.0" || bindAddress === "::" ? "127.0.0.1" : bindAddress;
  const hostPort = opts.hostPort || (await freePort(connectHost));
  let args: string[];
  try {
    args = dockerRunArgs({
      image, name, hostPort, runRoot, dataRoots, gpus: opts.gpus, bindAddress,
      user: opts.user ?? defaultUser(), shmSize: opts.shmSize, maxRuns: opts.maxRuns, client: clientLabelValue(),
    });
  } catch (err) {
    throw new WorkerStartError((err as Error).message, []);
  }

  await cleanupLeftoverContainers(docker, opts.onNotice ?? ((m) => process.stderr.write(`projhead: ${m}\n`)));

  const stderr: string[] = [];
  const child: ResultPromise = execa(docker, args, {
    // The token reaches the worker through the container's stdin (read once, then closed).
    input: token + "\n",
    buffer: false, // a long-lived server: ring buffer of stderr only
    reject: false,
    // If this process exits, execa stops the docker client, which (sig-proxy) passes SIGTERM on.
    cleanup: true,
    forceKillAfterDelay: (STOP_TIMEOUT_S + 10) * 1000,
  });
  const exited = child.then((r) => ({
    exitCode: r.exitCode,
    signal: r.signal,
    // no exit code and no signal: docker itself could not be started (ENOENT, EACCES)
    spawnError: r.exitCode === undefined && !r.signal ? (r.originalMessage ?? r.shortMessage ?? "spawn failed") : undefined,
  }));
  createInterface({ input: child.stderr! }).on("line", (line) => {
    stderr.push(line);
    if (stderr.length > STDERR_LINES) stderr.shift();
    opts.onStderr?.(line);
  });

  let stopping: Promise<void> | undefined;
  const running = () => child.exitCode === null && child.signalCode === null;
  const stopContainer = (): Promise<void> =>
    (stopping ??= (async () => {
      if (running()) {
        const r = await execa(docker, ["stop", "-t", String(STOP_TIMEOUT_S), name], { reject: false, stdin: "ignore", timeout: (STOP_TIMEOUT_S + 15) * 1000 });
        // The container may already be gone, or docker stop may fail: end the client instead
        // (it passes the signal to the container).
        if (r.exitCode !== 0 && running()) child.kill("SIGTERM");
      }
      await exited;
    })());

  const fail = async (reason: string): Promise<never> => {
    await stopContainer();
    // Belt and braces: a container created but never started (no GPU runtime, say) must not stay.
    await execa(docker, ["rm", "-f", name], { reject: false, stdin: "ignore", timeout: 30_000 });
    await new Promise((r) => setImmediate(r)); // let the stderr reader drain the last lines
    throw new WorkerStartError(gpuRuntimeMissing(stderr, gpusArg(opts.gpus)) ?? reason + hintFor(stderr, image), [...stderr]);
  };

  const timeoutMs = opts.startTimeoutMs ?? 600_000;
  const ready = await new Promise<true | string>((done) => {
    const timer = setTimeout(() => done(`the worker container did not announce READY within ${timeoutMs / 1000} s`), timeoutMs);
    const onAbort = () => done("aborted");
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    // Keep reading stdout for the container's whole life, so a full pipe never blocks it.
    createInterface({ input: child.stdout! }).on("line", (line) => {
      try {
        const msg = JSON.parse(line) as { event?: string };
        if (msg.event === "ready") {
          clearTimeout(timer);
          opts.signal?.removeEventListener("abort", onAbort);
          done(true);
        }
      } catch {
        // not the READY line
      }
    });
    void exited.then((r) => {
      clearTimeout(timer);
      done(
        r.spawnError
          ? `could not run ${docker}: ${r.spawnError} (install Docker, or set PROJHEAD_DOCKER to its path)`
          : `the worker container exited before it was ready (${r.signal ?? `exit code ${r.exitCode}`})`,
      );
    });
  });
  if (ready !== true) return fail(ready);

  const address = connectHost.includes(":") ? `[${connectHost}]:${hostPort}` : `${connectHost}:${hostPort}`;
  try {
    const conn = await connectAndWait(address, { token }, timeoutMs, opts.signal);
    return {
      kind: "docker",
      address,
      name,
      hostPort,
      token,
      tokenGenerated,
      connection: conn,
      exited: exited.then(({ exitCode, signal }) => ({ exitCode, signal })),
      dataRoots,
      dataPath: (path) => containerDataPath(path, dataRoots),
      stderrTail: () => [...stderr],
      stop: async () => {
        conn.close();
        await stopContainer();
      },
    };
  } catch (err) {
    return fail(`the worker container did not become healthy: ${(err as Error).message}`);
  }
}
