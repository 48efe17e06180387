// The docker runtime end to end, without a Docker engine: test/fixtures/fake-docker/docker (a
// test double on PATH) turns `docker run` into the real worker on this machine, translating the
// container's port and mounts, and records every call. What is real: the runtime's argument
// list, READY + health waiting, gRPC with token auth, and stopping through `docker stop`.
import assert from "node:assert/strict";
import { execa } from "execa";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { obtainWorker } from "../../src/runtime/index.js";
import { startDockerWorker, type DockerWorker } from "../../src/runtime/docker.js";
import { WorkerStartError, type RunningWorker } from "../../src/runtime/types.js";
import { WorkerConnection } from "../../src/worker/client.js";
import { UnauthenticatedError } from "../../src/worker/errors.js";
import { venvPython } from "../../src/runtime/paths.js";
import { ROOT, cli, isAlive, waitFor } from "../helpers/cli.js";

const FAKE_DOCKER_DIR = join(ROOT, "test/fixtures/fake-docker");
const tmp = mkdtempSync(join(tmpdir(), "projhead-docker-test-"));
const runRoot = join(tmp, "runs");
const dataRoot = join(tmp, "datasets");
const log = join(tmp, "docker.log");
mkdirSync(dataRoot);

const saved = { PATH: process.env.PATH, FAKE_DOCKER_LOG: process.env.FAKE_DOCKER_LOG, FAKE_DOCKER_STATE: process.env.FAKE_DOCKER_STATE, PROJHEAD_TOKEN: process.env.PROJHEAD_TOKEN, PROJHEAD_DOCKER: process.env.PROJHEAD_DOCKER };
before(() => {
  chmodSync(join(FAKE_DOCKER_DIR, "docker"), 0o755); // in case a checkout lost the executable bit
  process.env.PATH = `${FAKE_DOCKER_DIR}${delimiter}${process.env.PATH}`;
  process.env.FAKE_DOCKER_LOG = log;
  process.env.FAKE_DOCKER_STATE = join(tmp, "state");
  delete process.env.PROJHEAD_TOKEN; // the runtime must generate one
  delete process.env.PROJHEAD_DOCKER;
});
after(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  rmSync(tmp, { recursive: true, force: true });
});

/** The fake docker's calls, each as its argv. */
const calls = (): string[][] =>
  readFileSync(log, "utf8").split("\n").filter(Boolean).map((l) => l.split("\t"));

describe("docker runtime (fake docker on PATH, real worker)", { timeout: 60_000 }, () => {
  let w: RunningWorker;
  let workerPid = 0;
  before(async () => {
    w = await obtainWorker({ kind: "docker", gpus: "all" }, { runRoot, dataRoots: [dataRoot] });
  });
  after(async () => {
    await w?.stop();
  });

  it("serves GetInfo over real gRPC with the generated token", async () => {
    assert.equal(w.kind, "docker");
    assert.match(w.address, /^127\.0\.0\.1:\d+$/);
    const info = await w.connection.getInfo();
    assert.match(info.torchVersion, /^\d+\.\d+/);
    assert.equal(info.runRoot, runRoot, "the fake maps /runs back to the host run root");
    workerPid = info.pid;
    assert.ok(isAlive(workerPid));
    // what the orchestrator must send as data.root for a dataset under the mounted data root
    assert.equal((w as DockerWorker).containerPath(join(dataRoot, "fashion-mnist")), "/data/0/fashion-mnist");
  });

  it("passes the image's HEALTHCHECK command (python -m projhead_worker.healthcheck)", async () => {
    const port = w.address.split(":").at(-1)!;
    const r = await execa(venvPython(), ["-m", "projhead_worker.healthcheck", "--port", port], { reject: false });
    assert.equal(r.exitCode, 0, String(r.stderr));
    const unknown = await execa(venvPython(), ["-m", "projhead_worker.healthcheck", "--port", port, "--service", "no.such.Service"], { reject: false });
    assert.equal(unknown.exitCode, 1);
  });

  it("rejects calls without the token (the worker got it through the environment)", async () => {
    const anon = new WorkerConnection(w.address);
    try {
      await assert.rejects(anon.getInfo(), UnauthenticatedError);
    } finally {
      anon.close();
    }
  });

  it("ran `docker run` with the GPUs, loopback port, mounts, and no token value on the command line", () => {
    const run = calls().find((c) => c[0] === "run");
    assert.ok(run, "a docker run call");
    assert.equal(run[run.indexOf("--gpus") + 1], "all");
    assert.ok(run.includes("--init"));
    assert.equal(run[run.indexOf("-p") + 1], `${w.address}:50051`);
    assert.ok(run.includes(`${dataRoot}:/data/0:ro`));
    assert.ok(run.includes(`${runRoot}:/runs`));
    assert.ok(run.includes("PROJHEAD_TOKEN"));
    assert.ok(!run.some((a) => a.startsWith("PROJHEAD_TOKEN=")));
  });

  it("stop() stops the container by name and the worker process is gone", async () => {
    await w.stop();
    const run = calls().find((c) => c[0] === "run")!;
    const name = run[run.indexOf("--name") + 1]!;
    assert.match(name, /^projhead-worker-[0-9a-f]+$/);
    const stop = calls().find((c) => c[0] === "stop");
    assert.ok(stop, "a docker stop call");
    assert.equal(stop.at(-1), name);
    await waitFor(() => !isAlive(workerPid), 10_000, "the worker to exit");
    const port = w.address.split(":").at(-1)!;
    const hc = await execa(venvPython(), ["-m", "projhead_worker.healthcheck", "--port", port, "--timeout", "1"], { reject: false });
    assert.equal(hc.exitCode, 1, "unhealthy once stopped");
  });
});

describe("projhead worker start --docker", { timeout: 60_000 }, () => {
  it("prints where the worker is, keeps it until SIGINT, then stops the container", async () => {
    const tokenFile = join(tmp, "token");
    const child = cli(["worker", "start", "--docker", "--gpus", "1", "--port", "0", "--runs", runRoot, "--token-file", tokenFile, "--json"], {
      env: { PATH: process.env.PATH, FAKE_DOCKER_LOG: log, FAKE_DOCKER_STATE: join(tmp, "state") },
      buffer: false,
    });
    const ready = await new Promise<{ name: string; address: string; tokenSource: string; token?: string }>((done, fail) => {
      createInterface({ input: child.stdout! }).on("line", (line) => {
        if (line.startsWith("{")) done(JSON.parse(line));
      });
      void child.then((r) => fail(new Error(`worker start exited early (${r.exitCode}): ${String(r.stderr ?? "")}`)));
    });
    assert.equal(ready.token, undefined, "the token is not printed without --print-token");
    assert.match(ready.tokenSource, /new/);
    const token = readFileSync(tokenFile, "utf8").trim();
    assert.ok(token.length >= 32);
    const conn = new WorkerConnection(ready.address, { token });
    try {
      assert.ok((await conn.getInfo()).pid > 0, "the token written to --token-file opens the worker");
    } finally {
      conn.close();
    }
    child.kill("SIGINT");
    const r = await child;
    assert.equal(r.exitCode, 0);
    const run = calls().find((c) => c[0] === "run" && c.includes(ready.name));
    assert.equal(run?.[run.indexOf("--gpus") + 1], "1");
    assert.ok(calls().some((c) => c[0] === "stop" && c.at(-1) === ready.name));
  });
});

describe("docker runtime failures", { timeout: 30_000 }, () => {
  it("reports the daemon's error with a hint", async () => {
    process.env.FAKE_DOCKER_RUN_FAIL = 'could not select device driver "" with capabilities: [[gpu]]';
    try {
      await assert.rejects(startDockerWorker({ gpus: "all", runRoot }), (err: Error) => {
        assert.ok(err instanceof WorkerStartError, String(err));
        assert.match(err.message, /exited before it was ready/);
        assert.match(err.message, /could not select device driver/);
        assert.match(err.message, /NVIDIA Container Toolkit/);
        return true;
      });
    } finally {
      delete process.env.FAKE_DOCKER_RUN_FAIL;
    }
  });

  it("names a missing docker executable", async () => {
    await assert.rejects(startDockerWorker({ runRoot, docker: join(tmp, "no-such-docker") }), (err: Error) => {
      assert.ok(err instanceof WorkerStartError, String(err));
      assert.match(err.message, /could not run .*no-such-docker.*PROJHEAD_DOCKER/s);
      return true;
    });
  });

  it("refuses a data root that does not exist (docker would create it, owned by root)", async () => {
    await assert.rejects(startDockerWorker({ runRoot, dataRoots: [join(tmp, "missing")] }), /not a directory/);
  });
});
