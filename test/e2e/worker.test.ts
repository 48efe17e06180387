// The foundation end to end: a real worker process, real gRPC (GetInfo, the standard health
// service), the CLI's doctor, and workers that cannot start.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { mkdtempSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startLocalWorker } from "../../src/workers/local.js";
import { WorkerStartError, type RunningWorker } from "../../src/workers/types.js";
import { cli, isAlive, lastJson, waitFor } from "../helpers/cli.js";

const runRoot = mkdtempSync(join(tmpdir(), "projhead-worker-test-"));

describe("local worker", () => {
  let w: RunningWorker;
  before(async () => {
    w = await startLocalWorker({ runRoot });
  });
  after(async () => {
    await w?.stop();
  });

  it("answers the standard health service with SERVING", async () => {
    assert.equal(await w.connection.checkHealth(), "SERVING");
    assert.equal(await w.connection.checkHealth("projhead.v1.Worker"), "SERVING");
  });

  it("reports versions, devices and datasets through GetInfo", async () => {
    const info = await w.connection.getInfo();
    assert.match(info.torchVersion, /^\d+\.\d+/);
    assert.match(info.pythonVersion, /^3\.\d+/);
    assert.equal(info.devices[0]?.id, "cpu");
    assert.ok(info.devices[0]!.memoryBytes > 0);
    const shapes = info.datasets.find((d) => d.name === "shapes");
    assert.equal(shapes?.available, true);
    // the real-data subset shipped inside the worker package: available with nothing installed
    const mini = info.datasets.find((d) => d.name === "fashion-mnist-mini");
    assert.equal(mini?.available, true, mini?.detail);
    assert.deepEqual([...info.methods].sort(), ["bilevel", "directclr", "fixed_head", "joint", "no_head"]);
    assert.equal(info.runRoot, runRoot);
    assert.equal(info.pid, w.pid);
  });

  it("stops the worker process on stop()", async () => {
    const other = await startLocalWorker({ runRoot });
    assert.ok(other.pid && isAlive(other.pid));
    await other.stop();
    await waitFor(() => !isAlive(other.pid!), 10_000, "the worker to exit");
  });
});

describe("workers that cannot start", () => {
  it("names a wrong Python path", async () => {
    await assert.rejects(startLocalWorker({ runRoot, python: "/nonexistent/python3" }), (err: Error) => {
      assert.ok(err instanceof WorkerStartError, String(err));
      assert.match(err.message, /nonexistent|ENOENT|exited/);
      return true;
    });
  });

  it("prints the worker's own import error", async () => {
    // A Python that cannot import the worker package: the error lines must reach the user.
    const dir = mkdtempSync(join(tmpdir(), "projhead-badpy-"));
    const fake = join(dir, "python");
    writeFileSync(fake, `#!/bin/sh\nexec python3 -S -c "import projhead_worker_missing" "$@"\n`);
    chmodSync(fake, 0o755);
    const t0 = Date.now();
    await assert.rejects(startLocalWorker({ runRoot, python: fake }), (err: Error) => {
      assert.ok(err instanceof WorkerStartError);
      assert.match(err.message, /ModuleNotFoundError/);
      return true;
    });
    assert.ok(Date.now() - t0 < 10_000, "fails within seconds");
  });

  it("reports a port in use and leaves no process behind", async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", () => r()));
    const port = (blocker.address() as { port: number }).port;
    let pid = 0;
    try {
      await assert.rejects(startLocalWorker({ runRoot, port, onStderr: () => undefined }), (err: Error) => {
        assert.ok(err instanceof WorkerStartError);
        assert.match(err.message, /bind|in use/i);
        return true;
      });
      // the CLI sees the same and exits non-zero with the worker's lines
      const r = await cli(["doctor", "--json", "--python", "/nonexistent/python3"]);
      assert.notEqual(r.exitCode, 0);
      assert.match(lastJson<{ error: string }>(r.stdout).error, /nonexistent|ENOENT|exited/);
    } finally {
      blocker.close();
    }
    // no worker process of ours is left listening
    const { execaSync } = await import("execa");
    const ps = execaSync("ps", ["-eo", "pid,args"]).stdout;
    const leftovers = ps.split("\n").filter((l) => l.includes("projhead_worker serve") && l.includes(`--port ${port}`));
    assert.deepEqual(leftovers, [], `left behind: ${leftovers.join("; ")}`);
    void pid;
  });
});

describe("projhead doctor", () => {
  it("prints JSON with the torch version and the device list, exit 0", async () => {
    const r = await cli(["doctor", "--json"], { env: { PROJHEAD_RUN_ROOT: runRoot } });
    assert.equal(r.exitCode, 0, String(r.stderr));
    const doc = lastJson<{ healthy: boolean; info: { torchVersion: string; devices: { id: string }[] } }>(r.stdout);
    assert.equal(doc.healthy, true);
    assert.match(doc.info.torchVersion, /^\d+\.\d+/);
    assert.ok(doc.info.devices.some((d) => d.id === "cpu"));
  });
});
