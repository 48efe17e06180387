// Worker tokens on the client side: where one is found, how a new one is made and kept.
import { randomBytes } from "node:crypto";
import { writeFileAtomic } from "../fsutil/atomic.js";

/** The variable a token is read from when no other is named. */
export const TOKEN_ENV = "PROJHEAD_TOKEN";

/** A new random token (256 bits, URL-safe). */
export function newToken(): string {
  return randomBytes(32).toString("base64url");
}

/**
 * The token in the variable `name`, which must then be set (`field` names the setting in the
 * error); without a name, the one in $PROJHEAD_TOKEN when it is set; else undefined.
 */
export function tokenFromEnv(name: string | undefined, field: string): { token: string; variable: string } | undefined {
  const variable = name ?? TOKEN_ENV;
  const token = process.env[variable];
  if (token) return { token, variable };
  if (name) throw new Error(`${field}: environment variable ${name} is not set`);
  return undefined;
}

/** Writes `token` to a new file readable by this user only (mode 0600 from its creation; atomic:
 *  a crash never leaves an empty or torn token file); an existing file is never replaced. */
export function writeTokenFile(file: string, token: string): void {
  writeFileAtomic(file, token + "\n", { mode: 0o600, exclusive: true });
}
