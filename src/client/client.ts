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

/** Deadlines of the calls that need more (or less) than `ConnectOptions.deadlineMs`, in milliseconds. */
export interface CallDeadlines {
  /** GetInfo: the first one may wait for the worker to import torch and probe its devices. @default 60_000 */
  getInfo?: number;
  /** StartRun: the worker checks the spec and the data and launches training before it answers. @default 120_000 */
  startRun?: number;
  /** One grpc.health.v1 Check (also each try of waitUntilServing). @default 2_000 */
  health?: number;
}

export interface ConnectOptions {
  /** Sent as `authorization: Bearer <token>` call metadata on every call but health checks. */
  token?: string;
  tls?: TlsOptions;
  /** Deadline of unary calls without one of their own below (CancelRun, ListRuns), in
   *  milliseconds; grpc-js sets none by default. @default 30_000 */
  deadlineMs?: number;
  /** Per-call deadlines; unset ones keep their defaults. */
  deadlines?: CallDeadlines;
  /** Pause between two health checks while waitUntilServing waits for SERVING, in milliseconds. @default 100 */
  servingPollMs?: number;
  /** Interval of keepalive pings on the channel, so that long WatchRun streams survive NATs and
   *  proxies (the worker accepts pings down to one per 10 s). @default 30_000 */
  keepaliveMs?: number;
  /** How long a keepalive ping may go unanswered before the channel counts as broken. @default 10_000 */
  keepaliveTimeoutMs?: number;
}

/** The defaults of ConnectOptions, as documented there. */
export const CONNECT_DEFAULTS = {
  deadlineMs: 30_000,
  deadlines: { getInfo: 60_000, startRun: 120_000, health: 2_000 } satisfies Required<CallDeadlines>,
  servingPollMs: 100,
  keepaliveMs: 30_000,
  keepaliveTimeoutMs: 10_000,
} as const;

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
  private readonly deadlines: Required<CallDeadlines>;
  private readonly servingPollMs: number;

  constructor(address: string, opts: ConnectOptions = {}) {
    this.address = address;
    this.token = opts.token;
    const d = CONNECT_DEFAULTS.deadlines;
    const own = opts.deadlines ?? {};
    this.deadlineMs = opts.deadlineMs ?? CONNECT_DEFAULTS.deadlineMs;
    this.deadlines = {
      getInfo: own.getInfo ?? d.getInfo,
      startRun: own.startRun ?? d.startRun,
      health: own.health ?? d.health,
    };
    this.servingPollMs = opts.servingPollMs ?? CONNECT_DEFAULTS.servingPollMs;
    const creds: ChannelCredentials = opts.tls
      ? credentials.createSsl(opts.tls.ca ?? null, opts.tls.key ?? null, opts.tls.cert ?? null)
      : credentials.createInsecure();
    const channelOptions: Record<string, string | number> = {
      "grpc.max_receive_message_length": MAX_RECEIVE_BYTES,
      "grpc.max_send_message_length": MAX_SEND_BYTES,
      "grpc.keepalive_time_ms": opts.keepaliveMs ?? CONNECT_DEFAULTS.keepaliveMs,
      "grpc.keepalive_timeout_ms": opts.keepaliveTimeoutMs ?? CONNECT_DEFAULTS.keepaliveTimeoutMs,
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

  /** grpc.health.v1 Check; resolves UNKNOWN-like states instead of throwing when reachable.
   *  @param deadlineMs @default deadlines.health */
  checkHealth(service = "", deadlineMs = this.deadlines.health): Promise<HealthStatus> {
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

  /** Polls health until SERVING (the channel connects lazily; each try has its own deadline).
   *  @param timeoutMs @default 30_000 */
  async waitUntilServing(timeoutMs = 30_000, signal?: AbortSignal): Promise<void> {
    const end = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < end) {
      signal?.throwIfAborted();
      try {
        if ((await this.checkHealth("", Math.min(this.deadlines.health, end - Date.now()))) === "SERVING") return;
      } catch (err) {
        last = err;
      }
      await new Promise((r) => setTimeout(r, this.servingPollMs));
    }
    throw last instanceof Error ? last : new Error(`worker at ${this.address} did not become SERVING in ${timeoutMs} ms`);
  }

  getInfo(): Promise<WorkerInfo> {
    return this.unary(this.client.getInfo, {}, this.deadlines.getInfo);
  }

  startRun(spec: RunSpec, resume = false): Promise<StartRunResponse> {
    return this.unary(this.client.startRun, { spec, resume }, this.deadlines.startRun);
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
    const full: EvaluateRequest = { checkpoint: "", layers: [], device: "", ...req };
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
