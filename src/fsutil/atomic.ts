// The one way this package writes a file that a reader, or a kill, must never see half-written:
// a temporary file in the same folder (so the rename stays on one filesystem), fsync, rename over
// the target, then fsync of the folder so the rename itself survives a crash. Folders cannot be
// opened for fsync on every platform (Windows); there the folder sync is skipped.
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { basename, dirname, join } from "node:path";

export interface AtomicWriteOptions {
  /** Permission bits of the file (before the umask; default 0o666). The temporary file is created
   *  with them, so the data is never readable with looser ones, not even for a moment. */
  mode?: number;
  /** Never replace an existing `path`: fail with EEXIST instead (a hard link, not a rename). */
  exclusive?: boolean;
}

/** Replaces `path` with `data` atomically, creating its folder if needed. */
export function writeFileAtomic(path: string, data: string | Uint8Array, opts: AtomicWriteOptions = {}): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  // pid and random suffix: two writers of the same file (processes, or overlapping calls in one
  // process) never share a temporary file.
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  const mode = opts.mode ?? 0o666;
  try {
    const fd = openSync(tmp, "wx", mode);
    try {
      const buf = typeof data === "string" ? Buffer.from(data, "utf8") : data;
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (opts.exclusive) publishNew(tmp, path, mode);
    else renameSync(tmp, path);
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

// Errors of link() on a filesystem without hard links (FAT, some network and FUSE mounts).
const NO_HARD_LINKS = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS"]);

/** Gives the written temporary file the name `path` only if no file has it yet. */
function publishNew(tmp: string, path: string, mode: number): void {
  try {
    linkSync(tmp, path); // EEXIST when taken; the temporary name goes in the caller's cleanup
  } catch (e) {
    if (!NO_HARD_LINKS.has((e as NodeJS.ErrnoException).code ?? "")) throw e;
    // No hard links here: claim the name (O_EXCL), then rename over the claim. A crash between
    // the two leaves an empty file, never someone else's file replaced.
    closeSync(openSync(path, "wx", mode));
    renameSync(tmp, path);
    return;
  }
  rmSync(tmp, { force: true });
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
