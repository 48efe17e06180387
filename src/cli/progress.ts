// Live progress of a run on stderr: a bar on a terminal, one line per epoch otherwise (CI logs).
// Lines (epochs, evaluations, "cancelling") are printed above the bar and stay on screen; the
// bar's line is cleared when the run ends, so the summary follows the last epoch line. Runs that
// share the screen (a sweep running several at once) get no bar, which one line cannot hold for
// several runs, and every line starts with the run's name.
import cliProgress from "cli-progress";
import type { JobStateChange } from "../workers/slurm.js";
import type { EventRecord } from "../runs/types.js";

const fmtPct = (x: number) => (x >= 0 ? `${(x * 100).toFixed(1)}%` : "-");

/** "1h02m", "3m05s", "42s". */
export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/** A batch job's state change, one line: `slurm job 81234: PENDING (Priority)`, `…: RUNNING on gpu017`. */
export function jobStateLine(c: JobStateChange): string {
  return `slurm job ${c.jobId}: ${c.state}${c.reason ? ` (${c.reason})` : ""}${c.node && c.state === "RUNNING" ? ` on ${c.node}` : ""}\n`;
}

export class RunProgress {
  private bar: cliProgress.SingleBar | null = null;
  private total = 0;
  private epochs = 0;
  /** First step event seen (step, time in ms): the ETA is measured from here. */
  private firstStep: { step: number; at: number } | null = null;
  private readonly tty: boolean;
  private readonly label: string;
  /** What starts a run's own lines: indented under its "started" line, or its name when shared. */
  private readonly lead: string;
  private readonly out: NodeJS.WriteStream;
  private readonly now: () => number;

  constructor(label: string, opts: { out?: NodeJS.WriteStream; now?: () => number; sharedScreen?: boolean } = {}) {
    this.out = opts.out ?? process.stderr;
    this.now = opts.now ?? Date.now;
    this.tty = Boolean(this.out.isTTY) && !process.env.CI && !opts.sharedScreen;
    this.label = label;
    this.lead = opts.sharedScreen ? `${label}: ` : "  ";
  }

  /** Before the first event: the worker starts (a cold torch import takes seconds). */
  starting(what = "starting worker…"): void {
    this.note(`${this.label}: ${what}`);
  }

  onEvent(ev: EventRecord): void {
    switch (ev.type) {
      case "started": {
        const d = ev.data;
        this.total = d.totalSteps;
        this.epochs = d.resolvedSpec?.train?.epochs ?? 0;
        this.firstStep = null;
        this.note(`${this.label}: ${d.resumed ? "resumed" : "started"} on ${d.device}, ${d.trainImages} images, ${this.total} steps (${d.stepsPerEpoch}/epoch)`);
        if (this.tty) {
          this.bar = new cliProgress.SingleBar(
            { format: "  epoch {epoch}/{epochs} |{bar}| step {value}/{total} | loss {loss} | {ips} img/s | ETA {etaText}", barsize: 20, stream: this.out, hideCursor: true, clearOnComplete: true },
            cliProgress.Presets.shades_classic,
          );
          this.bar.start(this.total, d.startStep, { epoch: 1, epochs: this.epochs, loss: "-", ips: "-", etaText: "-" });
        }
        break;
      }
      case "step": {
        const s = ev.data;
        this.bar?.update(s.step, { epoch: s.epoch, epochs: this.epochs, loss: s.loss.toFixed(4), ips: Math.round(s.imagesPerSec), etaText: this.eta(s.step) });
        break;
      }
      case "epoch": {
        const e = ev.data;
        this.note(`${this.lead}epoch ${e.epoch}/${this.epochs}  loss ${e.loss.toFixed(4)}  kNN ${fmtPct(e.knnTop1)}  ${Math.round(e.imagesPerSec)} img/s  ${e.epochSeconds.toFixed(1)} s`);
        break;
      }
      case "evaluation": {
        const l = ev.data;
        this.note(`${this.lead}eval ${l.layer.padEnd(7)} linear ${fmtPct(l.linearTop1)}  kNN ${fmtPct(l.knnTop1)}  eff. rank ${l.effectiveRank.toFixed(1)}`);
        break;
      }
      case "checkpoint":
        if (ev.data.reason === "cancel" || ev.data.reason === "signal") this.note(`${this.lead}checkpoint written: ${ev.data.path} (step ${ev.data.step})`);
        break;
      case "failed":
        this.stop();
        this.note(`${this.lead}FAILED (${ev.data.cause}): ${ev.data.message}`);
        break;
      case "interrupted":
        this.stop();
        this.note(`${this.lead}INTERRUPTED (${ev.data.reason}): ${ev.data.message}`);
        break;
      case "finished":
      case "cancelled":
        this.stop();
        break;
      default:
        break;
    }
  }

  /** "-" until two steps have been seen; then the remaining steps at the rate since the first. */
  private eta(step: number): string {
    const t = this.now();
    if (!this.firstStep) {
      this.firstStep = { step, at: t };
      return "-";
    }
    const done = step - this.firstStep.step;
    if (done <= 0 || t <= this.firstStep.at) return "-";
    return formatEta(((this.total - step) * (t - this.firstStep.at)) / done / 1000);
  }

  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }

  /** A line that stays: above the bar while one is shown. */
  note(text: string): void {
    if (this.bar) {
      // Print over the bar's line, then save the cursor at the new bar line: the bar restores
      // the saved position when it stops, which would otherwise be the row it started on and
      // the summary would overwrite the lines printed since.
      this.out.write("\r\x1b[K" + text + "\n\x1b7");
      this.bar.render();
    } else {
      this.out.write(text + "\n");
    }
  }
}
