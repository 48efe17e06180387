// Generated RunEvent / LayerEval messages -> the plain records stored in run directories.
import type { EvaluateEvent, LayerEval, RunEvent } from "../gen/projhead/v1/worker.js";
import type { EventRecord, EventType, LayerEvalRecord } from "../runs/types.js";

export function toEventRecord(ev: RunEvent): EventRecord {
  if (!ev.kind) throw new Error(`event ${ev.seq} has no kind`);
  const type = ev.kind.$case as EventType;
  let data: Record<string, unknown> = { ...(ev.kind.value as object) };
  if (type === "started") {
    const { resolvedSpecJson, ...rest } = data as { resolvedSpecJson: string };
    data = { ...rest, resolvedSpec: JSON.parse(resolvedSpecJson || "{}") };
  }
  return { seq: ev.seq, time: ev.time, type, data };
}

export function toLayerRecord(l: LayerEval): LayerEvalRecord {
  return { ...l, singularValues: [...l.singularValues] };
}

export type EvaluateUpdate =
  | { type: "log"; message: string }
  | { type: "layer"; layer: LayerEvalRecord }
  | { type: "done"; layers: LayerEvalRecord[]; checkpoint: string; step: number; seconds: number; trainImages: number; testImages: number };

export function toEvaluateUpdate(ev: EvaluateEvent): EvaluateUpdate | null {
  switch (ev.kind?.$case) {
    case "log":
      return { type: "log", message: ev.kind.value.message };
    case "layer":
      return { type: "layer", layer: toLayerRecord(ev.kind.value) };
    case "done": {
      const d = ev.kind.value;
      return { type: "done", layers: d.layers.map(toLayerRecord), checkpoint: d.checkpoint, step: d.step, seconds: d.seconds, trainImages: d.trainImages, testImages: d.testImages };
    }
    default:
      return null;
  }
}
