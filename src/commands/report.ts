import type { Command } from "commander";
import { printJson, reportError } from "../cli/output.js";
import { buildReport } from "../report/index.js";

export function registerReport(program: Command): void {
  program
    .command("report <paths...>")
    .description("compare runs and sweeps: method x layer tables (mean ± std over seeds) and a self-contained HTML report with charts")
    .option("--out <file>", "HTML output file or directory (default: beside the run or sweep, else ./report.html)")
    .option("--no-html", "print the tables only")
    .option("--json", "print the comparison as JSON")
    .action(async (paths: string[], o: { out?: string; html: boolean; json?: boolean }) => {
      try {
        const r = await buildReport(paths, { out: o.out, html: o.html });
        if (o.json) printJson(r.json);
        else process.stdout.write(r.text.endsWith("\n") ? r.text : r.text + "\n");
      } catch (err) {
        process.exitCode = reportError(err, Boolean(o.json));
      }
    });
}
