// TensorBoard event files of a run, in runs/<id>/tb/, written by the orchestrator from the
// events it stores (so every runtime gets them: the worker may be in a container or on another
// machine). The file always holds exactly the events in events.jsonl: when a run is attached
// (start, resume, re-attach) the file is rebuilt from events.jsonl, which a resume has just cut
// back to its checkpoint, so a resumed run shows one curve without repeated or rewound steps;
// live events are then appended one frame per event.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, lstatSync, readlinkSync } from "node:fs";
import { hostname } from "node:os";
import { join, relative } from "node:path";
import type { RunDir } from "../runs/store.js";
import type { EventRecord } from "../runs/types.js";
import { experiment, sessionEnd, sessionStart, SESSION_STATUS, type HParamDomain, type HParamValue } from "./hparams.js";
import { layerLayout, stepOf, tbEventOf } from "./tbScalars.js";
import { encodeEvent, EventFileWriter } from "./tfevents.js";

export const TB_DIR = "tb";
const isEventFile = (name: string) => name.includes("tfevents");

export interface RunTensorBoardOptions {
  /** The run's hyperparameters for the HParams table (a sweep's grid values, method, seed). */
  hparams: Record<string, HParamValue>;
}

export class RunTensorBoard {
  readonly dir: string;
  private writer: EventFileWriter | null = null;
  private lastStep = 0;

  constructor(private readonly runDir: RunDir, private readonly opts: RunTensorBoardOptions) {
    this.dir = join(runDir.dir, TB_DIR);
  }

  /** A new event file with every stored event, in place of the old ones. */
  attach(): void {
    this.close();
    mkdirSync(this.dir, { recursive: true });
    const events = this.runDir.readEvents();
    const t0 = events[0]?.time ?? Date.now() / 1000;
    // Written under a name TensorBoard ignores, then renamed: a reader never sees half of it
    // next to the old file, and a kill leaves either the old file or the new one.
    const tmp = join(this.dir, `.rebuild-${process.pid}.tmp`);
    rmSync(tmp, { force: true });
    const writer = new EventFileWriter(tmp, t0);
    writer.add(encodeEvent(t0, 0, { values: [layerLayout(), sessionStart(this.opts.hparams, t0)] }));
    this.lastStep = 0;
    for (const ev of events) this.add(writer, ev);
    writer.flush(true);
    const name = `events.out.tfevents.${Math.floor(Date.now() / 1000)}.${hostname()}.${process.pid}.${Date.now() % 1000}.projhead`;
    const old = readdirSync(this.dir).filter(isEventFile);
    renameSync(tmp, join(this.dir, name));
    for (const f of old) if (f !== name) rmSync(join(this.dir, f), { force: true });
    // the same descriptor goes on appending to the renamed file
    this.writer = writer;
  }

  event(ev: EventRecord): void {
    if (!this.writer) return;
    this.add(this.writer, ev);
    this.writer.flush(ev.type === "finished" || ev.type === "failed");
  }

  close(): void {
    this.writer?.close();
    this.writer = null;
  }

  private add(writer: EventFileWriter, ev: EventRecord): void {
    const tb = tbEventOf(ev, this.lastStep);
    this.lastStep = stepOf(ev, this.lastStep);
    if (tb) writer.add(encodeEvent(tb.wallTime, tb.step, { values: tb.values }));
    const status = ev.type === "finished" ? SESSION_STATUS.success : ev.type === "failed" ? SESSION_STATUS.failure : 0;
    if (status) writer.add(encodeEvent(ev.time, this.lastStep, { values: [sessionEnd(status, ev.time)] }));
  }
}

/** The metrics the HParams table shows for runs with these layers. */
export function hparamMetrics(layers: string[]): string[] {
  return ["final/finalLoss", "final/knnTop1", ...layers.flatMap((l) => [`eval/linearTop1/${l}`, `eval/knnTop1/${l}`])];
}

/**
 * A sweep's TensorBoard folder, sweeps/<name>/: the HParams experiment (which grid fields and
 * final metrics the table has) and one link per run to its runs/<id>/tb, so
 * `tensorboard --logdir sweeps/<name>` shows exactly the sweep's runs under their ids.
 */
export function writeSweepTensorBoard(sweepDir: string, name: string, runs: { runId: string; runDir: string }[], hparams: HParamDomain[], metrics: string[]): string[] {
  mkdirSync(sweepDir, { recursive: true });
  const problems: string[] = [];
  for (const f of readdirSync(sweepDir).filter(isEventFile)) rmSync(join(sweepDir, f), { force: true });
  const now = Date.now() / 1000;
  const w = new EventFileWriter(join(sweepDir, `events.out.tfevents.${Math.floor(now)}.${hostname()}.hparams`), now);
  w.add(encodeEvent(now, 0, { values: [experiment(name, hparams, metrics, now)] }));
  w.close();
  for (const r of runs) {
    const link = join(sweepDir, r.runId);
    const target = relative(sweepDir, join(r.runDir, TB_DIR));
    try {
      if (existsSync(link) || isLink(link)) {
        if (isLink(link) && readlinkSync(link) === target) continue;
        if (!isLink(link)) {
          problems.push(`${link} exists and is not a link to the run's TensorBoard folder; left alone`);
          continue;
        }
        rmSync(link);
      }
      mkdirSync(join(r.runDir, TB_DIR), { recursive: true });
      symlinkSync(target, link, "dir");
    } catch (err) {
      problems.push(`could not link ${link} to ${target}: ${(err as Error).message}`);
    }
  }
  return problems;
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
