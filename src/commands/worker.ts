import type { Command } from "commander";
import { execa } from "execa";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { EXIT, printJson, reportError } from "../cli/output.js";
import { handleInterrupts } from "../cli/signals.js";
import { DEFAULT_IMAGE, dataMounts, startDockerWorker } from "../workers/docker.js";
import { localWorkerCommand } from "../workers/local.js";
import { projectRoot } from "../workers/paths.js";
import { newToken, tokenFromEnv, writeTokenFile } from "../workers/token.js";
import { addSlurmFlags } from "./runtimeFlags.js";
import { startSlurmWorkerCommand, type SlurmStartFlags } from "./workerSlurm.js";

export function registerWorker(program: Command): void {
  const worker = program.command("worker").description("run or manage a training worker");
  worker
    .command("serve")
    .description("run a worker in the foreground (Ctrl-C stops it after its runs checkpoint)")
    .option("--host <host>", "address to bind", "127.0.0.1")
    .option("--port <port>", "port (0 = any free port, announced on stdout)", "50051")
    .option("--run-root <dir>", "where the worker keeps runs", "runs")
    .option("--data-root <dir...>", "directories clients may read datasets from")
    .option("--token-file <file>", "file with the auth token (required off loopback)")
    .option("--tls-cert <file>", "PEM server certificate")
    .option("--tls-key <file>", "PEM server key")
    .option("--tls-client-ca <file>", "require client certificates signed by this CA")
    .option("--max-runs <n>", "runs training at once", "1")
    .option("--insecure-no-auth", "allow a non-loopback bind without a token (dangerous)")
    .option("--python <path>", "Python interpreter")
    .action(async (o: { host: string; port: string; runRoot: string; dataRoot?: string[]; tokenFile?: string; tlsCert?: string; tlsKey?: string; tlsClientCa?: string; maxRuns: string; insecureNoAuth?: boolean; python?: string }) => {
      const { file, args } = localWorkerCommand({ python: o.python, host: o.host, port: Number(o.port), runRoot: o.runRoot, dataRoots: o.dataRoot, maxRuns: Number(o.maxRuns) });
      // The worker runs from the project root: make every path the user gave absolute.
      if (o.tokenFile) args.push("--token-file", resolve(o.tokenFile));
      if (o.tlsCert) args.push("--tls-cert", resolve(o.tlsCert));
      if (o.tlsKey) args.push("--tls-key", resolve(o.tlsKey));
      if (o.tlsClientCa) args.push("--tls-client-ca", resolve(o.tlsClientCa));
      if (o.insecureNoAuth) args.push("--insecure-no-auth");
      const child = execa(file, args, { cwd: projectRoot(), stdio: "inherit", reject: false });
      // Ctrl-C reaches the worker itself (same process group); a SIGTERM sent to this process
      // alone (a service manager, docker stop) is passed on. Either way the worker checkpoints.
      process.on("SIGINT", () => undefined);
      process.on("SIGTERM", () => child.kill("SIGTERM"));
      const r = await child;
      process.exitCode = r.exitCode ?? 1;
    });
  registerWorkerStart(worker);
}

interface StartFlags {
  docker?: boolean;
  gpus?: string;
  image: string;
  runs: string;
  dataRoot?: string[];
  port: string;
  bind: string;
  tokenEnv?: string;
  tokenFile?: string;
  printToken?: boolean;
  maxRuns?: string;
  json?: boolean;
}

/** The token for `worker start`: from a file (created with a new token when missing), an env var, or new. */
function startToken(o: StartFlags): { token?: string; source: string } {
  if (o.tokenFile) {
    const file = resolve(o.tokenFile);
    if (existsSync(file)) {
      const token = readFileSync(file, "utf8").trim();
      if (!token) throw new Error(`--token-file ${file}: empty`);
      return { token, source: `file ${file}` };
    }
    const token = newToken();
    writeTokenFile(file, token);
    return { token, source: `file ${file} (new)` };
  }
  const fromEnv = tokenFromEnv(o.tokenEnv, "--token-env");
  if (fromEnv) return { token: fromEnv.token, source: `$${fromEnv.variable}` };
  return { token: undefined, source: "generated" };
}

function registerWorkerStart(worker: Command): void {
  const start = worker
    .command("start")
    .description("start a worker in a Docker container and keep it until Ctrl-C (then it checkpoints and stops)")
    .option("--docker", "run the worker in a container (the only kind `start` knows; `worker serve` runs one here)")
    .option("--gpus <spec>", "GPUs for the container (all, a count, device=0,1); none when omitted")
    .option("--image <image>", "worker image", DEFAULT_IMAGE)
    .option("--runs <dir>", "host folder for runs, mounted at /runs", "runs")
    .option("--data-root <dir...>", "host dataset folders, mounted read-only at /data/0, /data/1, ...")
    .option("--port <port>", "host port to publish the worker on (0 = any free port)", "50051")
    .option("--bind <address>", "host address to publish on (off loopback the token travels in clear text)", "127.0.0.1")
    .option("--token-env <VAR>", "environment variable holding the token (default PROJHEAD_TOKEN; else one is generated)")
    .option("--token-file <file>", "read the token from this file, or write a new one there (mode 600) when missing")
    .option("--print-token", "print the token (generated tokens are otherwise not shown)")
    .option("--max-runs <n>", "runs training at once")
    .option("--json", "print one JSON line when the worker is ready")
    .option("--slurm", "run the worker as a SLURM batch job instead (docs/CLUSTER.md)");
  addSlurmFlags(start);
  start.action(async (o: StartFlags & SlurmStartFlags) => {
      if (o.slurm) return startSlurmWorkerCommand(o);
      if (!o.docker) {
        process.stderr.write("projhead: worker start needs --docker or --slurm (for a worker on this machine use `projhead worker serve`)\n");
        process.exitCode = EXIT.usage;
        return;
      }
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        process.stderr.write(`projhead: --port ${o.port}: not a port number\n`);
        process.exitCode = EXIT.usage;
        return;
      }
      if (!/^(127\.|localhost$|::1$)/.test(o.bind)) {
        process.stderr.write(`projhead: warning: publishing on ${o.bind} without TLS: the token travels in clear text (use an SSH tunnel, or TLS as in docker/README.md)\n`);
      }
      const interrupts = handleInterrupts(() => process.stderr.write("\nstopping the worker (running jobs checkpoint first; Ctrl-C again to leave now)\n"));
      try {
        const { token, source } = startToken(o);
        const w = await startDockerWorker({
          image: o.image, gpus: o.gpus, token, runRoot: o.runs, dataRoots: o.dataRoot, hostPort: port, bindAddress: o.bind,
          maxRuns: o.maxRuns ? Number(o.maxRuns) : undefined, signal: interrupts.cancel,
          onStderr: (line) => process.stderr.write(line + "\n"),
        });
        const published = `${o.bind}:${w.hostPort}`;
        if (o.json) {
          printJson({ event: "ready", name: w.name, address: w.address, published, image: o.image, gpus: o.gpus ?? null, tokenSource: source, ...(o.printToken ? { token: w.token } : {}) });
        } else {
          const mounts = dataMounts(o.dataRoot);
          process.stdout.write([
            `worker   ${w.name} (image ${o.image}${o.gpus ? `, GPUs ${o.gpus}` : ", CPU only"})`,
            `address  ${published}`,
            `token    ${source}${o.printToken ? `: ${w.token}` : w.tokenGenerated ? " for this session (--print-token or --token-file to use it elsewhere)" : ""}`,
            `runs     ${resolve(o.runs)} -> /runs`,
            ...mounts.map((m) => `data     ${m.host} -> ${m.container}   (experiments name data.root as ${m.container}/...)`),
            `use it   projhead run EXPERIMENT --worker ${w.address}   (with the token in PROJHEAD_TOKEN)`,
            "Ctrl-C stops it.",
          ].join("\n") + "\n");
        }
        const interrupted = new Promise<"interrupted">((done) => interrupts.cancel.addEventListener("abort", () => done("interrupted"), { once: true }));
        const ended = await Promise.race([w.exited.then(() => "exited" as const), interrupted]);
        if (ended === "exited") {
          process.stderr.write(`projhead: the worker container ${w.name} stopped on its own\n`);
          process.exitCode = EXIT.failure;
          await w.stop();
          return;
        }
        // A second Ctrl-C leaves at once; the docker client is then stopped by execa's cleanup
        // and passes SIGTERM on to the container, which still checkpoints.
        await Promise.race([w.stop(), new Promise((done) => interrupts.kill.addEventListener("abort", done, { once: true }))]);
        if (interrupts.kill.aborted) process.exit(EXIT.interrupted); // do not wait for `docker stop`
        process.exitCode = EXIT.ok;
      } catch (err) {
        process.exitCode = interrupts.cancel.aborted ? EXIT.interrupted : reportError(err, Boolean(o.json));
      } finally {
        interrupts.dispose();
      }
    });
}
