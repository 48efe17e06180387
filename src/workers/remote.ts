// The remote runtime: a worker started elsewhere (a GPU host, a container), reached by address
// with a token and, off loopback, TLS. Nothing to start or stop; stop() only disconnects.
import { readFileSync } from "node:fs";
import type { TlsOptions } from "../client/client.js";
import { connectAndWait } from "./connect.js";
import type { RunningWorker, TlsFiles } from "./types.js";

export interface RemoteWorkerOptions {
  address: string;
  token?: string;
  tls?: TlsFiles;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export function readTls(tls: TlsFiles | undefined): TlsOptions | undefined {
  if (!tls) return undefined;
  const read = (p: string | undefined, what: string) => {
    if (!p) return undefined;
    try {
      return readFileSync(p);
    } catch (err) {
      throw new Error(`runtime.tls.${what}: cannot read ${p}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
  };
  return { ca: read(tls.ca, "ca"), cert: read(tls.cert, "cert"), key: read(tls.key, "key"), serverName: tls.serverName };
}

export async function connectRemoteWorker(opts: RemoteWorkerOptions): Promise<RunningWorker> {
  const connection = await connectAndWait(opts.address, { token: opts.token, tls: readTls(opts.tls) }, opts.timeoutMs ?? 15_000, opts.signal);
  return { kind: "remote", address: opts.address, connection, stderrTail: () => [], stop: async () => connection.close() };
}
