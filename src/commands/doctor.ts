import type { Command } from "commander";
import { doctor } from "../api/doctor.js";
import { EXIT, printJson, reportError } from "../cli/output.js";
import { runtimeFromFlags, addRuntimeFlags, type RuntimeFlags } from "./runtimeFlags.js";

const gib = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;

export function registerDoctor(program: Command): void {
  addRuntimeFlags(
    program
      .command("doctor")
      .description("start (or reach) a worker and report versions, devices and datasets; exit 0 only when healthy")
      .option("--json", "print the report as JSON"),
  ).action(async (o: { json?: boolean } & RuntimeFlags) => {
    try {
      const r = await doctor({ runtime: runtimeFromFlags(o) });
      if (o.json) printJson(r);
      else {
        const i = r.info;
        const lines = [
          `worker      ${r.healthy ? "SERVING" : "NOT SERVING"} at ${r.address} (${r.runtime}, pid ${i.pid})`,
          `versions    projhead_worker ${i.workerVersion}, python ${i.pythonVersion}, torch ${i.torchVersion}${i.cudaVersion ? `, CUDA ${i.cudaVersion}` : ""}, grpcio ${i.grpcVersion}`,
          ...i.devices.map((d, k) => `${k === 0 ? "devices    " : "           "} ${d.id.padEnd(7)} ${d.name} (${gib(d.memoryBytes)}${d.capability ? `, sm ${d.capability}` : ""})`),
          ...i.datasets.map((d, k) => `${k === 0 ? "datasets   " : "           "} ${d.available ? "✔" : "·"} ${d.name.padEnd(18)} ${d.detail}`),
          `methods     ${i.methods.join(", ")}`,
          `backbones   ${i.backbones.join(", ")}`,
          `run root    ${i.runRoot}${i.storageProblem ? ` (NOT WRITABLE: ${i.storageProblem})` : ""}`,
        ];
        process.stdout.write(lines.join("\n") + "\n");
      }
      process.exitCode = r.healthy ? EXIT.ok : EXIT.failure;
    } catch (err) {
      process.exitCode = reportError(err, Boolean(o.json));
    }
  });
}
