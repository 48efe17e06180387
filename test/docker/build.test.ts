// `docker build` of docker/Dockerfile on the real engine (legacy builder), on the local Debian base
// (scripts/docker-base.sh). The first build downloads the locked wheels (torch with its CUDA
// libraries); later ones come from the engine's layer cache. Prints the build time and image size.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ROOT } from "../helpers/cli.js";
import { buildWorkerImage, docker, engineOrSkip, imageSize } from "../helpers/docker.js";

const skip = await engineOrSkip();

describe("docker build of docker/Dockerfile (real engine)", { skip, timeout: 1_800_000 }, () => {
  let tag = "";

  it("builds, and reports its time and size", { timeout: 1_800_000 }, async (t) => {
    const build = await buildWorkerImage(true);
    tag = build.tag;
    const size = await imageSize(tag);
    assert.ok(size > 100e6, `image size ${size}`);
    t.diagnostic(`image ${tag}: built in ${build.seconds.toFixed(0)} s, ${(size / 1e9).toFixed(2)} GB`);
  });

  it("is what the runtime relies on: non-root user, exec-form entrypoint, gRPC HEALTHCHECK, port, volumes", async () => {
    const r = await docker(["image", "inspect", tag]);
    assert.equal(r.exitCode, 0, String(r.stderr));
    const [img] = JSON.parse(String(r.stdout)) as { Config: { User: string; Entrypoint: string[]; Healthcheck: { Test: string[] }; ExposedPorts: Record<string, unknown>; Volumes: Record<string, unknown> } }[];
    const c = img!.Config;
    assert.equal(c.User, "10001:10001");
    assert.deepEqual(c.Entrypoint, ["python", "-m", "projhead_worker", "serve"]);
    assert.deepEqual(c.Healthcheck.Test, ["CMD", "python", "-m", "projhead_worker.healthcheck"]);
    assert.ok("50051/tcp" in c.ExposedPorts);
    assert.deepEqual(Object.keys(c.Volumes).sort(), ["/data", "/runs"]);
  });

  it("holds the locked torch and worker, and no build-time CA certificate", { timeout: 120_000 }, async () => {
    const lock = readFileSync(join(ROOT, "python_worker/uv.lock"), "utf8");
    const locked = [...lock.matchAll(/name = "torch"\nversion = "([^"]+)"/g)].map((m) => m[1]);
    const r = await docker([
      "run", "--rm", "--entrypoint", "sh", tag, "-c",
      "python -c 'import torch, projhead_worker.server.service; print(torch.__version__)' && id -u && ! test -e /usr/local/share/ca-certificates/projhead-build-extra.crt && echo clean",
    ], { timeout: 120_000 });
    assert.equal(r.exitCode, 0, String(r.stderr));
    const [version, uid, clean] = String(r.stdout).trim().split("\n");
    assert.ok(locked.includes(version!.replace(/\+.*$/, "")), `torch ${version} vs locked ${locked.join(", ")}`);
    assert.equal(uid, "10001");
    assert.equal(clean, "clean");
  });
});
