// A typed client over the generated grpc-js stubs. Unary calls get deadlines (grpc-js has none
// by default); server streams become async iterators that cancel the call when the consumer
// stops early or the AbortSignal fires (leaving a `for await` does not tell the server).
import { credentials, Metadata, type CallOptions, type ChannelCredentials, type ClientReadableStream } from "@grpc/grpc-js";
import { HealthCheckResponse_ServingStatus, HealthClient } from "../gen/grpc/health/v1/health.js";
import {
  WorkerClient as GeneratedClient,
  type EvaluateRequest,
  type RunSpec,
  type RunStatus,
  type StartRunResponse,
  type WorkerInfo,
} from "../gen/projhead/v1/worker.js";
import { CallCancelledError, toWorkerError } from "./errors.js";
import { toEvaluateUpdate, toEventRecord, type EvaluateUpdate, type EventRecord } from "./events.js";

export interface TlsOptions {
  /** PEM CA that signed the worker's certificate (omit to use the system roots). */
  ca?: Buffer;
  /** PEM client certificate and key, for mutual TLS. */
  cert?: Buffer;
  key?: Buffer;
  /** Override the name checked against the certificate (e.g. "localhost" in tests). */
  serverName?: string;
}

export interface ConnectOptions {
  /** Sent as `authorization: Bearer <token>` call metadata on every call but health checks. */
  token?: string;
  tls?: TlsOptions;
  /** Deadline of unary calls in milliseconds (default 30 s). */
  deadlineMs?: number;
}

export type HealthStatus = "SERVING" | "NOT_SERVING" | "UNKNOWN" | "SERVICE_UNKNOWN";

// Export chunks are 1 MiB; the rest is small. Both sides set limits on purpose.
const MAX_RECEIVE_BYTES = 16 * 1024 * 1024;
const MAX_SEND_BYTES = 4 * 1024 * 1024;

/** The calls a worker answers, as the rest of projhead uses them; WorkerConnection implements
 *  them over gRPC (a stand-in worker in tests implements the same interface). */
export interface WorkerApi {
  readonly address: string;
  close(): void;
  checkHealth(service?: string, deadlineMs?: number): Promise<HealthStatus>;
  waitUntilServing(timeoutMs?: number, signal?: AbortSignal): Promise<void>;
  getInfo(): Promise<WorkerInfo>;
  startRun(spec: RunSpec, resume?: boolean): Promise<StartRunResponse>;
  cancelRun(runId: string, graceful?: boolean): Promise<RunStatus>;
  listRuns(): Promise<RunStatus[]>;
  watchRun(runId: string, fromSeq?: number, signal?: AbortSignal): AsyncIterable<EventRecord>;
  evaluate(req: Partial<EvaluateRequest> & { runId: string }, signal?: AbortSignal): AsyncIterable<EvaluateUpdate>;
  exportBackbone(runId: string, checkpoint?: string, signal?: AbortSignal): Promise<{ data: Buffer; architecture: string }>;
}

export class WorkerConnection implements WorkerApi {
  readonly address: string;
  private readonly client: GeneratedClient;
  private readonly health: HealthClient;
  private readonly token?: string;
  private readonly deadlineMs: number;

  constructor(address: string, opts: ConnectOptions = {}) {
    this.address = address;
    this.token = opts.token;
    this.deadlineMs = opts.deadlineMs ?? 30_000;
    const creds: ChannelCredentials = opts.tls
      ? credentials.createSsl(opts.tls.ca ?? null, opts.tls.key ?? null, opts.tls.cert ?? null)
      : credentials.createInsecure();
    const channelOptions: Record<string, string | number> = {
      "grpc.max_receive_message_length": MAX_RECEIVE_BYTES,
      "grpc.max_send_message_length": MAX_SEND_BYTES,
      // Long WatchRun streams over NATs and proxies: ping every 30 s (the worker permits it).
      "grpc.keepalive_time_ms": 30_000,
      "grpc.keepalive_timeout_ms": 10_000,
      "grpc.keepalive_permit_without_calls": 1,
    };
    if (opts.tls?.serverName) channelOptions["grpc.ssl_target_name_override"] = opts.tls.serverName;
    this.client = new GeneratedClient(address, creds, channelOptions);
    this.health = new HealthClient(address, creds, channelOptions);
  }

  close(): void {
    this.client.close();
    this.health.close();
  }

  private metadata(): Metadata {
    const md = new Metadata();
    if (this.token) md.set("authorization", `Bearer ${this.token}`);
    return md;
  }

  private options(deadlineMs = this.deadlineMs): Partial<CallOptions> {
    return { deadline: Date.now() + deadlineMs };
  }

  private unary<Req, Res>(
    fn: (req: Req, md: Metadata, opts: Partial<CallOptions>, cb: (err: unknown, res: Res) => void) => unknown,
    req: Req,
    deadlineMs?: number,
  ): Promise<Res> {
    return new Promise((resolve, reject) => {
      fn.call(this.client, req, this.metadata(), this.options(deadlineMs), (err: unknown, res: Res) =>
        err ? reject(toWorkerError(err, this.address)) : resolve(res),
      );
    });
  }

  /** grpc.health.v1 Check; resolves UNKNOWN-like states instead of throwing when reachable. */
  checkHealth(service = "", deadlineMs = 2_000): Promise<HealthStatus> {
    return new Promise((resolve, reject) => {
      this.health.check({ service }, new Metadata(), this.options(deadlineMs), (err, res) => {
        if (err) return reject(toWorkerError(err, this.address));
        const s = res.status;
        resolve(
          s === HealthCheckResponse_ServingStatus.SERVING
            ? "SERVING"
            : s === HealthCheckResponse_ServingStatus.NOT_SERVING
              ? "NOT_SERVING"
              : s === HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN
                ? "SERVICE_UNKNOWN"
                : "UNKNOWN",
        );
      });
    });
  }

  /** Polls health until SERVING (the channel connects lazily; each try has its own deadline). */
  async waitUntilServing(timeoutMs = 30_000, signal?: AbortSignal): Promise<void> {
    const end = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < end) {
      signal?.throwIfAborted();
      try {
        if ((await this.checkHealth("", Math.min(2_000, end - Date.now()))) === "SERVING") return;
      } catch (err) {
        last = err;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw last instanceof Error ? last : new Error(`worker at ${this.address} did not become SERVING in ${timeoutMs} ms`);
  }

  getInfo(): Promise<WorkerInfo> {
    return this.unary(this.client.getInfo, {}, 60_000);
  }

  startRun(spec: RunSpec, resume = false): Promise<StartRunResponse> {
    return this.unary(this.client.startRun, { spec, resume }, 120_000);
  }

  cancelRun(runId: string, graceful = true): Promise<RunStatus> {
    return this.unary(this.client.cancelRun, { runId, graceful });
  }

  async listRuns(): Promise<RunStatus[]> {
    return (await this.unary(this.client.listRuns, {})).runs;
  }

  /** Events with seq > fromSeq until the run's terminal event (or the stream ends). */
  watchRun(runId: string, fromSeq = 0, signal?: AbortSignal): AsyncIterable<EventRecord> {
    return this.stream(() => this.client.watchRun({ runId, fromSeq }, this.metadata()), toEventRecord, signal);
  }

  evaluate(req: Partial<EvaluateRequest> & { runId: string }, signal?: AbortSignal): AsyncIterable<EvaluateUpdate> {
    const full: EvaluateRequest = { checkpoint: "", layers: [], probeEpochs: 0, knnK: 0, device: "", ...req };
    return this.stream(() => this.client.evaluate(full, this.metadata()), toEvaluateUpdate, signal);
  }

  /** The backbone as safetensors bytes (chunks in order) and its architecture name. */
  async exportBackbone(runId: string, checkpoint = "", signal?: AbortSignal): Promise<{ data: Buffer; architecture: string }> {
    const chunks: Buffer[] = [];
    let architecture = "";
    let total = 0;
    for await (const c of this.stream(() => this.client.exportBackbone({ runId, checkpoint }, this.metadata()), (x) => x, signal)) {
      if (c.architecture) architecture = c.architecture;
      if (c.totalBytes) total = c.totalBytes;
      chunks.push(Buffer.from(c.data));
    }
    const data = Buffer.concat(chunks);
    if (total && data.length !== total) throw new Error(`export of ${runId}: got ${data.length} of ${total} bytes`);
    return { data, architecture };
  }

  private async *stream<T, U>(open: () => ClientReadableStream<T>, map: (x: T) => U | null, signal?: AbortSignal): AsyncGenerator<U> {
    signal?.throwIfAborted();
    const call = open();
    const onAbort = () => call.cancel();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for await (const msg of call as AsyncIterable<T>) {
        const out = map(msg);
        if (out !== null) yield out;
      }
    } catch (err) {
      const e = toWorkerError(err, this.address);
      if (e instanceof CallCancelledError && signal?.aborted) throw signal.reason ?? e;
      throw e;
    } finally {
      signal?.removeEventListener("abort", onAbort);
      call.cancel(); // no-op when the stream already ended; tells the worker when we stopped early
    }
  }
}
