// Generated RunEvent / LayerEval messages -> the records stored in run directories. The record
// types are derived from the generated contract, so a new event case or field in proto/ reaches
// every consumer (and its type checks) after `npm run gen`, with no hand-kept list.
import type { EvalProtocol, EvaluateEvent, LayerEval, RunEvent, RunStarted } from "../gen/projhead/v1/worker.js";

type Kind = NonNullable<RunEvent["kind"]>;

/** Every event type: the cases of the RunEvent `kind` oneof ("started", "step", ...). */
export type EventType = Kind["$case"];

/** `started`: the generated message, its `resolvedSpec` the RunSpec the worker resolved. */
export type StartedData = RunStarted;

type DataOf<C extends EventType> = Extract<Kind, { $case: C }>["value"];

/**
 * One run event as stored and as passed to `onEvent`: the oneof case flattened into `type` and
 * `data` (camelCase fields), a union discriminated by `type`:
 *   if (ev.type === "step") console.log(ev.data.loss);
 */
export type EventRecord = { [C in EventType]: { seq: number; time: number; type: C; data: DataOf<C> } }[EventType];

/** The record of one event type, e.g. EventOf<"epoch">. */
export type EventOf<T extends EventType> = Extract<EventRecord, { type: T }>;

export function toEventRecord(ev: RunEvent): EventRecord {
  const kind = ev.kind;
  if (!kind) throw new Error(`event ${ev.seq} has no kind`);
  // Every case is kept as it came; TypeScript cannot pair a union's $case with its value
  // through a spread, which this one assertion states.
  return { seq: ev.seq, time: ev.time, type: kind.$case, data: kind.value } as EventRecord;
}

export function toLayerRecord(l: LayerEval): LayerEval {
  return { ...l, singularValues: [...l.singularValues], probeValTop1: [...l.probeValTop1] };
}

export type EvaluateUpdate =
  | { type: "log"; message: string }
  | { type: "layer"; layer: LayerEval }
  | {
      type: "done"; layers: LayerEval[]; checkpoint: string; step: number; seconds: number; trainImages: number; testImages: number;
      untrainedLayers: string[]; baselines: LayerEval[]; protocol?: EvalProtocol;
    };

export function toEvaluateUpdate(ev: EvaluateEvent): EvaluateUpdate | null {
  switch (ev.kind?.$case) {
    case "log":
      return { type: "log", message: ev.kind.value.message };
    case "layer":
      return { type: "layer", layer: toLayerRecord(ev.kind.value) };
    case "done": {
      const d = ev.kind.value;
      return {
        type: "done", layers: d.layers.map(toLayerRecord), checkpoint: d.checkpoint, step: d.step, seconds: d.seconds, trainImages: d.trainImages,
        testImages: d.testImages, untrainedLayers: [...d.untrainedLayers], baselines: d.baselines.map(toLayerRecord), protocol: d.protocol,
      };
    }
    default:
      return null;
  }
}
