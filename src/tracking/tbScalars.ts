// What of a run's events TensorBoard shows: each stored event becomes at most one tensorboard
// Event at the training step it belongs to. Tags are `<section>/<metric>` for run-wide values
// and `<section>/<metric>/<layer>` per layer, so a regex (and the custom-scalars layout
// below) overlays the layers of one metric in one chart.
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { specToJson } from "../client/spec.js";
import type { EventRecord } from "../runs/types.js";
import type { SummaryValue } from "./tfevents.js";
import { textValue } from "./tfevents.js";

export interface TbEvent {
  step: number;
  wallTime: number;
  values: SummaryValue[];
}

const num = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

// Every finite number of an event becomes a scalar, but the fields that say where it is (step,
// epoch, the layer's index and width): a field the contract gains (a new LayerEval metric)
// reaches TensorBoard and MLflow without a list to keep here.
const POSITION = new Set(["step", "epoch", "steps", "epochs", "index", "dim", "startStep"]);

function scalars(prefix: string, data: Record<string, unknown>, suffix = ""): SummaryValue[] {
  return Object.entries(data)
    .filter(([k, v]) => !POSITION.has(k) && num(v))
    .map(([k, v]) => ({ tag: `${prefix}/${k}${suffix}`, scalar: v as number }));
}

/** knnTop1 < 0: the kNN monitor did not run (epoch, finished). */
const withoutUnmeasuredKnn = (d: Record<string, unknown>) => ((d.knnTop1 as number) < 0 ? { ...d, knnTop1: undefined } : d);

/** The per-layer metrics the custom-scalars layout charts (others still get their tags). */
export const DYNAMICS_KEYS = ["knnTop1", "effectiveRank", "alignment", "uniformity"] as const;
export const EVAL_KEYS = ["linearTop1", "knnTop1", "effectiveRank", "alignment", "uniformity"] as const;

/**
 * The TensorBoard content of one event; `lastStep` is the step the run had reached (for the
 * events that carry none: evaluation). null for events TensorBoard has nothing to show of.
 */
export function tbEventOf(ev: EventRecord, lastStep: number): TbEvent | null {
  const at = (step: number, values: SummaryValue[]): TbEvent | null => (values.length ? { step, wallTime: ev.time, values } : null);
  switch (ev.type) {
    case "started":
      // The resolved spec in the form of spec.json's `spec` (RunSpec JSON), so the two compare line by line.
      return at(Number(ev.data.startStep), [textValue("spec/resolved", "```json\n" + JSON.stringify(ev.data.resolvedSpec ? specToJson(ev.data.resolvedSpec) : {}, null, 2) + "\n```")]);
    case "step":
      return at(Number(ev.data.step), scalars("train", ev.data as unknown as Record<string, unknown>));
    case "epoch":
      return at(Number(ev.data.step), scalars("epoch", withoutUnmeasuredKnn(ev.data as unknown as Record<string, unknown>)));
    case "dynamics":
      return at(Number(ev.data.step), ev.data.layers.flatMap((l) => scalars("dynamics", l as unknown as Record<string, unknown>, `/${l.layer}`)));
    case "evaluation":
      return at(lastStep, scalars("eval", ev.data as unknown as Record<string, unknown>, `/${ev.data.layer}`));
    case "finished":
      return at(Number(ev.data.steps), scalars("final", withoutUnmeasuredKnn(ev.data as unknown as Record<string, unknown>)));
    default:
      return null;
  }
}

/** The step an event moves the run to (for events without one of their own). */
export function stepOf(ev: EventRecord, lastStep: number): number {
  switch (ev.type) {
    case "step":
    case "epoch":
    case "dynamics":
    case "checkpoint":
      return Number(ev.data.step);
    case "started":
      return Number(ev.data.startStep);
    case "finished":
      return Number(ev.data.steps);
    default:
      return lastStep;
  }
}

/**
 * The custom-scalars layout (tensorboard/plugins/custom_scalar/layout.proto): one chart per
 * per-layer metric with every layer overlaid, for the dynamics and the end evaluation.
 */
export function layerLayout(): SummaryValue {
  const w = new BinaryWriter();
  const category = (title: string, section: string, keys: readonly string[]) => {
    w.tag(2, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(title);
    for (const k of keys) {
      w.tag(2, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(`${section} ${k} (every layer)`)
        .tag(2, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(`^${section}/${k}/`).join().join();
    }
    w.join();
  };
  category("Layer dynamics", "dynamics", DYNAMICS_KEYS);
  category("End-of-training evaluation", "eval", EVAL_KEYS);
  return { tag: "custom_scalars__config__", plugin: "custom_scalars", strings: w.finish() };
}
