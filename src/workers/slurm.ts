// The slurm runtime: workers as SLURM batch jobs. Each job `exec`s `python -m projhead_worker
// serve` on its node (so the batch shell's signals reach the worker itself), bound to the node's
// address with a token kept in the shared folder, and announces its address there; the
// orchestrator waits for the job to run and the worker to be healthy, then uses it like a
// remote worker.
//
// Shared folder: <shared>/<session>/ holds the token (0600), the job script, the jobs' output
// and one announcement per job incarnation, workers/<jobid>-<restart count>.json. The session is
// random, so a job id reused after the cluster's state was wiped never meets an old file.
//
// Time limits and preemption: jobs carry --signal=B:USR1@N and --requeue. On SIGUSR1 (the time
// limit is near) the worker checkpoints its runs (they end `interrupted`), stops and requeues its
// own job; on SIGTERM (scancel, preemption) it checkpoints and exits, and a preempted job is
// requeued by SLURM. The pool never requeues a job itself: when a worker stops it waits for that
// job's next incarnation (same id, SLURM_RESTART_COUNT one higher) or, when the job is gone for
// good (cancelled from outside, failed, timed out), submits a new one; the sweep resumes the runs
// on whichever worker comes up first. Every job is cancelled when the pool stops (by id, and by
// the session's job name for one whose sbatch answer was lost), and at process exit as a last
// resort. Every SLURM command has a deadline: a busy or unreachable slurmctld is an error, not a
// hang.
import { execa, execaSync } from "execa";
import { randomBytes } from "node:crypto";
import { accessSync, constants, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import type { TlsOptions } from "../client/client.js";
import { writeFileAtomic } from "../fsutil/atomic.js";
import { connectAndWait } from "./connect.js";
import { localWorkerCommand } from "./local.js";
import { hostDataPath, projectRoot } from "./paths.js";
import { readTls } from "./remote.js";
import { newToken, writeTokenFile } from "./token.js";
import { WorkerStartError, type RunningWorker, type RuntimeConfig, type TlsFiles } from "./types.js";

/** runtime.slurm, as the experiment schema defines it (field docs in src/experiment/schema.ts). */
export type SlurmSettings = NonNullable<RuntimeConfig["slurm"]>;

export interface SlurmPoolOptions {
  settings: SlurmSettings;
  /** Nodes per job (the largest train.nnodes of the runs): runs train under srun + torchrun. */
  nnodes?: number;
  /** Where the workers keep runs: must be the same path on every node (a shared file system). */
  runRoot: string;
  dataRoots?: string[];
  python?: string;
  /** Client TLS to reach the workers (runtime.tls). */
  clientTls?: TlsFiles;
  maxRuns?: number;
  /** Job state changes, for progress output. */
  onJobState?: (change: JobStateChange) => void;
  /** How long a started job's worker may take to announce itself and be healthy (default 5 min). */
  startTimeoutMs?: number;
  signal?: AbortSignal;
  /** The commands (default sbatch, squeue, scancel, scontrol on PATH). */
  commands?: Partial<SlurmCommands>;
}

export interface SlurmCommands {
  sbatch: string;
  squeue: string;
  scancel: string;
  scontrol: string;
  sinfo: string;
}

export interface JobStateChange {
  jobId: string;
  slot: number;
  state: string;
  reason?: string;
  node?: string;
}

/** A worker in a SLURM job. */
export interface SlurmWorker extends RunningWorker {
  kind: "slurm";
  jobId: string;
  slot: number;
  restartCount: number;
  node: string;
}

/** A job script's directives and body (pure, for tests and docs/CLUSTER.md). */
export function sbatchScript(o: {
  settings: SlurmSettings;
  nnodes?: number;
  sessionDir: string;
  runRoot: string;
  dataRoots?: string[];
  python?: string;
  maxRuns?: number;
  projectDir?: string;
}): string {
  const s = o.settings;
  const nnodes = o.nnodes ?? 1;
  const d = (line: string) => `#SBATCH ${line}`;
  const lines = [
    "#!/bin/bash",
    d(`--job-name=${jobName(o.sessionDir)}`),
    d(`--output=${o.sessionDir}/logs/%j.out`),
    d("--open-mode=append"),
    d("--requeue"),
    d(`--signal=B:USR1@${s.signalBeforeS ?? 120}`),
    d(`--nodes=${nnodes}`),
    d("--ntasks-per-node=1"),
  ];
  if (s.partition) lines.push(d(`--partition=${s.partition}`));
  if (s.gpusPerJob) lines.push(d(`--gpus-per-node=${s.gpusPerJob}`));
  if (s.cpus) lines.push(d(`--cpus-per-task=${s.cpus}`));
  if (s.memory) lines.push(d(`--mem=${s.memory}`));
  if (s.time) lines.push(d(`--time=${s.time}`));
  if (s.account) lines.push(d(`--account=${s.account}`));
  if (s.qos) lines.push(d(`--qos=${s.qos}`));
  for (const a of s.sbatchArgs ?? []) lines.push(d(a));
  const { file, args } = localWorkerCommand({ python: o.python, host: "HOST", port: 0, runRoot: o.runRoot, dataRoots: o.dataRoots, maxRuns: o.maxRuns });
  const worker = [file, ...args].map((a) => (a === "HOST" ? '"$host"' : shellQuote(a)));
  worker.push("--token-file", shellQuote(join(o.sessionDir, "token")), "--port-file", '"$announce"');
  if (s.tls) {
    worker.push("--tls-cert", shellQuote(resolve(s.tls.cert)), "--tls-key", shellQuote(resolve(s.tls.key)));
    if (s.tls.clientCa) worker.push("--tls-client-ca", shellQuote(resolve(s.tls.clientCa)));
  }
  lines.push(
    "",
    "set -euo pipefail",
    "# The node's first non-loopback address (override with PROJHEAD_BIND_HOST).",
    `host="\${PROJHEAD_BIND_HOST:-$(hostname -I | awk '{print $1}')}"`,
    '[ -n "$host" ] || { echo "projhead: no non-loopback address on $(hostname)" >&2; exit 1; }',
    "# One announcement per incarnation: a requeued job runs again under the same id.",
    `announce=${shellQuote(join(o.sessionDir, "workers"))}/"\${SLURM_JOB_ID}-\${SLURM_RESTART_COUNT:-0}.json"`,
    "# Runs train under srun + torchrun (c10d rendezvous at this address) over the nodes of this job.",
    "export PROJHEAD_LAUNCH=srun",
    'export PROJHEAD_RDZV_HOST="$host"',
    `cd ${shellQuote(o.projectDir ?? projectRoot())}`,
    "# exec: the time-limit signal (B: the batch shell only) must reach the worker itself.",
    `exec ${worker.join(" ")}`,
    "",
  );
  return lines.join("\n");
}

/** The session's job name: unique, so that stop() can find a job whose sbatch answer was lost. */
export function jobName(sessionDir: string): string {
  return `projhead-${basename(sessionDir)}`;
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The error of a command that is not there, in words. */
function missingCommand(cmd: string, err: unknown): Error | null {
  const e = err as { code?: string };
  if (e?.code === "ENOENT") return new SlurmConfigError(`runtime slurm: \`${cmd}\` not found on PATH; run on a machine with the SLURM client commands (a login node)`);
  return null;
}

interface JobRecord {
  jobId: string;
  slot: number;
  state: string;
  reason: string;
  node: string;
  /** Announcement files already used. */
  used: Set<string>;
  /** The pool cancelled it. */
  cancelling: boolean;
  /** Last time squeue listed it. */
  seenAt: number;
  /** When it was last seen to end (0: not ended): polled a while longer, since a requeue brings it back. */
  goneAt: number;
  /** Nodes of the job that were down or not responding when it stopped running ("ph-node2 (down*: Not responding)"). */
  lostNodes: string[];
  /** When squeue last showed it go back to pending after it ran (0: never): its worker then was gone. */
  requeuedAt: number;
}

// Pending reasons that never clear by waiting: the job is cancelled and the pool fails naming it.
const HOPELESS_REASON = /Invalid|NotAllowed|PartitionConfig|not known|not permitted|can't use this partition|MaxTimeLimit|MaxCpu|MaxGRES|MaxMem/i;
const POLL_MS = 1_000;
/** Deadlines of the SLURM commands: slurmctld answers in milliseconds when it is well. */
const SUBMIT_TIMEOUT_MS = 60_000;
const QUERY_TIMEOUT_MS = 20_000;
/** How often a stopped worker's address is asked again while its job settles. */
const PROBE_MS = 2_000;
/** How long an ended job is still polled: a requeued job passes through COMPLETING, even ends for a moment. */
const GONE_POLL_MS = 30_000;
/** Seconds between a requeued job's end and its next start (see startSoon). */
const REQUEUE_START_DELAY_S = 3;
/** How often stop() repeats scancel: a job cancelled while it completes a requeue comes back pending. */
const CANCEL_AGAIN_MS = 3_000;
/** A job between its worker's exit and its end (or its requeue). */
const SETTLING = new Set(["RUNNING", "COMPLETING", "CONFIGURING", "SUBMITTED", "STOPPED", "SIGNALING"]);
const REQUEUED = new Set(["PENDING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD"]);

export class SlurmPool {
  readonly sessionDir: string;
  readonly token: string;
  private readonly cmd: SlurmCommands;
  private readonly jobs = new Map<string, JobRecord>();
  private readonly tls: TlsOptions | undefined;
  private poller: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Set when stop() begins: nothing new is submitted or replaced from then on. */
  private stopping = false;
  /** sbatch calls in flight: stop() waits for them so a job submitted meanwhile is cancelled too. */
  private readonly submitting = new Set<Promise<unknown>>();
  private readonly exitHook = () => this.cancelAllSync();
  private readonly script: string;
  private readonly handedOut: RunningWorker[] = [];
  private changed: () => void = () => undefined;
  private change = new Promise<void>((r) => (this.changed = r));

  private constructor(private readonly o: SlurmPoolOptions, sessionDir: string, token: string) {
    this.sessionDir = sessionDir;
    this.token = token;
    this.cmd = { sbatch: "sbatch", squeue: "squeue", scancel: "scancel", scontrol: "scontrol", sinfo: "sinfo", ...o.commands };
    this.tls = readTls(o.clientTls);
    this.script = join(sessionDir, "job.sh");
    process.on("exit", this.exitHook);
  }

  /** Makes the session folder (token 0600, job script) and checks the shared folder is writable. */
  static create(o: SlurmPoolOptions): SlurmPool {
    const shared = resolve(o.settings.shared ?? ".projhead-slurm");
    try {
      mkdirSync(shared, { recursive: true });
      accessSync(shared, constants.W_OK);
    } catch (err) {
      throw new SlurmConfigError(`runtime.slurm.shared: ${shared} is not a writable folder (${(err as NodeJS.ErrnoException).code ?? err})`);
    }
    const session = `${new Date().toISOString().slice(0, 10)}-${randomBytes(4).toString("hex")}`;
    const dir = join(shared, session);
    try {
      for (const sub of ["workers", "logs"]) mkdirSync(join(dir, sub), { recursive: true, mode: 0o700 });
      const token = newToken();
      writeTokenFile(join(dir, "token"), token);
      const pool = new SlurmPool(o, dir, token);
      writeFileAtomic(pool.script, sbatchScript({ settings: o.settings, nnodes: o.nnodes, sessionDir: dir, runRoot: resolve(o.runRoot), dataRoots: o.dataRoots, python: o.python, maxRuns: o.maxRuns }), { mode: 0o700 });
      return pool;
    } catch (err) {
      if (err instanceof SlurmConfigError) throw err;
      throw new SlurmConfigError(`runtime.slurm.shared: cannot write in ${dir} (${(err as NodeJS.ErrnoException).code ?? err})`);
    }
  }

  /** Submits one job; returns its id. */
  async submit(slot: number): Promise<string> {
    if (this.stopping) throw new WorkerStartError("runtime slurm: the pool is stopping; no job submitted", []);
    const p = this.submitNow(slot);
    this.submitting.add(p);
    try {
      return await p;
    } finally {
      this.submitting.delete(p);
    }
  }

  private async submitNow(slot: number): Promise<string> {
    let out: string;
    try {
      const r = await execa(this.cmd.sbatch, ["--parsable", this.script], { reject: false, timeout: SUBMIT_TIMEOUT_MS });
      if (r.timedOut) throw new SlurmConfigError(`runtime slurm: sbatch did not answer within ${SUBMIT_TIMEOUT_MS / 1000} s (is slurmctld up? \`sinfo\` tells)`);
      if (r.exitCode === undefined) throw r.cause ?? new Error(r.message); // not started at all (ENOENT)
      if (r.exitCode !== 0) {
        const msg = (r.stderr || r.stdout).split("\n").filter((l) => l.trim()).map((l) => l.replace(/^sbatch: error: /, "")).join("; ");
        throw new SlurmConfigError(`runtime slurm: sbatch refused the job: ${msg || `exit code ${r.exitCode}`}`);
      }
      out = r.stdout.trim();
    } catch (err) {
      throw missingCommand(this.cmd.sbatch, err) ?? err;
    }
    const jobId = out.split(";")[0]!.trim();
    if (!/^\d+(_\d+)?$/.test(jobId)) throw new Error(`runtime slurm: sbatch printed no job id (${out})`);
    this.jobs.set(jobId, { jobId, slot, state: "SUBMITTED", reason: "", node: "", used: new Set(), cancelling: false, seenAt: Date.now(), goneAt: 0, lostNodes: [], requeuedAt: 0 });
    if (this.stopping) {
      // stop() began while sbatch ran: this job must not outlive the pool.
      await this.cancel([jobId]);
      throw new WorkerStartError(`runtime slurm: the pool is stopping; job ${jobId} cancelled`, []);
    }
    this.o.onJobState?.({ jobId, slot, state: "SUBMITTED" });
    this.startPolling();
    return jobId;
  }

  /** Every job id this pool submitted. */
  jobIds(): string[] {
    return [...this.jobs.keys()];
  }

  private startPolling(): void {
    if (this.poller || this.stopped) return;
    const tick = async () => {
      try {
        await this.poll();
      } catch {
        // squeue failing once (slurmctld busy) is retried on the next tick
      }
      if (!this.stopped) this.poller = setTimeout(tick, POLL_MS);
    };
    this.poller = setTimeout(tick, 0);
  }

  /** One squeue of our jobs: state changes go to onJobState; waiters are woken. */
  private async poll(): Promise<void> {
    const ids = [...this.jobs.values()].filter(tracked).map((j) => j.jobId);
    if (!ids.length) return;
    const r = await execa(this.cmd.squeue, ["-h", "-t", "all", "-j", ids.join(","), "-o", "%i|%T|%r|%N"], { reject: false, timeout: QUERY_TIMEOUT_MS });
    if (r.exitCode !== 0 && !/Invalid job id/i.test(r.stderr)) return; // timed out or busy: next tick
    const listed = new Map<string, { state: string; reason: string; node: string }>();
    for (const line of r.stdout.split("\n")) {
      const [id, state, reason, node] = line.trim().split("|");
      if (id && state) listed.set(id, { state, reason: reason === "None" ? "" : reason ?? "", node: node ?? "" });
    }
    for (const id of ids) {
      const job = this.jobs.get(id)!;
      const now = listed.get(id);
      // Gone from squeue: its record aged out (MinJobAge) after it ended.
      const next = now ?? { state: job.state === "SUBMITTED" && Date.now() - job.seenAt < 10_000 ? job.state : "ENDED", reason: "", node: job.node };
      if (now) job.seenAt = Date.now();
      if (next.state !== job.state || next.reason !== job.reason || (next.node && next.node !== job.node)) {
        // It stopped running: a node of its that is down (its slurmd or its link gone) is the
        // cause, named in the progress and in the worker's log tail.
        const stoppedRunning = job.state === "RUNNING" && next.state !== "RUNNING";
        // (Its node list shrinks to the nodes still completing: the one that failed is seen first.)
        const lost = (stoppedRunning || next.state === "NODE_FAIL") && job.node ? await this.downNodes(job.node) : [];
        if (next.state === "RUNNING") job.lostNodes = [];
        else if (lost.length) job.lostNodes = lost;
        const lostReason = job.lostNodes.length ? `node ${job.lostNodes.join(", ")}` : undefined;
        // Pending again after it ran: SLURM requeued it (the worker's own requeue, preemption, a node failure).
        if (REQUEUED.has(next.state) && !REQUEUED.has(job.state) && job.state !== "SUBMITTED") {
          job.requeuedAt = Date.now();
          this.o.onJobState?.({ jobId: id, slot: job.slot, state: "REQUEUED", reason: lostReason });
        }
        job.state = next.state;
        job.goneAt = isGone(next.state) ? Date.now() : 0;
        job.reason = next.reason;
        if (next.node) job.node = next.node;
        this.o.onJobState?.({ jobId: id, slot: job.slot, state: job.state, reason: job.reason || (isGone(job.state) ? lostReason : undefined), node: job.node || undefined });
      }
    }
    this.changed();
    this.change = new Promise<void>((res) => (this.changed = res));
  }

  private async nextChange(ms = POLL_MS * 2): Promise<void> {
    await Promise.race([this.change, new Promise((r) => setTimeout(r, ms))]);
  }

  /**
   * Those nodes of `nodes` (a SLURM node list) that are down, failing, drained or not responding
   * (sinfo marks those with `*`), each with its state and SLURM's reason.
   */
  private async downNodes(nodes: string): Promise<string[]> {
    const r = await execa(this.cmd.sinfo, ["-h", "-N", "-n", nodes, "-o", "%N|%T|%E"], { reject: false, timeout: QUERY_TIMEOUT_MS }).catch(() => null);
    if (!r || r.exitCode !== 0) return [];
    const out = new Set<string>();
    for (const line of r.stdout.split("\n")) {
      const [node, state, reason] = line.trim().split("|");
      if (node && state && /down|fail|drain|\*$/i.test(state)) out.add(`${node} (${state}${reason && reason !== "none" ? `: ${reason}` : ""})`);
    }
    return [...out];
  }

  /** The log of a job, last lines. */
  jobLogTail(jobId: string, lines = 20): string[] {
    try {
      return readFileSync(join(this.sessionDir, "logs", `${jobId}.out`), "utf8").split("\n").filter((l) => l.trim()).slice(-lines);
    } catch {
      return [];
    }
  }

  /** Waits for this job's next worker incarnation to announce itself and be healthy. */
  async waitForWorker(jobId: string): Promise<SlurmWorker> {
    const job = this.jobs.get(jobId);
    if (!job) throw new Error(`runtime slurm: job ${jobId} is not one of this pool's`);
    const timeoutMs = this.o.startTimeoutMs ?? 300_000;
    let runningSince: number | null = null;
    for (;;) {
      this.o.signal?.throwIfAborted();
      if (this.stopped) throw new WorkerStartError("runtime slurm: the pool stopped", []);
      if (job.state === "PENDING" && HOPELESS_REASON.test(job.reason)) {
        await this.cancel([jobId]);
        throw new SlurmConfigError(`runtime slurm: job ${jobId} cannot start: ${job.reason} (cancelled)`);
      }
      const file = this.freshAnnouncement(job);
      if (file) {
        const ready = JSON.parse(readFileSync(file, "utf8")) as { address: string };
        const restartCount = Number(/-(\d+)\.json$/.exec(file)?.[1] ?? 0);
        job.used.add(file);
        try {
          const connection = await connectAndWait(ready.address, { token: this.token, tls: this.tls }, 60_000, this.o.signal);
          return this.worker(job, ready.address, connection, restartCount);
        } catch (err) {
          if (this.o.signal?.aborted) throw err;
          // That incarnation went away before it was healthy; wait for the next one.
          continue;
        }
      }
      if (job.state === "RUNNING") runningSince ??= Date.now();
      else runningSince = null;
      if (runningSince !== null && Date.now() - runningSince > timeoutMs) {
        throw new WorkerStartError(`runtime slurm: job ${jobId} runs but its worker did not announce itself within ${timeoutMs / 1000} s`, this.jobLogTail(jobId));
      }
      if (isGone(job.state)) {
        throw new WorkerStartError(`runtime slurm: job ${jobId} ended (${job.state}${job.reason ? `: ${job.reason}` : ""}) before its worker was ready`, this.jobLogTail(jobId));
      }
      await this.nextChange(500);
    }
  }

  private freshAnnouncement(job: JobRecord): string | null {
    const dir = join(this.sessionDir, "workers");
    const mine = readdirSync(dir).filter((f) => f.startsWith(`${job.jobId}-`) && f.endsWith(".json")).map((f) => join(dir, f));
    return mine.filter((f) => !job.used.has(f)).sort((a, b) => restartOf(b) - restartOf(a))[0] ?? null;
  }

  private worker(job: JobRecord, address: string, connection: RunningWorker["connection"], restartCount: number): SlurmWorker {
    const handedOutAt = Date.now();
    const w: SlurmWorker = {
      kind: "slurm", address, connection, jobId: job.jobId, slot: job.slot, restartCount, node: job.node,
      dataRoots: (this.o.dataRoots ?? []).map((d) => resolve(d)), dataPath: hostDataPath, // one file system
      stderrTail: () => [...this.jobLogTail(job.jobId), ...job.lostNodes.map((n) => `slurm job ${job.jobId} stopped with node ${n}`)],
      // Dead once its job is known to have ended, to have been requeued since this incarnation
      // announced itself (seen going from running to pending: a node failure, preemption), or a
      // newer incarnation announced itself. The state squeue last showed may lag behind the
      // worker (PENDING while it already serves): the health check in usable() decides the rest.
      alive: () => !isGone(job.state) && job.requeuedAt < handedOutAt && this.freshAnnouncement(job) === null,
      stop: async () => connection.close(),
    };
    this.handedOut.push(w);
    return w;
  }

  /** Whether a worker can take another run: its job runs and it answers SERVING. */
  async usable(w: RunningWorker): Promise<boolean> {
    if (w.alive && !w.alive()) return false;
    try {
      return (await w.connection.checkHealth("", 5_000)) === "SERVING";
    } catch {
      return false;
    }
  }

  /**
   * A worker in place of a lost one: the same worker when it still answers (a health check that
   * timed out on a busy machine), its job's next incarnation when SLURM requeued the job (the
   * worker's own requeue before the time limit, or preemption), else a new job (unless
   * `newJob: false`). Null when the pool is stopping, or when no new job was wanted.
   */
  async replace(lost: RunningWorker, opts: { newJob?: boolean } = {}): Promise<SlurmWorker | null> {
    try {
      return await this.replaceNow(lost, opts);
    } catch (err) {
      // Stopping (Ctrl-C, the sweep ended) while the replacement was awaited: none will come.
      if (this.stopping || this.stopped || this.o.signal?.aborted) return null;
      throw err;
    }
  }

  private async replaceNow(lost: RunningWorker, opts: { newJob?: boolean }): Promise<SlurmWorker | null> {
    const old = lost as SlurmWorker;
    const job = this.jobs.get(old.jobId);
    // A job this pool cancelled (the sweep is stopping) is never replaced by a new one.
    if (!job || this.stopped || this.stopping || job.cancelling) {
      lost.connection.close();
      return null;
    }
    // Let the job's state settle: its worker has stopped, and the job ends or is requeued.
    const until = Date.now() + 60_000;
    let probedAt = Date.now();
    while (SETTLING.has(job.state) && this.freshAnnouncement(job) === null && Date.now() < until && !this.stopping) {
      if (Date.now() - probedAt >= PROBE_MS) {
        probedAt = Date.now();
        if (await this.usable(lost)) return old; // it was only slow to answer
      }
      await this.nextChange();
    }
    lost.connection.close();
    if (this.stopped || this.stopping || job.cancelling) return null;
    if (this.freshAnnouncement(job) || REQUEUED.has(job.state)) {
      await this.startSoon(job);
      try {
        return await this.waitForWorker(job.jobId);
      } catch (err) {
        // The requeued job failed to start again (a node that refuses it): a new job takes over.
        if (this.stopping || this.o.signal?.aborted || !isGone(job.state) || opts.newJob === false) throw err;
      }
    }
    if (SETTLING.has(job.state)) {
      // Still running a minute after its worker stopped answering: a hung job; it makes room.
      await execa(this.cmd.scancel, [job.jobId], { reject: false, timeout: QUERY_TIMEOUT_MS });
    }
    // Gone for good (cancelled from outside, failed, timed out, aged out of squeue).
    if (opts.newJob === false) return null;
    const jobId = await this.submit(job.slot);
    return this.waitForWorker(jobId);
  }

  /**
   * A requeued job waits (120 s by default) before it is eligible again: make it eligible in a
   * few seconds. Not at once: started again within the second its old incarnation's credential
   * was revoked, the node refuses it ("Job credential revoked") and the job ends FAILED.
   */
  private async startSoon(job: JobRecord): Promise<void> {
    if (REQUEUED.has(job.state)) await execa(this.cmd.scontrol, ["update", `JobId=${job.jobId}`, `StartTime=now+${REQUEUE_START_DELAY_S}`], { reject: false, timeout: QUERY_TIMEOUT_MS });
  }

  async cancel(ids: string[]): Promise<void> {
    const live = ids.filter((id) => {
      const j = this.jobs.get(id);
      return j && tracked(j);
    });
    for (const id of ids) {
      const j = this.jobs.get(id);
      if (j) j.cancelling = true;
    }
    if (!live.length) return;
    await execa(this.cmd.scancel, live, { reject: false, timeout: QUERY_TIMEOUT_MS });
  }

  /**
   * Cancels every job of this pool and waits (up to a minute) until squeue no longer lists them
   * as active, repeating scancel meanwhile: one cancelled in the middle of a requeue comes back.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopping = true;
    await Promise.allSettled([...this.submitting]);
    const cancelAll = async () => {
      await this.cancel(this.jobIds());
      // A job whose sbatch timed out may exist all the same: the session's name finds it.
      await execa(this.cmd.scancel, ["--name", jobName(this.sessionDir)], { reject: false, timeout: QUERY_TIMEOUT_MS }).catch(() => undefined);
    };
    await cancelAll();
    const until = Date.now() + 60_000;
    let cancelledAt = Date.now();
    while (Date.now() < until) {
      await new Promise((r) => setTimeout(r, 300));
      await this.poll().catch(() => undefined);
      if ([...this.jobs.values()].every((j) => isGone(j.state))) break;
      if (Date.now() - cancelledAt >= CANCEL_AGAIN_MS) {
        cancelledAt = Date.now();
        await cancelAll();
      }
    }
    this.stopped = true;
    if (this.poller) clearTimeout(this.poller);
    for (const w of this.handedOut) w.connection.close();
    process.off("exit", this.exitHook);
  }

  private cancelAllSync(): void {
    const live = [...this.jobs.values()].filter((j) => !isGone(j.state)).map((j) => j.jobId);
    if (live.length) {
      try {
        execaSync(this.cmd.scancel, live, { reject: false, timeout: QUERY_TIMEOUT_MS });
      } catch {
        // nothing more can be done at exit
      }
    }
  }
}

/** Whether a job may still run: not ended, or ended so recently that a requeue may bring it back. */
function tracked(j: JobRecord): boolean {
  return !isGone(j.state) || Date.now() - j.goneAt < GONE_POLL_MS;
}

function restartOf(file: string): number {
  return Number(/-(\d+)\.json$/.exec(file)?.[1] ?? 0);
}

/** States after which a job will not run again without a requeue. */
function isGone(state: string): boolean {
  return ["COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "PREEMPTED", "ENDED"].includes(state);
}

/** A setting the cluster refuses (partition, account, shared folder): exit code 2 in the CLI. */
export class SlurmConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SlurmConfigError";
  }
}

/** A pool of `count` worker jobs: the jobs are submitted at once; workers come as they start. */
export async function startSlurmPool(count: number, o: SlurmPoolOptions): Promise<{ pool: SlurmPool; workers: Promise<SlurmWorker>[] }> {
  const pool = SlurmPool.create(o);
  const ids: string[] = [];
  try {
    for (let slot = 0; slot < count; slot++) ids.push(await pool.submit(slot));
  } catch (err) {
    await pool.stop();
    throw err;
  }
  const workers = ids.map((id) => pool.waitForWorker(id));
  // Whoever takes a worker handles its failure; one never taken must not crash the process.
  for (const w of workers) w.catch(() => undefined);
  return { pool, workers };
}

