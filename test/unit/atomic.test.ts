import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { writeFileAtomic, writeJsonAtomic } from "../../src/util/atomic.js";

describe("writeFileAtomic", () => {
  test("creates the folder, replaces the file, leaves no temporary file", () => {
    const dir = mkdtempSync(join(tmpdir(), "projhead-atomic-"));
    try {
      const path = join(dir, "sub", "out.json");
      writeJsonAtomic(path, { a: 1 });
      writeFileAtomic(path, new Uint8Array([123, 125, 10]));
      assert.equal(readFileSync(path, "utf8"), "{}\n");
      assert.deepEqual(readdirSync(join(dir, "sub")), ["out.json"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a failed rename keeps the old target and removes the temporary file", () => {
    const dir = mkdtempSync(join(tmpdir(), "projhead-atomic-"));
    try {
      const target = join(dir, "taken");
      mkdirSync(join(target, "child"), { recursive: true });
      assert.throws(() => writeFileAtomic(target, "x"));
      assert.ok(statSync(target).isDirectory());
      assert.deepEqual(readdirSync(dir), ["taken"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
