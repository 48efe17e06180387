// The worker API's public types. Generated code is imported only inside src/client; the rest of
// the orchestrator uses these aliases and the plain records of src/runs/types.ts.
export type {
  RunSpec,
  WorkerInfo,
  Device,
  DatasetInfo,
  RunStatus,
  StartRunResponse,
  EvaluateDone,
  EvalProtocol,
  LayerEval,
} from "../gen/projhead/v1/worker.js";
export type { EventOf, EventRecord, EventType, StartedData, EvaluateUpdate } from "./events.js";
export type { RunSpecJson } from "./spec.js";
export { RunState, Precision } from "../gen/projhead/v1/worker.js";
