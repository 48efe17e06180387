// Training in the worker container on the real engine (image from docker/Dockerfile on the local
// base): a tiny run on the real Fashion-MNIST mounted read-only, whose run files belong to the
// invoking user (who deletes them without root), which `projhead eval` evaluates in a new
// container and `projhead report` reads on the host;
// and `docker stop` (SIGTERM) in the middle of a run, then `projhead resume` in a new container,
// ending with exactly the losses of an uninterrupted run (CPU, same seed).
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { clientLabelValue } from "../../src/workers/docker.js";
import { lastJson, waitFor } from "../helpers/cli.js";
import { buildWorkerImage, containersWithLabel, docker, engineOrSkip } from "../helpers/docker.js";
import { invoker } from "../helpers/invoker.js";
import { needOrSkip } from "../helpers/require.js";
import { clientEvents, stepLosses, tinyYaml, workerEvents } from "../helpers/runs.js";

const FASHION = "/usr/share/datasets/fashion-mnist";
const skip = (await engineOrSkip()) || needOrSkip(existsSync(FASHION), "Fashion-MNIST", "apt-get install dataset-fashion-mnist");
const tmp = mkdtempSync(join(tmpdir(), "projhead-docker-train-"));
const user = invoker(tmp);
const runs = join(tmp, "runs");

/** Every file and folder under dir, with the folder itself. */
function tree(dir: string): string[] {
  return [dir, ...readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? tree(join(dir, e.name)) : [join(dir, e.name)]))];
}

describe("training in the worker container", { skip, timeout: 900_000 }, () => {
  let image = "";
  before(async () => {
    image = (await buildWorkerImage()).tag;
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it("trains on mounted data into mounted runs owned by the invoking user; report reads them on the host", { timeout: 300_000 }, async () => {
    const exp = join(tmp, "fashion.yaml");
    writeFileSync(exp, tinyYaml({ name: "fashion", data: { name: "fashion-mnist", root: FASHION, trainLimit: 256, testLimit: 64 }, train: { epochs: 2 } }));
    const r = await user.cli(["run", exp, "--docker", "--image", image, "--runs", runs, "--run-id", "fashion", "--json"], { timeout: 240_000 });
    assert.equal(r.exitCode, 0, String(r.stderr));
    assert.equal(lastJson<{ state: string }>(r.stdout).state, "finished");
    const dir = join(runs, "fashion");
    assert.equal(stepLosses(clientEvents(dir)).length, 16);
    assert.ok(workerEvents(dir).length > 0, "the worker wrote its event log into the mounted run folder");
    const started = clientEvents(dir).find((e) => e.type === "started");
    assert.equal(started?.data.trainImages, 256, "read the real dataset through the read-only /data mount");
    // Everything the worker wrote (checkpoints included) belongs to the invoking user.
    const files = tree(dir);
    assert.ok(files.some((f) => f.endsWith(".safetensors") || f.includes("checkpoint")), files.join("\n"));
    for (const f of files) {
      const st = statSync(f);
      assert.deepEqual([st.uid, st.gid], [user.uid, user.gid], `${f} belongs to ${st.uid}:${st.gid}`);
    }

    // eval in a new container mounts the run's data folder again: spec.json names the host
    // folder, while the stored data.root is the container path /data/0/... .
    const ev = await user.cli(["eval", dir, "--docker", "--image", image, "--json"], { timeout: 240_000 });
    assert.equal(ev.exitCode, 0, String(ev.stderr));
    assert.equal(lastJson<{ trainImages: number }>(ev.stdout).trainImages, 256);

    const rep = await user.cli(["report", dir, "--json", "--no-html"], { timeout: 60_000 });
    assert.equal(rep.exitCode, 0, String(rep.stderr));
    assert.match(String(rep.stdout), /fashion/);

    // ...and that user removes them without root.
    const rm = await user.run("rm", ["-r", dir]);
    assert.equal(rm.exitCode, 0, String(rm.stderr));
    assert.ok(!existsSync(dir));
  });

  it("docker stop mid-run checkpoints; projhead resume in a new container ends with the uninterrupted run's losses", { timeout: 600_000 }, async () => {
    const exp = join(tmp, "shapes.yaml");
    writeFileSync(exp, tinyYaml({ name: "shapes", train: { epochs: 6 } })); // 48 steps, checkpoint every 2
    const run = (id: string) => user.cli(["run", exp, "--docker", "--image", image, "--runs", runs, "--run-id", id, "--json"], { timeout: 300_000 });

    const reference = await run("reference");
    assert.equal(reference.exitCode, 0, String(reference.stderr));
    const expected = stepLosses(clientEvents(join(runs, "reference")));
    assert.equal(expected.length, 48);

    const dir = join(runs, "stopped");
    const child = run("stopped");
    await waitFor(() => stepLosses(clientEvents(dir)).length >= 10, 180_000, "10 training steps in the container");
    const [name] = await containersWithLabel(`projhead.client=${clientLabelValue(child.pid!)}`);
    assert.ok(name, "the CLI's container, found by its label");
    const stop = await docker(["stop", "-t", "30", name], { timeout: 60_000 });
    assert.equal(stop.exitCode, 0, String(stop.stderr));
    const interrupted = await child;
    assert.notEqual(interrupted.exitCode, 0);
    assert.match(String(interrupted.stdout) + String(interrupted.stderr), /projhead resume/);
    // SIGTERM reached the worker (exec-form entrypoint under --init): a checkpoint for the signal,
    // then the run ends "interrupted", resumable.
    const [ckpt, end] = workerEvents(dir).slice(-2);
    assert.deepEqual([ckpt?.type, ckpt?.reason, end?.type, end?.reason], ["checkpoint", "signal", "interrupted", "worker_signal"], JSON.stringify([ckpt, end]));
    assert.ok(stepLosses(clientEvents(dir)).length < 48, "stopped before the end");
    assert.deepEqual(await containersWithLabel(`projhead.client=${clientLabelValue(child.pid!)}`), [], "the stopped container is gone (--rm)");

    const resumed = await user.cli(["resume", dir, "--docker", "--image", image, "--json"], { timeout: 300_000 });
    assert.equal(resumed.exitCode, 0, String(resumed.stderr));
    assert.equal(lastJson<{ state: string }>(resumed.stdout).state, "finished");
    assert.deepEqual(stepLosses(clientEvents(dir)), expected);
  });
});
