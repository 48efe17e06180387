// The `docker run` command line of the docker runtime, checked without a Docker engine.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { containerDataPath, dataMounts, dockerRunArgs, freePort, gpusArg, startDockerWorker, type DockerRunArgsOptions } from "../../src/workers/docker.js";
import { WorkerStartError } from "../../src/workers/types.js";

const base: DockerRunArgsOptions = { image: "projhead-worker:test", name: "projhead-worker-abc", hostPort: 45678, runRoot: "/home/u/runs" };

/** The values that follow each occurrence of `flag`. */
function values(args: string[], flag: string): string[] {
  const out: string[] = [];
  args.forEach((a, i) => {
    if (a === flag) out.push(args[i + 1]!);
  });
  return out;
}

/** Options before the image (what docker itself reads). */
function dockerPart(args: string[], image = base.image): string[] {
  return args.slice(0, args.indexOf(image));
}

describe("dockerRunArgs", () => {
  it("runs in the foreground, removed on exit, under an init, with the given name", () => {
    const args = dockerRunArgs(base);
    assert.equal(args[0], "run");
    assert.ok(args.includes("--rm"));
    assert.ok(args.includes("--init"), "an init must be PID 1 so SIGTERM reaches the worker and children are reaped");
    assert.ok(!args.includes("-d") && !args.includes("--detach"), "foreground: READY and stderr come through the client");
    assert.ok(!args.includes("-t") && !args.includes("-it"), "no TTY: stdout and stderr must stay separate");
    assert.deepEqual(values(args, "--name"), ["projhead-worker-abc"]);
  });

  it("asks for GPUs only when told to", () => {
    assert.ok(!dockerRunArgs(base).includes("--gpus"));
    assert.ok(!dockerRunArgs({ ...base, gpus: 0 }).includes("--gpus"));
    assert.ok(!dockerRunArgs({ ...base, gpus: "none" }).includes("--gpus"));
    assert.deepEqual(values(dockerRunArgs({ ...base, gpus: "all" }), "--gpus"), ["all"]);
    assert.deepEqual(values(dockerRunArgs({ ...base, gpus: 2 }), "--gpus"), ["2"]);
    assert.deepEqual(values(dockerRunArgs({ ...base, gpus: "device=0,1" }), "--gpus"), ["device=0,1"]);
    assert.equal(gpusArg(undefined), undefined);
    assert.equal(gpusArg(" all "), "all");
  });

  it("publishes the worker's port on loopback only", () => {
    const args = dockerRunArgs(base);
    assert.deepEqual(values(args, "-p"), ["127.0.0.1:45678:50051"]);
    assert.ok(!args.includes("-P") && !args.includes("--publish-all") && !args.includes("--network"));
    assert.deepEqual(values(dockerRunArgs({ ...base, bindAddress: "::1" }), "-p"), ["[::1]:45678:50051"]);
  });

  it("mounts the run root read-write at /runs and each data root read-only at /data/<i>", () => {
    const args = dockerRunArgs({ ...base, dataRoots: ["/srv/data/a", "/srv/data/b", "/srv/data/a/"] });
    assert.deepEqual(values(args, "-v"), ["/home/u/runs:/runs", "/srv/data/a:/data/0:ro", "/srv/data/b:/data/1:ro"]);
  });

  it("passes the token through the container's stdin, never as an argument or a variable", () => {
    const args = dockerRunArgs(base);
    assert.ok(dockerPart(args).includes("-i"), "stdin is attached");
    assert.deepEqual(values(dockerPart(args), "-e"), [], "no environment variable (docker inspect would show its value)");
    assert.ok(args.every((a) => !a.startsWith("PROJHEAD_TOKEN")));
    assert.deepEqual(values(args.slice(args.indexOf(base.image)), "--token-file"), ["/dev/stdin"]);
  });

  it("labels the container with its role and the process that started it", () => {
    const args = dockerRunArgs({ ...base, client: "box:123" });
    assert.deepEqual(values(dockerPart(args), "--label"), ["projhead.role=worker", "projhead.client=box:123"]);
  });

  it("puts the image last among docker's options, then the serve arguments for the container", () => {
    const args = dockerRunArgs({ ...base, gpus: "all", dataRoots: ["/srv/d"], maxRuns: 2, user: "1000:1000" });
    const i = args.indexOf(base.image);
    assert.equal(args.lastIndexOf(base.image), i);
    const serve = args.slice(i + 1);
    assert.deepEqual(serve, ["--host", "0.0.0.0", "--port", "50051", "--run-root", "/runs", "--data-root", "/data", "--token-file", "/dev/stdin", "--max-runs", "2"]);
    for (const f of ["--gpus", "-p", "-v", "-i", "--name", "--init", "--rm", "--user"]) assert.ok(dockerPart(args).includes(f), f);
    assert.deepEqual(values(dockerPart(args), "--user"), ["1000:1000"]);
  });

  it("refuses mount sources that -v would split", { skip: process.platform === "win32" }, () => {
    assert.throws(() => dockerRunArgs({ ...base, runRoot: "/tmp/a:b" }), /':'/);
    assert.throws(() => dockerRunArgs({ ...base, dataRoots: ["/x:y"] }), /':'/);
  });
});

describe("data paths in the container", () => {
  it("maps host data roots to /data/<i>, deduplicated", () => {
    assert.deepEqual(dataMounts(["/a", "/b", "/a"]), [{ host: "/a", container: "/data/0" }, { host: "/b", container: "/data/1" }]);
  });

  it("translates a host path inside a data root, resolving relative paths from the cwd", () => {
    const roots = ["/srv/datasets", "/mnt/other", process.cwd()];
    assert.equal(containerDataPath("/srv/datasets/fashion-mnist", roots), "/data/0/fashion-mnist");
    assert.equal(containerDataPath("/srv/datasets/a/b/", roots), "/data/0/a/b");
    assert.equal(containerDataPath("/mnt/other", roots), "/data/1");
    assert.equal(containerDataPath("./data", roots), "/data/2/data");
    assert.equal(containerDataPath("/srv/datasets-2/x", roots), undefined, "a sibling with a common prefix is not inside");
    assert.equal(containerDataPath("/elsewhere/x", roots), undefined);
  });

  it("keeps paths that are already container paths", () => {
    assert.equal(containerDataPath("/data/cifar10", ["/srv/datasets"]), "/data/cifar10");
    assert.equal(containerDataPath("/data", []), "/data");
    // ...unless a host data root really lives under /data
    assert.equal(containerDataPath("/data/sets/x", ["/data/sets"]), "/data/0/x");
  });
});

describe("freePort", () => {
  it("returns a port that can be bound on loopback", async () => {
    const port = await freePort();
    assert.ok(port > 0 && port < 65536);
  });
});

describe("startDockerWorker before any engine is asked", () => {
  const tmp = mkdtempSync(join(tmpdir(), "projhead-docker-unit-"));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it("names a missing docker executable", async () => {
    await assert.rejects(startDockerWorker({ runRoot: join(tmp, "runs"), docker: join(tmp, "no-such-docker") }), (err: Error) => {
      assert.ok(err instanceof WorkerStartError, String(err));
      assert.match(err.message, /could not run .*no-such-docker.*PROJHEAD_DOCKER/s);
      return true;
    });
  });

  it("refuses a data root that does not exist (docker would create it, owned by root)", async () => {
    await assert.rejects(startDockerWorker({ runRoot: join(tmp, "runs"), dataRoots: [join(tmp, "missing")], docker: join(tmp, "no-such-docker") }), /not a directory/);
  });
});
