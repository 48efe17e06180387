import assert from "node:assert/strict";
import fs, { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { syncBuiltinESMExports } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { writeTokenFile } from "../../src/workers/token.js";
import { writeFileAtomic, writeJsonAtomic } from "../../src/fsutil/atomic.js";

/** Runs `fn` with every fs.writeSync failing as on a full disk. */
function withFullDisk(fn: () => void): void {
  const original = fs.writeSync;
  fs.writeSync = (() => {
    throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
  }) as typeof fs.writeSync;
  syncBuiltinESMExports();
  try {
    fn();
  } finally {
    fs.writeSync = original;
    syncBuiltinESMExports();
  }
}

/** The permission bits of every file descriptor at its first write, while `fn` runs. */
function modesAtFirstWrite(fn: () => void): number[] {
  const original = fs.writeSync;
  const seen = new Set<number>();
  const modes: number[] = [];
  fs.writeSync = ((fd: number, ...rest: unknown[]) => {
    if (!seen.has(fd)) {
      seen.add(fd);
      modes.push(fs.fstatSync(fd).mode & 0o777);
    }
    return (original as (...a: unknown[]) => number)(fd, ...rest);
  }) as typeof fs.writeSync;
  syncBuiltinESMExports(); // the named import in atomic.ts sees the wrapper
  try {
    fn();
  } finally {
    fs.writeSync = original;
    syncBuiltinESMExports();
  }
  return modes;
}

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

  test("mode: the file has its permission bits from the first byte written", { skip: process.platform === "win32" && "no POSIX modes" }, () => {
    const dir = mkdtempSync(join(tmpdir(), "projhead-atomic-"));
    const umask = process.umask(0o022);
    try {
      const path = join(dir, "secret");
      assert.deepEqual(modesAtFirstWrite(() => writeFileAtomic(path, "s3cret\n", { mode: 0o600 })), [0o600]);
      assert.equal(statSync(path).mode & 0o777, 0o600);
      writeFileAtomic(join(dir, "plain"), "x");
      assert.equal(statSync(join(dir, "plain")).mode & 0o777, 0o644); // the default: 0666 less the umask
    } finally {
      process.umask(umask);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("exclusive: an existing file is never replaced, and nothing is left behind", () => {
    const dir = mkdtempSync(join(tmpdir(), "projhead-atomic-"));
    try {
      const path = join(dir, "once");
      writeFileAtomic(path, "first", { exclusive: true });
      assert.throws(() => writeFileAtomic(path, "second", { exclusive: true }), { code: "EEXIST" });
      assert.equal(readFileSync(path, "utf8"), "first");
      assert.deepEqual(readdirSync(dir), ["once"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("writeTokenFile", () => {
  test("writes the token 0600 from its first byte and never replaces a file", () => {
    const dir = mkdtempSync(join(tmpdir(), "projhead-token-"));
    try {
      const file = join(dir, "sub", "token");
      const modes = modesAtFirstWrite(() => writeTokenFile(file, "abc"));
      if (process.platform !== "win32") {
        assert.deepEqual(modes, [0o600]);
        assert.equal(statSync(file).mode & 0o777, 0o600);
      }
      assert.equal(readFileSync(file, "utf8"), "abc\n");
      assert.throws(() => writeTokenFile(file, "other"), { code: "EEXIST" });
      writeFileSync(join(dir, "taken"), "mine\n");
      assert.throws(() => writeTokenFile(join(dir, "taken"), "other"), { code: "EEXIST" });
      assert.equal(readFileSync(file, "utf8"), "abc\n");
      assert.equal(readFileSync(join(dir, "taken"), "utf8"), "mine\n");
      assert.deepEqual(readdirSync(join(dir, "sub")), ["token"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a write that fails leaves no token file (not an empty one a later start would read)", () => {
    const dir = mkdtempSync(join(tmpdir(), "projhead-token-"));
    try {
      assert.throws(() => withFullDisk(() => writeTokenFile(join(dir, "token"), "abc")), { code: "ENOSPC" });
      assert.deepEqual(readdirSync(dir), []);
      writeTokenFile(join(dir, "token"), "abc"); // the next try finds the name free
      assert.equal(readFileSync(join(dir, "token"), "utf8"), "abc\n");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
