// The one place an evaluation becomes eval.json: from the Evaluate RPC's `done` and from the
// events of a run trained with evalAtEnd (its `evaluation` events and its `finished` event).
import type { EvalProtocol, LayerEval } from "../client/types.js";
import type { EvalRecord } from "../runs/types.js";

/** eval.json's current format: the validation-selected probe, baselines, the protocol. */
export const EVAL_FORMAT_VERSION = 2;

export interface EvaluationParts {
  runId: string;
  checkpoint: string;
  step: number;
  seconds: number;
  layers: LayerEval[];
  untrainedLayers: string[];
  baselines: LayerEval[];
  protocol?: EvalProtocol;
}

export function evalRecord(p: EvaluationParts): EvalRecord {
  const proto = p.protocol;
  return {
    formatVersion: EVAL_FORMAT_VERSION,
    runId: p.runId,
    checkpoint: p.checkpoint,
    step: p.step,
    seconds: p.seconds,
    trainImages: proto?.trainImages ?? 0,
    testImages: proto?.testImages ?? 0,
    layers: p.layers,
    untrainedLayers: p.untrainedLayers,
    baselines: p.baselines,
    ...(proto && {
      protocol: {
        probeL2Grid: [...proto.probeL2Grid],
        valFraction: proto.valFraction,
        valImages: proto.valImages,
        splitSeed: proto.splitSeed,
        knnK: proto.knnK,
        knnTemperature: proto.knnTemperature,
        probeMaxIter: proto.probeMaxIter,
      },
    }),
    ...(proto?.rankDefinition === "rankme" && { rankDefinition: "rankme" as const }),
  };
}
