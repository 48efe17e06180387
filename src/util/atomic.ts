// The one way this package writes a file that a reader, or a kill, must never see half-written:
// a temporary file in the same folder (so the rename stays on one filesystem), fsync, rename over
// the target, then fsync of the folder so the rename itself survives a crash. Folders cannot be
// opened for fsync on every platform (Windows); there the folder sync is skipped.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { basename, dirname, join } from "node:path";

/** Replaces `path` with `data` atomically, creating its folder if needed. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  // pid and random suffix: two writers of the same file (processes, or overlapping calls in one
  // process) never share a temporary file.
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    const fd = openSync(tmp, "wx");
    try {
      const buf = typeof data === "string" ? Buffer.from(data, "utf8") : data;
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  syncDir(dir);
}

/** `writeFileAtomic` of `value` as indented JSON with a final newline. */
export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

function syncDir(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, "r");
  } catch {
    return; // a folder cannot be opened on this platform: the rename is as durable as it gets
  }
  try {
    fsyncSync(fd);
  } catch {
    // EISDIR/EINVAL/EPERM where folders cannot be synced: nothing more to do
  } finally {
    closeSync(fd);
  }
}
