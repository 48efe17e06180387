import type { Command } from "commander";
import { execa } from "execa";
import { resolve } from "node:path";
import { localWorkerCommand } from "../runtime/local.js";
import { projectRoot } from "../runtime/paths.js";

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
}
