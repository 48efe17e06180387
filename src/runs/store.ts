// The client-side run store: runs/<id>/{spec.json, events.jsonl, summary.json, eval.json}.
// JSON files are written atomically (temporary file, fsync, rename); events.jsonl is appended
// one fsynced line per event and never gets a gap or a duplicate: an event whose seq is not the
// next one is refused (a duplicate is skipped, a gap is an error).
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { writeFileAtomic, writeJsonAtomic } from "../fsutil/atomic.js";
import { RUN_FORMAT_VERSION, eventJson, readFolderPart, type StoredEval, type StoredSummary } from "./reader.js";
import type { EvalRecord, EventRecord, RunRecordSpec, RunSummary } from "./types.js";

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

export class EventGapError extends Error {}

export class RunDir {
  readonly dir: string;
  private lastSeqCache: number | null = null;

  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  get runId(): string {
    return basename(this.dir);
  }
  get specPath(): string {
    return join(this.dir, "spec.json");
  }
  get eventsPath(): string {
    return join(this.dir, "events.jsonl");
  }
  get summaryPath(): string {
    return join(this.dir, "summary.json");
  }
  get evalPath(): string {
    return join(this.dir, "eval.json");
  }

  exists(): boolean {
    return existsSync(this.specPath);
  }

  /** A new folder is written in RUN_FORMAT_VERSION; an existing one keeps its version (its
   *  other files are in it; reader.ts upgrades them when read). */
  writeSpec(spec: RunRecordSpec): void {
    const { formatVersion: given, ...rest } = spec;
    const formatVersion = given ?? (this.exists() ? undefined : RUN_FORMAT_VERSION);
    writeJsonAtomic(this.specPath, formatVersion === undefined ? rest : { formatVersion, ...rest });
  }
  // The reads go through the one reader (reader.ts): checked against the folder's version, upgraded.
  readSpec(): RunRecordSpec {
    const spec = readFolderPart(this.dir, "spec");
    if (!spec) throw new Error(`${this.specPath}: not found`);
    return spec;
  }
  writeSummary(summary: RunSummary): void {
    writeJsonAtomic(this.summaryPath, summary);
  }
  readSummary(): StoredSummary | null {
    return readFolderPart(this.dir, "summary");
  }
  writeEval(record: EvalRecord): void {
    writeJsonAtomic(this.evalPath, record);
  }
  readEval(): StoredEval | null {
    return readFolderPart(this.dir, "eval");
  }

  /** Every complete event line (a line torn by a kill has no newline and is dropped). */
  readEvents(): EventRecord[] {
    return readFolderPart(this.dir, "events") ?? [];
  }

  lastSeq(): number {
    if (this.lastSeqCache === null) {
      const events = this.readEvents();
      this.lastSeqCache = events.length ? events[events.length - 1]!.seq : 0;
    }
    return this.lastSeqCache;
  }

  /** Appends the event if it is the next one; returns false for an already stored one. */
  appendEvent(ev: EventRecord): boolean {
    const last = this.lastSeq();
    if (ev.seq <= last) return false;
    if (ev.seq !== last + 1) throw new EventGapError(`${this.eventsPath}: got event ${ev.seq} after ${last}`);
    mkdirSync(this.dir, { recursive: true });
    const fd = openSync(this.eventsPath, "a");
    try {
      writeSync(fd, JSON.stringify(eventJson(ev)) + "\n");
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.lastSeqCache = ev.seq;
    return true;
  }

  /** Keeps events with seq <= seq (a resumed run replays the rest from its checkpoint). */
  truncateAfter(seq: number): void {
    const kept = this.readEvents().filter((e) => e.seq <= seq);
    writeFileAtomic(this.eventsPath, kept.map((e) => JSON.stringify(eventJson(e)) + "\n").join(""));
    this.lastSeqCache = kept.length ? kept[kept.length - 1]!.seq : 0;
  }
}
