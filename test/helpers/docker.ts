// The real container engine for test/docker: is one there, the local base image, and the worker
// image built from docker/Dockerfile, tagged with a hash of everything that goes into it so that
// every test file (and the next run on the same machine) reuses one build.
import { execa } from "execa";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { ROOT } from "./cli.js";
import { needOrSkip } from "./require.js";

export const BASE_IMAGE = process.env.PROJHEAD_TEST_BASE_IMAGE || "localhost/projhead-base:debian-bookworm";
const CA_DIR = "/usr/local/share/ca-certificates";

export async function docker(args: string[], opts: { timeout?: number; input?: string } = {}) {
  return execa("docker", args, { reject: false, stdin: opts.input === undefined ? "ignore" : undefined, input: opts.input, timeout: opts.timeout ?? 60_000 });
}

/** false, or why the docker tests skip (locally; under CI=true a missing engine throws). */
export async function engineOrSkip(): Promise<false | string> {
  const r = await execa("docker", ["version", "--format", "{{.Server.Version}}"], { reject: false, stdin: "ignore", timeout: 20_000 });
  return needOrSkip(r.exitCode === 0, "a running Docker engine", "scripts/docker-engine.sh up");
}

/** The machine's extra CA certificates (PEM), for a build behind a TLS-intercepting proxy. */
export function extraCaCerts(): string {
  if (!existsSync(CA_DIR)) return "";
  return readdirSync(CA_DIR).filter((f) => f.endsWith(".crt")).sort().map((f) => readFileSync(join(CA_DIR, f), "utf8").trim()).join("\n");
}

function files(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === "__pycache__" || e.name.endsWith(".pyc")) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...files(p));
    else out.push(p);
  }
  return out.sort();
}

/** The build's inputs: the Dockerfile, what it copies from python_worker/, the base, the build args. */
export async function imageInputsHash(base = BASE_IMAGE): Promise<string> {
  const h = createHash("sha256");
  const inputs = [
    join(ROOT, "docker/Dockerfile"), join(ROOT, ".dockerignore"),
    join(ROOT, "python_worker/pyproject.toml"), join(ROOT, "python_worker/uv.lock"),
    ...files(join(ROOT, "python_worker/projhead_worker")), ...files(join(ROOT, "python_worker/projhead")),
  ];
  for (const f of inputs) h.update(relative(ROOT, f)).update("\0").update(readFileSync(f)).update("\0");
  const id = await docker(["image", "inspect", "--format", "{{.Id}}", base]);
  h.update(`base=${base}@${String(id.stdout).trim()}\0ca=${extraCaCerts()}`);
  return h.digest("hex").slice(0, 12);
}

/** Makes the local base image when it is missing (scripts/docker-base.sh, cached). */
export async function ensureBaseImage(): Promise<string> {
  if ((await docker(["image", "inspect", BASE_IMAGE])).exitCode === 0) return BASE_IMAGE;
  const r = await execa(join(ROOT, "scripts/docker-base.sh"), [BASE_IMAGE], { reject: false, stdin: "ignore", timeout: 600_000 });
  if (r.exitCode !== 0) throw new Error(`scripts/docker-base.sh failed: ${r.stderr}`);
  return BASE_IMAGE;
}

export interface Build {
  tag: string;
  seconds: number;
  /** Whether an image with this tag was already there (then no build ran). */
  reused: boolean;
}

/**
 * `docker build` of docker/Dockerfile on the local base, as `projhead-worker:test-<hash>`. With
 * `always`, the build runs even when the tag exists (then from the engine's layer cache).
 */
export async function buildWorkerImage(always = false): Promise<Build> {
  const base = await ensureBaseImage();
  const hash = await imageInputsHash(base);
  const tag = `projhead-worker:test-${hash}`;
  if (!always && (await docker(["image", "inspect", tag])).exitCode === 0) return { tag, seconds: 0, reused: true };
  // A build of these inputs that just failed (in build.test.ts) is not tried again by every
  // other test file: each try can take minutes.
  const failed = join(tmpdir(), `projhead-docker-build-failed-${hash}`);
  if (!always && existsSync(failed) && Date.now() - statSync(failed).mtimeMs < 3_600_000) {
    throw new Error(`the worker image build failed a moment ago (node scripts/test.mjs test/docker/build.test.ts retries it):\n${readFileSync(failed, "utf8")}`);
  }
  const t0 = Date.now();
  const r = await execa("docker", [
    "build", "--force-rm", "-f", "docker/Dockerfile", "--build-arg", `BASE_IMAGE=${base}`, "--build-arg", `EXTRA_CA_CERTS=${extraCaCerts()}`,
    "--label", "projhead.test=1", "-t", tag, ".",
  ], { cwd: ROOT, reject: false, stdin: "ignore", all: true, timeout: 1_500_000, env: { DOCKER_BUILDKIT: "0" } });
  if (r.exitCode !== 0) {
    const why = `docker build failed (exit ${r.exitCode}):\n${String(r.all).split("\n").slice(-40).join("\n")}`;
    writeFileSync(failed, why);
    throw new Error(why);
  }
  rmSync(failed, { force: true });
  const seconds = (Date.now() - t0) / 1000;
  // Older test images (other inputs) would pile up on a CI machine: untag them; the engine keeps
  // the layers this one shares, and a `docker image prune` frees the rest.
  const old = String((await docker(["images", "--filter", "label=projhead.test=1", "--format", "{{.Repository}}:{{.Tag}}"])).stdout)
    .split("\n").filter((t) => t.startsWith("projhead-worker:test-") && t !== tag);
  if (old.length) await docker(["rmi", ...old]);
  return { tag, seconds, reused: false };
}

/** Bytes of an image, as the engine reports it. */
export async function imageSize(tag: string): Promise<number> {
  const r = await docker(["image", "inspect", "--format", "{{.Size}}", tag]);
  return Number(String(r.stdout).trim());
}

/** Names of the containers carrying a label (running or not). */
export async function containersWithLabel(label: string): Promise<string[]> {
  const r = await docker(["ps", "-a", "--filter", `label=${label}`, "--format", "{{.Names}}"]);
  return String(r.stdout).split("\n").filter(Boolean);
}
