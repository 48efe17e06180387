// `projhead worker start --docker` on the real engine: the container becomes healthy by its own
// HEALTHCHECK, GetInfo works with the generated token, which shows neither in `docker inspect`
// nor on any command line; a CLI killed with SIGKILL leaves its container behind, which the next
// start finds by label and stops; `--gpus all` on this engine (no NVIDIA runtime) fails clearly
// and leaves no container.
import assert from "node:assert/strict";
import { execa } from "execa";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { clientLabelValue } from "../../src/workers/docker.js";
import { WorkerConnection } from "../../src/client/client.js";
import { UnauthenticatedError } from "../../src/client/errors.js";
import { waitFor } from "../helpers/cli.js";
import { buildWorkerImage, containersWithLabel, docker, engineOrSkip } from "../helpers/docker.js";
import { invoker } from "../helpers/invoker.js";
import { tinyYaml } from "../helpers/runs.js";

const skip = await engineOrSkip();
const tmp = mkdtempSync(join(tmpdir(), "projhead-docker-start-"));
const user = invoker(tmp);
const runs = join(tmp, "runs");

interface Ready { name: string; address: string; tokenSource: string; token?: string }

/** `projhead worker start --docker` as a child, resolved with its JSON ready line. */
async function workerStart(image: string, extra: string[] = []) {
  const child = user.cli(["worker", "start", "--docker", "--image", image, "--port", "0", "--runs", runs, "--json", ...extra], { buffer: false, all: false });
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
  const ready = await new Promise<Ready>((done, fail) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (line.startsWith("{")) done(JSON.parse(line) as Ready);
    });
    void child.then((r) => fail(new Error(`worker start exited early (${r.exitCode}): ${stderr}`)));
  });
  return { child, ready, stderr: () => stderr };
}

const health = async (name: string) => String((await docker(["inspect", "--format", "{{.State.Health.Status}}", name])).stdout).trim();

describe("projhead worker start --docker (real engine)", { skip, timeout: 600_000 }, () => {
  let image = "";
  before(async () => {
    image = (await buildWorkerImage()).tag;
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it("is healthy by its HEALTHCHECK, serves GetInfo with the generated token, which no inspect or command line shows", { timeout: 240_000 }, async () => {
    const tokenFile = join(tmp, "token");
    const { child, ready } = await workerStart(image, ["--token-file", tokenFile]);
    try {
      assert.match(ready.tokenSource, /new/);
      assert.equal(ready.token, undefined);
      const token = readFileSync(tokenFile, "utf8").trim();
      assert.ok(token.length >= 32);

      // The engine's own verdict, from the image's HEALTHCHECK (gRPC health service).
      let status = "";
      for (const end = Date.now() + 120_000; status !== "healthy" && Date.now() < end;) {
        status = await health(ready.name);
        if (status !== "healthy") await new Promise((r) => setTimeout(r, 1000));
      }
      assert.equal(status, "healthy");

      const conn = new WorkerConnection(ready.address, { token });
      try {
        const info = await conn.getInfo();
        assert.match(info.torchVersion, /^2\./);
        assert.equal(info.runRoot, "/runs");
        const mini = info.datasets.find((d) => d.name === "fashion-mnist-mini");
        assert.equal(mini?.available, true, `the image carries the worker's embedded dataset: ${mini?.detail}`);
      } finally {
        conn.close();
      }
      const anon = new WorkerConnection(ready.address);
      try {
        await assert.rejects(anon.getInfo(), UnauthenticatedError);
      } finally {
        anon.close();
      }

      const inspect = await docker(["inspect", ready.name]);
      assert.equal(inspect.exitCode, 0);
      assert.ok(!String(inspect.stdout).includes(token), "the token is not in docker inspect");
      const [cfg] = JSON.parse(String(inspect.stdout)) as { Config: { User: string; Labels: Record<string, string> } }[];
      assert.equal(cfg!.Config.User, `${user.uid}:${user.gid}`, "runs as the invoking user");
      assert.equal(cfg!.Config.Labels["projhead.client"], clientLabelValue(child.pid!));
      const ps = await execa("ps", ["-eww", "-o", "args="]);
      assert.ok(!ps.stdout.includes(token), "the token is on no command line of this host");
    } finally {
      child.kill("SIGINT");
    }
    const r = await child;
    assert.equal(r.exitCode, 0);
    assert.deepEqual(await containersWithLabel(`projhead.client=${clientLabelValue(child.pid!)}`), [], "Ctrl-C stops and removes the container");
  });

  it("a start after the CLI was SIGKILLed stops the container it left behind", { timeout: 240_000 }, async () => {
    const first = await workerStart(image);
    const label = `projhead.client=${clientLabelValue(first.child.pid!)}`;
    first.child.kill("SIGKILL");
    await first.child;
    assert.deepEqual(await containersWithLabel(label), [first.ready.name], "the container outlives its killed CLI");

    const second = await workerStart(image);
    try {
      assert.match(second.stderr(), new RegExp(`stopped leftover worker container ${first.ready.name}`));
      assert.deepEqual(await containersWithLabel(label), [], "the leftover is gone");
      assert.deepEqual(await containersWithLabel(`projhead.client=${clientLabelValue(second.child.pid!)}`), [second.ready.name], "the new one runs");
    } finally {
      second.child.kill("SIGINT");
    }
    assert.equal((await second.child).exitCode, 0);
  });

  it("--gpus all without a GPU runtime: says the NVIDIA Container Toolkit is missing, exit 1, no container left", { timeout: 120_000 }, async () => {
    const exp = join(tmp, "gpu.yaml");
    writeFileSync(exp, tinyYaml({ name: "gpu" }));
    const child = user.cli(["run", exp, "--docker", "--gpus", "all", "--image", image, "--runs", runs], { timeout: 90_000 });
    const r = await child;
    assert.equal(r.exitCode, 1, String(r.stderr));
    assert.match(String(r.stderr), /--gpus all: this host lacks the NVIDIA Container Toolkit/);
    assert.deepEqual(await containersWithLabel(`projhead.client=${clientLabelValue(child.pid!)}`), [], "no container left, not even a created one");
  });
});
