// runSweep's worker pool against scripted stand-in workers (no Python, no gRPC): runs spread
// over the free workers, a worker lost mid-run hands its run to another one as a resume (also
// when that one was idle and waiting), a worker that never saw the run makes it start over
// (NOT_FOUND), finished runs are skipped, and losing the last worker is an error.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { runSweep } from "../../src/api/sweep.js";
import { resolveExperiment } from "../../src/experiment/index.js";
import type { RunningWorker } from "../../src/workers/types.js";
import { RunDir } from "../../src/runs/store.js";
import { CheckpointSaved, RunEvent, RunFinished, RunInterrupted, RunStarted, RunStatus, StepMetrics } from "../../src/gen/projhead/v1/worker.js";
import type { EventRecord } from "../../src/runs/types.js";
import type { WorkerApi } from "../../src/client/client.js";
import { NotFoundError, UnavailableError } from "../../src/client/errors.js";
import { toEventRecord } from "../../src/client/events.js";
import { RunState, type RunSpec } from "../../src/client/types.js";

const tmp = mkdtempSync(join(tmpdir(), "projhead-sweep-pool-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

const STEPS = 4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The workers' run storage: shared (one run root) or one per worker. */
type Store = Map<string, EventRecord[]>;

interface FakeOptions {
  store: Store;
  /** Milliseconds per step. */
  stepMs?: number;
  /** Dies (every later call: UNAVAILABLE) after this many events of its n-th run (1-based). */
  dieOnRun?: number;
  dieAfterEvents?: number;
  /** Its n-th run (1-based) ends `interrupted` (as on a signal) after this many events; it lives on. */
  interruptOnRun?: number;
  interruptAfterEvents?: number;
}

class FakeWorker implements RunningWorker {
  readonly kind = "local" as const;
  readonly calls: { runId: string; resume: boolean }[] = [];
  dead = false;
  private runsStarted = 0;
  readonly connection: WorkerApi;
  constructor(readonly address: string, private readonly o: FakeOptions) {
    const unused = (): never => {
      throw new Error("not used by the sweep pool");
    };
    this.connection = {
      address,
      close: () => undefined,
      checkHealth: async () => "SERVING",
      waitUntilServing: async () => undefined,
      getInfo: unused,
      startRun: async (spec, resume = false) => this.startRun(spec, resume),
      watchRun: (runId, fromSeq = 0) => this.watchRun(runId, fromSeq),
      listRuns: async () => [...this.o.store.keys()].map((runId) => RunStatus.fromPartial({ runId, state: RunState.RUN_STATE_RUNNING })),
      cancelRun: async (runId) => RunStatus.fromPartial({ runId }),
      evaluate: unused,
      exportBackbone: unused,
    };
  }
  stderrTail = () => [];
  stop = async () => undefined;

  private unavailable(): never {
    throw new UnavailableError("UNAVAILABLE", `worker at ${this.address} is unavailable: connection refused`);
  }

  /** An event as the real client makes it: a RunEvent message through toEventRecord. */
  private ev(seq: number, kind: NonNullable<RunEvent["kind"]>): EventRecord {
    return toEventRecord(RunEvent.fromPartial({ seq, time: Date.now() / 1000, kind }));
  }

  async startRun(spec: RunSpec, resume: boolean) {
    if (this.dead) this.unavailable();
    this.calls.push({ runId: spec.runId, resume });
    const log = this.o.store.get(spec.runId);
    let resumedFromSeq = 0;
    if (resume) {
      if (!log) throw new NotFoundError("NOT_FOUND", `run_id: no run ${spec.runId} on this worker`);
      // keep everything up to the last checkpoint event
      const lastCkpt = log.map((e) => e.type).lastIndexOf("checkpoint");
      log.splice(lastCkpt + 1);
      resumedFromSeq = log.length;
    } else {
      this.o.store.set(spec.runId, []);
    }
    this.runsStarted++;
    void this.train(spec.runId, this.runsStarted);
    return { status: RunStatus.fromPartial({ runId: spec.runId, state: RunState.RUN_STATE_RUNNING }), created: true, resumedFromSeq };
  }

  /** Appends the run's events in the background, as the training process would. */
  private async train(runId: string, nth: number) {
    const log = this.o.store.get(runId)!;
    const done = log.filter((e) => e.type === "step").length;
    const add = (kind: NonNullable<RunEvent["kind"]>) => log.push(this.ev(log.length + 1, kind));
    add({ $case: "started", value: RunStarted.fromPartial({ resumed: done > 0, startStep: done }) });
    for (let s = done + 1; s <= STEPS; s++) {
      await sleep(this.o.stepMs ?? 5);
      if (this.dead) return;
      if (this.o.dieOnRun === nth && log.length >= (this.o.dieAfterEvents ?? 3)) {
        this.dead = true;
        return;
      }
      if (this.o.interruptOnRun === nth && log.length >= (this.o.interruptAfterEvents ?? 3)) {
        add({ $case: "interrupted", value: RunInterrupted.fromPartial({ reason: "signal", message: "the training process got SIGTERM", step: s - 1, checkpoint: "checkpoints/last.pt" }) });
        return;
      }
      add({ $case: "step", value: StepMetrics.fromPartial({ step: s, epoch: 1, loss: 1 / s }) });
      if (s % 2 === 0) add({ $case: "checkpoint", value: CheckpointSaved.fromPartial({ path: "checkpoints/last.pt", step: s, reason: "periodic" }) });
    }
    add({ $case: "finished", value: RunFinished.fromPartial({ steps: STEPS, epochs: 1, finalLoss: 0.25, knnTop1: -1, wallSeconds: 0.1, checkpoint: "checkpoints/last.pt" }) });
  }

  async *watchRun(runId: string, fromSeq: number): AsyncIterable<EventRecord> {
    let next = fromSeq + 1;
    for (;;) {
      if (this.dead) this.unavailable();
      const log = this.o.store.get(runId) ?? [];
      while (next <= log.length) {
        const e = log[next - 1]!;
        yield e;
        next++;
        if (e.type === "finished" || e.type === "interrupted") return;
      }
      await sleep(2);
    }
  }
}

const exp = (name: string) =>
  resolveExperiment({ name, train: { epochs: 1 }, sweep: { grid: { "method.name": ["joint", "bilevel"], seed: [0, 1] } } });

function assertGapFree(runsRoot: string, runId: string) {
  const events = new RunDir(join(runsRoot, runId)).readEvents();
  assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i + 1), `${runId}: seq gap-free`);
  const steps = events.filter((e) => e.type === "step").map((e) => Number(e.data.step));
  assert.deepEqual(steps, [1, 2, 3, 4], `${runId}: every step once`);
  assert.equal(events.at(-1)!.type, "finished");
  return events;
}

describe("runSweep over a pool of workers (stand-ins)", () => {
  it("spreads the runs over the free workers, then skips them when run again", async () => {
    const store: Store = new Map();
    const a = new FakeWorker("a:1", { store, stepMs: 5 });
    const b = new FakeWorker("b:1", { store, stepMs: 5 });
    const runsRoot = join(tmp, "spread");
    const res = await runSweep(exp("spread"), { workers: [a, b], runsRoot, sweepsRoot: join(tmp, "sweeps") });
    assert.equal(res.summaries.length, 4);
    assert.ok(res.summaries.every((s) => s.state === "finished"));
    assert.ok(a.calls.length >= 1 && b.calls.length >= 1, `both workers used: a=${a.calls.length} b=${b.calls.length}`);
    assert.equal(a.calls.length + b.calls.length, 4);
    for (const s of res.summaries) assertGapFree(runsRoot, s.runId);

    const skipped: string[] = [];
    const again = await runSweep(exp("spread"), { workers: [a, b], runsRoot, sweepsRoot: join(tmp, "sweeps"), onSkip: (r) => skipped.push(r.runId) });
    assert.equal(skipped.length, 4);
    assert.equal(again.summaries.length, 4);
    assert.equal(a.calls.length + b.calls.length, 4, "nothing started again");
  });

  it("resumes the run of a lost worker on another one, even one that was idle", async () => {
    const store: Store = new Map(); // one run root: the other worker finds the checkpoint
    // a dies in its first run after its first checkpoint; b is fast and goes idle first.
    const a = new FakeWorker("a:1", { store, stepMs: 30, dieOnRun: 1, dieAfterEvents: 5 });
    const b = new FakeWorker("b:1", { store, stepMs: 1 });
    const runsRoot = join(tmp, "lost");
    const lost: string[] = [];
    const starts: [string, string, boolean][] = [];
    const one = resolveExperiment({ name: "lost", sweep: { grid: { seed: [0, 1] } } });
    const res = await runSweep(one, {
      workers: [a, b], runsRoot, sweepsRoot: join(tmp, "sweeps"), reconnectForMs: 50,
      onWorkerLost: (w) => lost.push(w.address),
      onRunStart: (r, w, resumed) => starts.push([r.runId, w.address, resumed]),
    });
    assert.deepEqual(lost, ["a:1"]);
    assert.ok(res.summaries.every((s) => s.state === "finished"));
    const moved = a.calls[0]!.runId;
    assert.deepEqual(b.calls.find((c) => c.runId === moved), { runId: moved, resume: true });
    assert.deepEqual(starts.at(-1), [moved, "b:1", true]);
    const events = assertGapFree(runsRoot, moved);
    const started = events.filter((e) => e.type === "started");
    assert.equal(started.length, 2);
    assert.equal(started[1]!.data.startStep, 2, "continued after the checkpoint at step 2");
  });

  it("starts over on a worker that never saw the run (NOT_FOUND on resume)", async () => {
    // separate stores: b is another machine
    const a = new FakeWorker("a:1", { store: new Map(), stepMs: 20, dieOnRun: 1, dieAfterEvents: 5 });
    const b = new FakeWorker("b:1", { store: new Map(), stepMs: 1 });
    const runsRoot = join(tmp, "elsewhere");
    const one = resolveExperiment({ name: "elsewhere" });
    const res = await runSweep(one, { workers: [a, b], runsRoot, sweepsRoot: join(tmp, "sweeps"), reconnectForMs: 50 });
    assert.equal(res.summaries[0]!.state, "finished");
    assert.deepEqual(b.calls, [{ runId: "elsewhere", resume: true }, { runId: "elsewhere", resume: false }]);
    const events = assertGapFree(runsRoot, "elsewhere");
    assert.equal(events.filter((e) => e.type === "started").length, 1, "the lost attempt's events were dropped");
  });

  it("resumes a run that ended interrupted (not a cancel), on the same worker", async () => {
    const a = new FakeWorker("a:1", { store: new Map(), stepMs: 2, interruptOnRun: 1, interruptAfterEvents: 5 });
    const runsRoot = join(tmp, "interrupted");
    const res = await runSweep(resolveExperiment({ name: "interrupted" }), { workers: [a], runsRoot, sweepsRoot: join(tmp, "sweeps") });
    assert.equal(res.summaries[0]!.state, "finished");
    assert.deepEqual(a.calls, [{ runId: "interrupted", resume: false }, { runId: "interrupted", resume: true }]);
    const events = assertGapFree(runsRoot, "interrupted");
    assert.equal(events.filter((e) => e.type === "started")[1]!.data.startStep, 2, "continued after the checkpoint at step 2");
  });

  it("fails when the last worker is lost", async () => {
    const a = new FakeWorker("a:1", { store: new Map(), stepMs: 5, dieOnRun: 1, dieAfterEvents: 2 });
    const runsRoot = join(tmp, "alone");
    await assert.rejects(
      runSweep(resolveExperiment({ name: "alone" }), { workers: [a], runsRoot, sweepsRoot: join(tmp, "sweeps"), reconnectForMs: 50 }),
      UnavailableError,
    );
  });
});
