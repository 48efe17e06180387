import { WorkerConnection, type ConnectOptions } from "../client/client.js";

/** Connects and waits for grpc.health.v1 SERVING; closes the connection if that fails. */
export async function connectAndWait(address: string, opts: ConnectOptions, timeoutMs: number, signal?: AbortSignal): Promise<WorkerConnection> {
  const conn = new WorkerConnection(address, opts);
  try {
    await conn.waitUntilServing(timeoutMs, signal);
    return conn;
  } catch (err) {
    conn.close();
    throw err;
  }
}
