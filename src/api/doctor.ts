import type { WorkerInfo } from "../client/types.js";
import { withWorker, type WorkerChoice } from "./session.js";

export interface DoctorReport {
  healthy: boolean;
  runtime: string;
  address: string;
  info: WorkerInfo;
}

/** Starts (or reaches) a worker, checks its health and returns what it reports about itself. */
export async function doctor(choice: WorkerChoice = {}): Promise<DoctorReport> {
  return withWorker(choice, async (w) => {
    const health = await w.connection.checkHealth();
    const info = await w.connection.getInfo();
    return { healthy: health === "SERVING", runtime: w.kind, address: w.address, info };
  });
}
