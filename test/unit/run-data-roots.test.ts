// A run's spec.json keeps the data folders its worker was given, so that resume and eval give a
// container the same mounts: the stored data.root of a docker run is the container path
// (/data/0/...), which is no folder on the client's machine. Against a stand-in worker that maps
// paths as a docker worker does (no container, no Python).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { resumeRun, runExperiment, storedDataRoots } from "../../src/api/run.js";
import { resolveExperiment } from "../../src/experiment/index.js";
import { RunEvent, RunFinished, RunStarted, RunStatus } from "../../src/gen/projhead/v1/worker.js";
import { containerDataPath } from "../../src/workers/docker.js";
import type { RunningWorker } from "../../src/workers/types.js";
import { RunDir } from "../../src/runs/store.js";
import type { EventRecord, RunRecordSpec } from "../../src/runs/types.js";
import type { WorkerApi } from "../../src/client/client.js";
import { toEventRecord } from "../../src/client/events.js";
import { specFromJson, specToJson, toRunSpec } from "../../src/client/spec.js";
import { RunState, type RunSpec } from "../../src/client/types.js";

const tmp = mkdtempSync(join(tmpdir(), "projhead-data-roots-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Finishes every run at once; remembers the specs it was sent. */
function containerLikeWorker(dataRoots: string[]): RunningWorker & { started: { spec: RunSpec; resume: boolean }[] } {
  const started: { spec: RunSpec; resume: boolean }[] = [];
  const ev = (seq: number, kind: NonNullable<RunEvent["kind"]>): EventRecord => toEventRecord(RunEvent.fromPartial({ seq, time: Date.now() / 1000, kind }));
  const unused = (): never => {
    throw new Error("not used here");
  };
  const connection: WorkerApi = {
    address: "127.0.0.1:1",
    close: () => undefined,
    checkHealth: async () => "SERVING",
    waitUntilServing: async () => undefined,
    getInfo: unused,
    startRun: async (spec, resume = false) => {
      started.push({ spec, resume });
      return { status: RunStatus.fromPartial({ runId: spec.runId, state: RunState.RUN_STATE_RUNNING }), created: true, resumedFromSeq: 0 };
    },
    async *watchRun(_runId, fromSeq = 0) {
      const log = [
        ev(1, { $case: "started", value: RunStarted.fromPartial({}) }),
        ev(2, { $case: "finished", value: RunFinished.fromPartial({ steps: 1, epochs: 1, finalLoss: 1, knnTop1: -1, wallSeconds: 0.1, checkpoint: "checkpoints/last.pt" }) }),
      ];
      yield* log.filter((e) => e.seq > fromSeq);
    },
    listRuns: async () => [],
    cancelRun: async (runId) => RunStatus.fromPartial({ runId }),
    evaluate: unused,
    exportBackbone: unused,
  };
  return {
    kind: "docker", address: connection.address, connection, started, dataRoots,
    dataPath: (path) => containerDataPath(path, dataRoots),
    stderrTail: () => [], stop: async () => undefined,
  };
}

describe("the data folders of a stored run", () => {
  it("a docker run stores its host data folders; resume sends the stored container path and mounts them again", async () => {
    const exp = resolveExperiment({ name: "mounted", data: { root: "/srv/datasets/fashion-mnist" }, train: { epochs: 1 } });
    const worker = containerLikeWorker(["/srv/datasets"]);
    const runsRoot = join(tmp, "runs");
    await runExperiment(exp, { worker, runsRoot, runId: "mounted-1" });
    const runDir = new RunDir(join(runsRoot, "mounted-1"));
    const stored = runDir.readSpec();
    const storedRoot = specFromJson(stored.spec).data?.root;
    assert.equal(storedRoot, "/data/0/fashion-mnist", "the worker got the container path");
    assert.deepEqual(stored.dataRoots, ["/srv/datasets"]);

    const roots = storedDataRoots(stored);
    assert.deepEqual(roots, ["/srv/datasets"], `not ${dirname(storedRoot ?? "")}, which is no folder here`);
    assert.equal(containerDataPath("/srv/datasets/fashion-mnist", roots), storedRoot, "a new container sees the data where the run does");

    const again = containerLikeWorker(roots);
    await resumeRun(runDir.dir, { worker: again });
    assert.equal(again.started[0]?.resume, true);
    assert.equal(again.started[0]?.spec.data?.root, "/data/0/fashion-mnist");
  });

  it("a run stored without them (before they were kept, or remote) gives the folder above data.root", () => {
    const exp = resolveExperiment({ name: "older", data: { root: "/srv/datasets/fashion-mnist" } });
    const stored: RunRecordSpec = { runId: "older-1", experiment: "older", spec: specToJson(toRunSpec(exp, "older-1")), createdAt: new Date().toISOString() };
    assert.deepEqual(storedDataRoots(stored), ["/srv/datasets"]);
    assert.deepEqual(storedDataRoots({ ...stored, spec: specToJson(toRunSpec(resolveExperiment({ name: "builtin" }), "b")) }), []);
  });
});
