// Flags shared by every command that needs a worker: which runtime, and how to reach it.
import type { Command } from "commander";
import type { RuntimeConfig } from "../runtime/index.js";

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
}

export function addRuntimeFlags(cmd: Command): Command {
  return cmd
    .option("--worker <host:port>", "use a running worker at this address instead of starting one")
    .option("--token-env <VAR>", "environment variable holding the worker's token (default PROJHEAD_TOKEN)")
    .option("--tls-ca <file>", "PEM CA of the worker's certificate (enables TLS)")
    .option("--tls-cert <file>", "PEM client certificate (mutual TLS)")
    .option("--tls-key <file>", "PEM client key (mutual TLS)")
    .option("--tls-server-name <name>", "name to check in the worker's certificate")
    .option("--docker", "start the worker in a Docker container")
    .option("--image <image>", "worker image for --docker", "projhead-worker:latest")
    .option("--gpus <spec>", "GPUs for --docker (e.g. all, 1, device=0)")
    .option("--python <path>", "Python interpreter for a local worker");
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
  if (o.python) return { kind: "local", python: o.python };
  return fallback ?? { kind: "local" };
}
