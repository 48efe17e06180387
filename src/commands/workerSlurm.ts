// `projhead worker start --slurm`: one worker as a SLURM batch job, held until Ctrl-C (then its
// job is cancelled; the worker checkpoints its runs first). Prints where the worker listens and
// where its token is, for `projhead run --worker ADDRESS` with PROJHEAD_TOKEN from that file.
import { resolve } from "node:path";
import { EXIT, printJson, reportError } from "../cli/output.js";
import { jobStateLine } from "../cli/progress.js";
import { handleInterrupts } from "../cli/signals.js";
import { startSlurmPool, type SlurmWorker } from "../workers/slurm.js";
import { slurmFromFlags, type RuntimeFlags } from "./runtimeFlags.js";

export interface SlurmStartFlags extends RuntimeFlags {
  runs: string;
  dataRoot?: string[];
  maxRuns?: string;
  json?: boolean;
}

export async function startSlurmWorkerCommand(o: SlurmStartFlags): Promise<void> {
  const interrupts = handleInterrupts(() => process.stderr.write("\ncancelling the worker's job (its runs checkpoint first)\n"));
  let pool: Awaited<ReturnType<typeof startSlurmPool>>["pool"] | undefined;
  try {
    const started = await startSlurmPool(1, {
      settings: slurmFromFlags(o), runRoot: resolve(o.runs), dataRoots: o.dataRoot, python: o.python,
      maxRuns: o.maxRuns ? Number(o.maxRuns) : undefined, signal: interrupts.cancel,
      onJobState: (c) => process.stderr.write(jobStateLine(c)),
    });
    pool = started.pool;
    let w: SlurmWorker | null = await started.workers[0]!;
    const tokenFile = resolve(pool.sessionDir, "token");
    const announce = (w: SlurmWorker, again: boolean) => {
      if (o.json) printJson({ event: "ready", jobId: w.jobId, node: w.node, address: w.address, tokenFile });
      else {
        process.stdout.write([
          ...(again ? ["", "the worker moved (its job was requeued):"] : []),
          `worker   slurm job ${w.jobId} on ${w.node}`,
          `address  ${w.address}`,
          `token    ${tokenFile}`,
          `use it   PROJHEAD_TOKEN=$(cat ${tokenFile}) projhead run EXPERIMENT --worker ${w.address}`,
          "Ctrl-C cancels the job.",
        ].join("\n") + "\n");
      }
    };
    announce(w, false);
    // Held until Ctrl-C or until the job ends. A worker whose job SLURM requeued (its time
    // limit's warning, preemption) is followed to the next incarnation, whose address is printed.
    const aborted = new Promise<void>((r) => interrupts.cancel.addEventListener("abort", () => r(), { once: true }));
    const pause = (ms: number) => Promise.race([aborted, new Promise<void>((r) => setTimeout(r, ms))]);
    while (w && !interrupts.cancel.aborted) {
      // Its job runs and it answers SERVING: asked again in a second.
      if (await pool.usable(w)) {
        await pause(1_000);
        continue;
      }
      if (interrupts.cancel.aborted) break;
      process.stderr.write(`projhead: the worker of slurm job ${w.jobId} does not answer; waiting for the next one\n`);
      // Its job again when SLURM requeued it; a job that ended (scancel, failure) is not replaced.
      const next: SlurmWorker | null = await pool.replace(w, { newJob: false });
      if (!next) {
        if (!interrupts.cancel.aborted) {
          process.stderr.write(`projhead: slurm job ${w.jobId} ended\n`);
          process.exitCode = EXIT.failure;
        }
        break;
      }
      if (next !== w) announce(next, true); // the same one: it was only slow to answer
      w = next;
    }
    if (interrupts.cancel.aborted) process.exitCode = EXIT.interrupted;
  } catch (err) {
    process.exitCode = interrupts.cancel.aborted ? EXIT.interrupted : reportError(err, Boolean(o.json));
  } finally {
    await pool?.stop();
    interrupts.dispose();
  }
}
