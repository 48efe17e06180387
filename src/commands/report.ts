import type { Command } from "commander";
import { EXIT, printJson, reportError } from "../cli/output.js";
import { buildReport, ReportInputError } from "../report/index.js";

export function registerReport(program: Command): void {
  program
    .command("report <paths...>")
    .description("compare runs and sweeps: method x layer tables (mean ± std and 95 % CI over seeds), paired differences to a baseline method with a verdict, and a self-contained HTML report with charts")
    .option("--out <file>", "HTML output file or directory (default: beside the run or sweep, else ./report.html)")
    .option("--baseline <method>", "method the others are compared with, seed by seed (default: the experiment's report.baseline, else joint)")
    .option("--protocol <file>", "the study's protocol file (YAML: primary comparison, delta, alpha, power, selection, seeds); its git revision is printed and every run must have been created at it")
    .option("--allow-revision-mismatch", "with --protocol: report runs of another code revision (warned) instead of refusing them")
    .option("--mde <delta>", "effect size in percentage points: print the seeds each paired comparison needs to detect it at 80 % power (default: the protocol's delta)", Number)
    .option("--no-html", "print the tables only")
    .option("--json", "print the comparison as JSON")
    .action(async (paths: string[], o: { out?: string; html: boolean; json?: boolean; baseline?: string; protocol?: string; allowRevisionMismatch?: boolean; mde?: number }) => {
      try {
        const r = await buildReport(paths, {
          out: o.out,
          html: o.html,
          baseline: o.baseline,
          protocol: o.protocol,
          allowRevisionMismatch: o.allowRevisionMismatch,
          mde: o.mde,
        });
        if (o.json) printJson(r.json);
        else process.stdout.write(r.text.endsWith("\n") ? r.text : r.text + "\n");
      } catch (err) {
        const code = reportError(err, Boolean(o.json));
        process.exitCode = err instanceof ReportInputError ? EXIT.usage : code;
      }
    });
}
