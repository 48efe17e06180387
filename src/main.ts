#!/usr/bin/env node
// The projhead command line: parse, make one library call, print (text or --json). It knows
// nothing of gRPC; see src/index.ts for the same operations as a library.
import { Command } from "commander";
import { registerDemo } from "./commands/demo.js";
import { registerDoctor } from "./commands/doctor.js";
import { registerEval } from "./commands/evaluate.js";
import { registerExport } from "./commands/export.js";
import { registerReport } from "./commands/report.js";
import { registerRun } from "./commands/run.js";
import { registerSetup } from "./commands/setup.js";
import { registerSweep } from "./commands/sweep.js";
import { registerTensorboard } from "./commands/tensorboard.js";
import { registerTrack } from "./commands/track.js";
import { registerWorker } from "./commands/worker.js";
import { VERSION } from "./version.js";

export function buildProgram(): Command {
  const program = new Command("projhead")
    .description("Self-supervised projection-head studies (SimCLR, bi-level head optimization) on a PyTorch worker")
    .version(VERSION)
    .showHelpAfterError()
    .configureOutput({ outputError: (str, write) => write(str) });
  program.exitOverride((err) => {
    // commander's own usage errors exit 2 (bad input), help and version 0
    process.exit(err.code === "commander.helpDisplayed" || err.code === "commander.version" ? 0 : 2);
  });
  registerSetup(program);
  registerDoctor(program);
  registerRun(program);
  registerSweep(program);
  registerTensorboard(program);
  registerTrack(program);
  registerEval(program);
  registerReport(program);
  registerExport(program);
  registerWorker(program);
  registerDemo(program);
  return program;
}

await buildProgram().parseAsync(process.argv);
