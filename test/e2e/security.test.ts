// A worker that lets in only who it should: no non-loopback bind without a token (unless the
// loudly named --insecure-no-auth), the token checked by a server interceptor (health stays
// open), TLS and mutual TLS with throwaway certificates made here by openssl, and message size
// limits on both sides. Path confinement and malformed requests: bad-input.test.ts.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { status } from "@grpc/grpc-js";
import { startLocalWorker } from "../../src/workers/local.js";
import type { RunningWorker } from "../../src/workers/types.js";
import { WorkerConnection } from "../../src/client/client.js";
import { ResourceExhaustedError, UnauthenticatedError, UnavailableError } from "../../src/client/errors.js";
import { toRunSpec } from "../../src/client/spec.js";
import { ForeignClient } from "../helpers/foreign.js";
import { serveWorker, tinyExperiment, type ServedWorker } from "../helpers/runs.js";
import { makeCert as makeTlsCert } from "../helpers/tls.js";

const dir = mkdtempSync(join(tmpdir(), "projhead-security-"));
const noTokenEnv = { PROJHEAD_TOKEN: "" };

const makeCert = (name: string) => makeTlsCert(dir, name);

describe("binding beyond loopback", () => {
  it("refuses 0.0.0.0 without a token, naming the way out; nothing is created", { timeout: 30_000 }, async () => {
    const runRoot = join(dir, "refused-runs");
    await assert.rejects(serveWorker(["--host", "0.0.0.0", "--port", "0", "--run-root", runRoot], noTokenEnv), (err: Error & { exitCode?: number; stderr?: string }) => {
      assert.equal(err.exitCode, 2);
      assert.match(err.stderr!, /refusing to listen on 0\.0\.0\.0 without a token/);
      assert.match(err.stderr!, /--token-file/);
      assert.match(err.stderr!, /--insecure-no-auth/);
      return true;
    });
    assert.ok(!existsSync(runRoot), "the run root was not even created");
  });

  it("starts with --insecure-no-auth, and says so loudly", { timeout: 30_000 }, async () => {
    const w = await serveWorker(["--host", "0.0.0.0", "--port", "0", "--run-root", join(dir, "insecure-runs"), "--insecure-no-auth"], noTokenEnv);
    try {
      assert.match(w.stderr(), /WARNING: --insecure-no-auth.*WITHOUT AUTHENTICATION/);
    } finally {
      await w.stop();
    }
  });

  it("starts with a token (and warns that it travels in clear text without TLS)", { timeout: 30_000 }, async () => {
    const w = await serveWorker(["--host", "0.0.0.0", "--port", "0", "--run-root", join(dir, "token-runs")], { PROJHEAD_TOKEN: "a-long-test-token" });
    try {
      assert.match(w.stderr(), /clear text without TLS/);
      // only ever spoken to over loopback here
      const c = new WorkerConnection(`127.0.0.1:${w.port}`, { token: "a-long-test-token" });
      assert.equal((await c.getInfo()).authRequired, true);
      c.close();
    } finally {
      await w.stop();
    }
  });
});

describe("token authentication", () => {
  const token = "projhead-test-token-0123456789";
  let w: RunningWorker;
  before(async () => {
    w = await startLocalWorker({ runRoot: join(dir, "auth-runs"), token });
  });
  after(async () => {
    await w?.stop();
  });

  it("lets the right token in", async () => {
    const info = await w.connection.getInfo();
    assert.equal(info.authRequired, true);
  });

  it("refuses a missing, wrong or partial token with UNAUTHENTICATED, unary and streaming", async () => {
    for (const t of [undefined, "wrong-token", token.slice(0, -1), `${token}x`, ""]) {
      const c = new WorkerConnection(w.address, { token: t });
      try {
        await assert.rejects(c.getInfo(), UnauthenticatedError, `token ${JSON.stringify(t)}`);
        await assert.rejects(c.listRuns(), UnauthenticatedError);
        await assert.rejects(async () => {
          for await (const _ of c.watchRun("anything", 0)) void _;
        }, UnauthenticatedError);
      } finally {
        c.close();
      }
    }
  });

  it("answers health checks without a token", async () => {
    const c = new WorkerConnection(w.address);
    try {
      assert.equal(await c.checkHealth(), "SERVING");
      assert.equal(await c.checkHealth("projhead.v1.Worker"), "SERVING");
    } finally {
      c.close();
    }
  });

  it("checks the token before reading the request: malformed bytes without a token are UNAUTHENTICATED", async () => {
    const f = new ForeignClient(w.address);
    try {
      const r = await f.raw("/projhead.v1.Worker/WatchRun", Buffer.from([0x0a, 0x10]), true);
      assert.equal(r.code, status.UNAUTHENTICATED, r.details);
    } finally {
      f.close();
    }
  });
});

describe("TLS", () => {
  const server = makeCert("server");
  const client = makeCert("client");
  const other = makeCert("other");
  const ca = readFileSync(server.cert);
  let tls: ServedWorker;
  let mtls: ServedWorker;
  before(async () => {
    const base = ["--port", "0", "--tls-cert", server.cert, "--tls-key", server.key];
    [tls, mtls] = await Promise.all([
      serveWorker([...base, "--run-root", join(dir, "tls-runs")], noTokenEnv),
      serveWorker([...base, "--run-root", join(dir, "mtls-runs"), "--tls-client-ca", client.cert], noTokenEnv),
    ]);
  });
  after(async () => {
    await Promise.all([tls?.stop(), mtls?.stop()]);
  });

  it("serves TLS to a client that trusts the certificate (ca + serverName)", { timeout: 30_000 }, async () => {
    const c = new WorkerConnection(`127.0.0.1:${tls.port}`, { tls: { ca, serverName: "localhost" } });
    try {
      assert.equal((await c.getInfo()).tls, true);
    } finally {
      c.close();
    }
  });

  it("refuses plaintext clients and clients that trust another CA", { timeout: 30_000 }, async () => {
    for (const opts of [{}, { tls: { ca: readFileSync(other.cert), serverName: "localhost" } }]) {
      const c = new WorkerConnection(`127.0.0.1:${tls.port}`, { ...opts, deadlineMs: 5_000 });
      try {
        await assert.rejects(c.getInfo(), (err: Error) => err instanceof UnavailableError || /DEADLINE|UNAVAILABLE/.test(String(err)));
      } finally {
        c.close();
      }
    }
  });

  it("mutual TLS: a client without a certificate (or with an unknown one) is refused, the right one gets in", { timeout: 30_000 }, async () => {
    const address = `127.0.0.1:${mtls.port}`;
    for (const extra of [{}, { cert: readFileSync(other.cert), key: readFileSync(other.key) }]) {
      const c = new WorkerConnection(address, { tls: { ca, serverName: "localhost", ...extra }, deadlineMs: 5_000 });
      try {
        await assert.rejects(c.getInfo(), (err: Error) => err instanceof UnavailableError || /DEADLINE|UNAVAILABLE/.test(String(err)));
      } finally {
        c.close();
      }
    }
    const ok = new WorkerConnection(address, { tls: { ca, serverName: "localhost", cert: readFileSync(client.cert), key: readFileSync(client.key) } });
    try {
      assert.equal((await ok.getInfo()).tls, true);
    } finally {
      ok.close();
    }
  });
});

describe("message size limits", () => {
  let w: RunningWorker;
  const runRoot = join(dir, "size-runs");
  before(async () => {
    w = await startLocalWorker({ runRoot });
  });
  after(async () => {
    await w?.stop();
  });

  it("the client refuses to send a request over 4 MiB (RESOURCE_EXHAUSTED)", async () => {
    const spec = { ...toRunSpec(tinyExperiment(), "too-big"), name: "x".repeat(5 * 1024 * 1024) };
    await assert.rejects(w.connection.startRun(spec), ResourceExhaustedError);
  });

  it("the worker refuses a request over 4 MiB from a client without limits (RESOURCE_EXHAUSTED), and nothing is written", async () => {
    const f = new ForeignClient(w.address, { options: { "grpc.max_send_message_length": -1 } });
    try {
      const r = await f.unary("StartRun", { spec: { run_id: "too-big", name: "x".repeat(5 * 1024 * 1024) } });
      assert.equal(r.code, status.RESOURCE_EXHAUSTED, r.details);
      assert.ok(!existsSync(join(runRoot, "too-big")));
      assert.equal(await f.check(), "SERVING");
    } finally {
      f.close();
    }
  });
});
