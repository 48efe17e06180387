import assert from "node:assert/strict";
import { createServer, type Socket } from "node:net";
import { describe, test } from "node:test";
import { WorkerConnection } from "../../src/client/client.js";
import { DeadlineExceededError, NotFoundError, UnavailableError } from "../../src/client/errors.js";
import { Outage } from "../../src/client/retry.js";

describe("retry policy", () => {
  test("an outage retries UNAVAILABLE at the interval until the window has passed", async () => {
    const outage = new Outage({ forMs: 120, intervalMs: 30 });
    const unavailable = new UnavailableError("UNAVAILABLE", "gone");
    const t0 = Date.now();
    let tries = 0;
    await assert.rejects(async () => {
      for (;;) {
        tries++;
        await outage.next(unavailable);
      }
    }, (e) => e === unavailable);
    const took = Date.now() - t0;
    assert.ok(took >= 120, `gave up after ${took} ms`);
    assert.ok(tries >= 3 && tries <= 6, `${tries} tries`);
  });

  test("any other error is rethrown at once; reset starts a new window", async () => {
    const outage = new Outage({ forMs: 50, intervalMs: 10 });
    const notFound = new NotFoundError("NOT_FOUND", "no such run");
    await assert.rejects(outage.next(notFound), (e) => e === notFound);
    const unavailable = new UnavailableError("UNAVAILABLE", "gone");
    await outage.next(unavailable);
    await new Promise((r) => setTimeout(r, 60));
    outage.reset();
    await outage.next(unavailable); // a fresh window: no rethrow
  });
});

describe("connection deadlines", () => {
  test("deadlines.getInfo bounds a call to a peer that never answers", async () => {
    // A TCP listener that accepts and stays silent: the call can only end by its deadline.
    const sockets: Socket[] = [];
    const server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as { port: number };
    const conn = new WorkerConnection(`127.0.0.1:${port}`, { deadlines: { getInfo: 300 } });
    try {
      const t0 = Date.now();
      await assert.rejects(conn.getInfo(), DeadlineExceededError);
      const took = Date.now() - t0;
      assert.ok(took >= 250 && took < 10_000, `getInfo ended after ${took} ms`);
    } finally {
      conn.close();
      for (const s of sockets) s.destroy();
      server.close();
    }
  });
});
