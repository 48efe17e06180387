// A "foreign" client: the worker's contract loaded at run time from the .proto with
// @grpc/proto-loader, independent of the generated TypeScript code, so tests can send requests
// the project's own client never would (wrong values, unknown enum numbers, raw bytes).
import { credentials, loadPackageDefinition, Metadata, type ChannelCredentials, type Client, type ServiceError } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { join } from "node:path";
import { ROOT } from "./cli.js";

const definition = loadSync([join(ROOT, "proto/projhead/v1/worker.proto"), join(ROOT, "proto/grpc/health/v1/health.proto")], {
  keepCase: true,
  longs: String,
  enums: Number,
  defaults: false,
  oneofs: true,
  includeDirs: [join(ROOT, "proto")],
});
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const pkg = loadPackageDefinition(definition) as any;

export interface Outcome {
  /** gRPC status code (0 = OK). */
  code: number;
  details: string;
  /** The response (unary) or every streamed message. */
  value?: unknown;
}

export interface ForeignOptions {
  token?: string;
  creds?: ChannelCredentials;
  /** grpc-js channel options, e.g. a larger send limit than the worker accepts. */
  options?: Record<string, number | string>;
}

export class ForeignClient {
  private readonly worker: Client & Record<string, (...args: unknown[]) => unknown>;
  private readonly health: Client & Record<string, (...args: unknown[]) => unknown>;
  private readonly token?: string;

  constructor(address: string, opts: ForeignOptions = {}) {
    const creds = opts.creds ?? credentials.createInsecure();
    this.worker = new pkg.projhead.v1.Worker(address, creds, opts.options ?? {});
    this.health = new pkg.grpc.health.v1.Health(address, creds, opts.options ?? {});
    this.token = opts.token;
  }

  close(): void {
    this.worker.close();
    this.health.close();
  }

  private md(): Metadata {
    const md = new Metadata();
    if (this.token) md.set("authorization", `Bearer ${this.token}`);
    return md;
  }

  private deadline(ms = 20_000) {
    return { deadline: Date.now() + ms };
  }

  /** A unary call; never throws for a status, only reports it. */
  unary(method: string, request: unknown): Promise<Outcome> {
    return new Promise((resolve) => {
      try {
        this.worker[method]!(request, this.md(), this.deadline(), (err: ServiceError | null, value: unknown) =>
          resolve(err ? { code: err.code, details: err.details } : { code: 0, details: "", value }),
        );
      } catch (e) {
        // proto-loader refused to serialise the request: it never left this process
        resolve({ code: -1, details: (e as Error).message });
      }
    });
  }

  /** A server-streaming call, read to its end. */
  stream(method: string, request: unknown): Promise<Outcome> {
    return new Promise((resolve) => {
      const got: unknown[] = [];
      let call;
      try {
        call = this.worker[method]!(request, this.md(), this.deadline()) as NodeJS.EventEmitter;
      } catch (e) {
        resolve({ code: -1, details: (e as Error).message });
        return;
      }
      call.on("data", (m: unknown) => got.push(m));
      call.on("error", (err: ServiceError) => resolve({ code: err.code, details: err.details, value: got }));
      call.on("end", () => resolve({ code: 0, details: "", value: got }));
    });
  }

  /** Raw request bytes to a unary method, e.g. "/projhead.v1.Worker/StartRun". */
  raw(path: string, bytes: Buffer, streaming = false): Promise<Outcome> {
    return new Promise((resolve) => {
      const id = (b: Buffer) => b;
      if (!streaming) {
        this.worker.makeUnaryRequest(path, id, id, bytes, this.md(), this.deadline(), (err, value) =>
          resolve(err ? { code: err.code, details: err.details } : { code: 0, details: "", value }),
        );
        return;
      }
      const call = this.worker.makeServerStreamRequest(path, id, id, bytes, this.md(), this.deadline());
      call.on("data", () => undefined);
      call.on("error", (err: ServiceError) => resolve({ code: err.code, details: err.details }));
      call.on("end", () => resolve({ code: 0, details: "" }));
    });
  }

  /** grpc.health.v1 Check: "SERVING", ... or the error code. */
  check(service = ""): Promise<string> {
    return new Promise((resolve) => {
      this.health["Check"]!({ service }, new Metadata(), this.deadline(5_000), (err: ServiceError | null, res: { status: number }) =>
        resolve(err ? `error ${err.code}` : (["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"][res.status] ?? String(res.status))),
      );
    });
  }
}
