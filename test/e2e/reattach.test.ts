// Detach and re-attach: a run belongs to the worker, not to the connection. A TCP proxy between
// the client and the worker cuts every connection at random points (in the middle of the event
// stream, between events, during StartRun); executeRun re-attaches with WatchRun from its last
// stored seq, and runs/<id>/events.jsonl ends up holding every event exactly once.
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { executeRun } from "../../src/execution/execute.js";
import { RunDir } from "../../src/runs/store.js";
import { startLocalWorker } from "../../src/workers/local.js";
import type { RunningWorker } from "../../src/workers/types.js";
import { WorkerConnection } from "../../src/client/client.js";
import { toRunSpec } from "../../src/client/spec.js";
import { assertGapless, clientEvents, stepLosses, tinyExperiment, workerEvents } from "../helpers/runs.js";

/** Forwards 127.0.0.1:<port> to the worker; drop() destroys every open connection at once. */
class DroppingProxy {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  constructor(targetPort: number) {
    this.server = createServer((client) => {
      const upstream = createConnection(targetPort, "127.0.0.1");
      for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
        this.sockets.add(a);
        a.pipe(b);
        a.on("error", () => b.destroy());
        a.on("close", () => {
          this.sockets.delete(a);
          b.destroy();
        });
      }
    });
  }
  listen(): Promise<number> {
    return new Promise((r) => this.server.listen(0, "127.0.0.1", () => r((this.server.address() as { port: number }).port)));
  }
  /** Cuts every connection; returns how many sockets were open. */
  drop(): number {
    const n = this.sockets.size;
    for (const s of this.sockets) s.destroy();
    return n;
  }
  close(): Promise<void> {
    this.drop();
    return new Promise((r) => this.server.close(() => r()));
  }
}

const runRoot = mkdtempSync(join(tmpdir(), "projhead-reattach-"));

describe("re-attach after dropped connections", () => {
  let worker: RunningWorker;
  before(async () => {
    worker = await startLocalWorker({ runRoot });
  });
  after(async () => {
    await worker?.stop();
  });

  it("stores every event exactly once while the connection is cut at random points", { timeout: 150_000 }, async () => {
    const proxy = new DroppingProxy(Number(worker.address.split(":").pop()));
    const port = await proxy.listen();
    const conn = new WorkerConnection(`127.0.0.1:${port}`);
    const viaProxy: RunningWorker = { kind: "remote", address: `127.0.0.1:${port}`, connection: conn, stderrTail: () => worker.stderrTail(), stop: async () => conn.close() };

    // 16 epochs x 8 steps: a step event, a checkpoint every 2 steps, epoch events: ~220 events.
    const exp = tinyExperiment({ name: "reattach", train: { epochs: 16 } });
    const runDir = new RunDir(join(runRoot, "reattach"));
    const seed = Date.now() % 100000;
    let rand = seed;
    const random = () => ((rand = (rand * 48271) % 2147483647) / 2147483647);
    const drops: string[] = [];
    let untilDrop = 3 + Math.floor(random() * 20);
    const dropNow = (where: string) => {
      const n = proxy.drop();
      if (n) drops.push(where);
    };

    let done = false;
    const running = executeRun({
      worker: viaProxy, runDir, spec: toRunSpec(exp, "reattach"), experiment: exp.name, reconnectForMs: 60_000,
      // Cut in the middle of the stream: right after a random number of events arrived.
      onEvent: (ev) => {
        if (--untilDrop <= 0 && drops.length < 25) {
          dropNow(`after event ${ev.seq}`);
          untilDrop = 3 + Math.floor(random() * 20);
        }
      },
    }).finally(() => {
      done = true;
    });
    // And between events, on a timer (the first one may hit StartRun itself), until the worker
    // has written the run's last event.
    const timerDrops = (async () => {
      let first = true;
      while (!done) {
        await new Promise((r) => setTimeout(r, first ? random() * 100 : 200 + random() * 1200));
        first = false;
        if (done || workerEvents(runDir.dir).some((e) => e.type === "finished")) return;
        dropNow("on the timer");
      }
    })();

    try {
      const summary = await running;
      await timerDrops;
      assert.equal(summary.state, "finished", `drop seed ${seed}`);
    } finally {
      conn.close();
      await proxy.close();
    }

    const events = clientEvents(runDir.dir);
    assertGapless(events, `events.jsonl (drop seed ${seed}, ${drops.length} drops)`);
    assert.equal(events[events.length - 1]!.type, "finished");
    assert.equal(stepLosses(events).length, 128);
    // the same events as the worker's own log, in the same order
    const theirs = workerEvents(runDir.dir);
    assert.deepEqual(events.map((e) => `${e.seq}:${e.type}`), theirs.map((e) => `${e.seq}:${e.type}`));
    assert.ok(drops.length >= 3, `only ${drops.length} connection drops happened: ${drops.join(", ")}`);
    process.stdout.write(`# ${drops.length} drops (seed ${seed}): ${drops.slice(0, 8).join(", ")}...\n`);
  });
});
