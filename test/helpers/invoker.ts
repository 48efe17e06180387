// "The invoking host user" of the container tests: the user running the tests, or, when that is
// root (CI machines), an unprivileged uid that may use the Docker engine (its socket's group), so
// that "the run files belong to the user, who can delete them without root" is really tested.
// Where that uid cannot read this checkout (a clone in a private folder), root stays the invoker:
// the files must then belong to root, not to the image's uid 10001.
import { execa, execaSync, type Options } from "execa";
import { chownSync, statSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./cli.js";

const NOBODY_LIKE = 4242;

export interface Invoker {
  uid: number;
  gid: number;
  /** Makes a folder this user's (no-op when the tests do not run as root). */
  own(path: string): void;
  /** The real CLI, run as this user. */
  cli(args: string[], opts?: Options): ReturnType<typeof execa>;
  /** A command as this user. */
  run(file: string, args: string[], opts?: Options): ReturnType<typeof execa>;
}

export function invoker(home: string): Invoker {
  const root = process.getuid?.() === 0;
  const socketGid = root ? statSync("/var/run/docker.sock", { throwIfNoEntry: false })?.gid : undefined;
  const as = ["--reuid", String(NOBODY_LIKE), "--regid", String(NOBODY_LIKE), "--groups", String(socketGid), "--"];
  const canRead = socketGid !== undefined && execaSync("setpriv", [...as, "test", "-r", join(ROOT, "src/main.ts")], { reject: false }).exitCode === 0;
  if (!root || !canRead) {
    return {
      uid: process.getuid!(), gid: process.getgid!(), own: () => undefined,
      cli: (args, opts = {}) => execa(process.execPath, ["--import", "tsx", join(ROOT, "src/main.ts"), ...args], { reject: false, cwd: ROOT, ...opts }),
      run: (file, args, opts = {}) => execa(file, args, { reject: false, ...opts }),
    };
  }
  chownSync(home, NOBODY_LIKE, NOBODY_LIKE);
  const env = { HOME: home, PATH: process.env.PATH, CI: process.env.CI, PROJHEAD_TEST: "1" };
  return {
    uid: NOBODY_LIKE, gid: NOBODY_LIKE,
    own: (path) => chownSync(path, NOBODY_LIKE, NOBODY_LIKE),
    cli: (args, opts = {}) => execa("setpriv", [...as, process.execPath, "--import", "tsx", join(ROOT, "src/main.ts"), ...args], { reject: false, cwd: ROOT, extendEnv: false, env, ...opts }),
    run: (file, args, opts = {}) => execa("setpriv", [...as, file, ...args], { reject: false, extendEnv: false, env, ...opts }),
  };
}
