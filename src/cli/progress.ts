// Live progress of a run on stderr: a bar on a terminal, one line per epoch otherwise (CI logs).
import cliProgress from "cli-progress";
import type { EpochData, EventRecord, StepData } from "../runs/types.js";

const fmtPct = (x: number) => (x >= 0 ? `${(x * 100).toFixed(1)}%` : "-");

export class RunProgress {
  private bar: cliProgress.SingleBar | null = null;
  private total = 0;
  private epochs = 0;
  private readonly tty: boolean;
  private readonly label: string;

  constructor(label: string, private readonly out: NodeJS.WriteStream = process.stderr) {
    this.tty = Boolean(out.isTTY) && !process.env.CI;
    this.label = label;
  }

  onEvent(ev: EventRecord): void {
    const d = ev.data as Record<string, unknown>;
    switch (ev.type) {
      case "started": {
        this.total = Number(d.totalSteps);
        const spec = d.resolvedSpec as { train?: { epochs?: number } };
        this.epochs = spec.train?.epochs ?? 0;
        this.line(`${this.label}: ${d.resumed ? "resumed" : "started"} on ${d.device}, ${d.trainImages} images, ${this.total} steps (${d.stepsPerEpoch}/epoch)`);
        if (this.tty) {
          this.bar = new cliProgress.SingleBar(
            { format: "  epoch {epoch}/{epochs} |{bar}| step {value}/{total} | loss {loss} | {ips} img/s | ETA {eta_formatted}", stream: this.out, hideCursor: true, clearOnComplete: true },
            cliProgress.Presets.shades_classic,
          );
          this.bar.start(this.total, Number(d.startStep), { epoch: 1, epochs: this.epochs, loss: "-", ips: "-" });
        }
        break;
      }
      case "step": {
        const s = d as unknown as StepData;
        this.bar?.update(s.step, { epoch: s.epoch, epochs: this.epochs, loss: s.loss.toFixed(4), ips: Math.round(s.imagesPerSec) });
        break;
      }
      case "epoch": {
        const e = d as unknown as EpochData;
        this.line(`  epoch ${e.epoch}/${this.epochs}  loss ${e.loss.toFixed(4)}  kNN ${fmtPct(e.knnTop1)}  ${Math.round(e.imagesPerSec)} img/s  ${e.epochSeconds.toFixed(1)} s`);
        break;
      }
      case "evaluation":
        this.line(`  eval ${String(d.layer).padEnd(7)} linear ${fmtPct(Number(d.linearTop1))}  kNN ${fmtPct(Number(d.knnTop1))}  eff. rank ${Number(d.effectiveRank).toFixed(1)}`);
        break;
      case "checkpoint":
        if (d.reason === "cancel" || d.reason === "signal") this.line(`  checkpoint written: ${d.path} (step ${d.step})`);
        break;
      case "failed":
        this.stop();
        this.line(`  FAILED (${d.cause}): ${d.message}`);
        break;
      case "interrupted":
        this.stop();
        this.line(`  INTERRUPTED (${d.reason}): ${d.message}`);
        break;
      case "finished":
      case "cancelled":
        this.stop();
        break;
      default:
        break;
    }
  }

  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }

  private line(text: string): void {
    if (this.bar) {
      // print above the bar without breaking it
      this.out.write("\r\x1b[K" + text + "\n");
      this.bar.render();
    } else {
      this.out.write(text + "\n");
    }
  }
}
