// Flags shared by every command that needs a worker: which runtime, and how to reach it.
import type { Command } from "commander";
import { DEFAULT_IMAGE } from "../workers/docker.js";
import type { RuntimeConfig } from "../workers/index.js";
import { SlurmConfigError, type SlurmSettings } from "../workers/slurm.js";

export interface RuntimeFlags {
  worker?: string;
  tokenEnv?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsServerName?: string;
  docker?: boolean;
  image?: string;
  gpus?: string;
  python?: string;
  slurm?: boolean;
  partition?: string;
  gpusPerJob?: string;
  cpus?: string;
  memory?: string;
  time?: string;
  account?: string;
  qos?: string;
  sbatchArg?: string[];
  shared?: string;
  jobs?: string;
}

export function addRuntimeFlags(cmd: Command): Command {
  cmd
    .option("--worker <host:port>", "use a running worker at this address instead of starting one")
    .option("--token-env <VAR>", "environment variable holding the worker's token (default PROJHEAD_TOKEN)")
    .option("--tls-ca <file>", "PEM CA of the worker's certificate (enables TLS)")
    .option("--tls-cert <file>", "PEM client certificate (mutual TLS)")
    .option("--tls-key <file>", "PEM client key (mutual TLS)")
    .option("--tls-server-name <name>", "name to check in the worker's certificate")
    .option("--docker", "start the worker in a Docker container")
    .option("--image <image>", "worker image for --docker", DEFAULT_IMAGE)
    .option("--gpus <spec>", "GPUs for --docker (e.g. all, 1, device=0)")
    .option("--python <path>", "Python interpreter for a local worker")
    .option("--slurm", "run workers as SLURM batch jobs (docs/CLUSTER.md); the flags below override runtime.slurm");
  return addSlurmFlags(cmd);
}

/** The settings of the worker jobs (runtime.slurm). */
export function addSlurmFlags(cmd: Command): Command {
  return cmd
    .option("--partition <name>", "SLURM partition for --slurm")
    .option("--gpus-per-job <n>", "GPUs per node of each --slurm job")
    .option("--cpus <n>", "CPUs of each --slurm job")
    .option("--memory <size>", "memory of each --slurm job (SLURM syntax, e.g. 32G)")
    .option("--time <limit>", "time limit of each --slurm job (SLURM syntax, e.g. 4:00:00)")
    .option("--account <name>", "SLURM account for --slurm")
    .option("--qos <name>", "SLURM QoS for --slurm")
    .option("--sbatch-arg <arg...>", "more sbatch options for --slurm (e.g. --constraint=a100)")
    .option("--shared <dir>", "folder every node sees at the same path (token, announcements, job logs)")
    .option("--jobs <n>", "worker jobs at once for --slurm");
}

/** The runtime.slurm settings: the experiment's, with what the flags set on top. */
export function slurmFromFlags(o: RuntimeFlags, base: SlurmSettings = {}): SlurmSettings {
  const int = (v: string | undefined, flag: string) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new SlurmConfigError(`${flag}: got ${JSON.stringify(v)}, expected a whole number`);
    return n;
  };
  const set = <T>(v: T | undefined, fallback: T | undefined) => (v === undefined ? fallback : v);
  return {
    ...base,
    partition: set(o.partition, base.partition),
    gpusPerJob: set(int(o.gpusPerJob, "--gpus-per-job"), base.gpusPerJob),
    cpus: set(int(o.cpus, "--cpus"), base.cpus),
    memory: set(o.memory, base.memory),
    time: set(o.time, base.time),
    account: set(o.account, base.account),
    qos: set(o.qos, base.qos),
    sbatchArgs: o.sbatchArg ? [...(base.sbatchArgs ?? []), ...o.sbatchArg] : base.sbatchArgs,
    shared: set(o.shared, base.shared),
    jobs: set(int(o.jobs, "--jobs"), base.jobs),
  };
}

/** The TLS settings the --tls-* flags ask for (undefined: plaintext). */
export function tlsFromFlags(o: RuntimeFlags): RuntimeConfig["tls"] {
  return o.tlsCa || o.tlsCert ? { ca: o.tlsCa, cert: o.tlsCert, key: o.tlsKey, serverName: o.tlsServerName } : undefined;
}

/** The runtime the flags ask for, or `fallback` (the experiment's) when they ask for none. */
export function runtimeFromFlags(o: RuntimeFlags, fallback?: RuntimeConfig): RuntimeConfig {
  const tls = tlsFromFlags(o);
  if (o.worker) return { kind: "remote", address: o.worker, tokenEnv: o.tokenEnv, tls };
  if (o.docker) return { kind: "docker", image: o.image, gpus: o.gpus, tokenEnv: o.tokenEnv };
  if (o.slurm || fallback?.kind === "slurm") {
    const base = fallback?.kind === "slurm" ? fallback : undefined;
    return { ...base, kind: "slurm", python: o.python ?? base?.python, tls: tls ?? base?.tls, slurm: slurmFromFlags(o, base?.slurm) };
  }
  if (o.python) return { kind: "local", python: o.python };
  return fallback ?? { kind: "local" };
}
