// TensorBoard's HParams plugin data (tensorboard/plugins/hparams/{plugin_data,api}.proto):
// a run's session start (its hyperparameter values), its end (status), and the experiment
// (which hyperparameters and metrics the table shows), encoded with the wire writer like
// tfevents.ts and for the same reason.
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import type { HParamValue } from "../runs/types.js";
import type { SummaryValue } from "./tfevents.js";

export type { HParamValue };

export const SESSION_STATUS = { unknown: 0, success: 1, failure: 2, running: 3 } as const;

// google.protobuf.Value: number_value 2, string_value 3, bool_value 4.
function protoValue(w: BinaryWriter, v: HParamValue): void {
  if (typeof v === "number") w.tag(2, WireType.Bit64).double(v);
  else if (typeof v === "boolean") w.tag(4, WireType.Varint).bool(v);
  else w.tag(3, WireType.LengthDelimited).string(v);
}

/** HParamsPluginData {version 0, <field> {...}}: the version is 0 and so left out. */
function pluginData(field: number, body: (w: BinaryWriter) => void, tag: string): SummaryValue {
  const w = new BinaryWriter();
  w.tag(field, WireType.LengthDelimited).fork();
  body(w);
  w.join();
  return { tag, plugin: "hparams", content: w.finish() };
}

export function sessionStart(hparams: Record<string, HParamValue>, startTimeSecs: number, groupName = ""): SummaryValue {
  return pluginData(3, (w) => {
    for (const [k, v] of Object.entries(hparams)) {
      // map<string, google.protobuf.Value>: entries {key 1, value 2}
      w.tag(1, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(k).tag(2, WireType.LengthDelimited).fork();
      protoValue(w, v);
      w.join().join();
    }
    if (groupName) w.tag(4, WireType.LengthDelimited).string(groupName);
    w.tag(5, WireType.Bit64).double(startTimeSecs);
  }, "_hparams_/session_start_info");
}

export function sessionEnd(status: number, endTimeSecs: number): SummaryValue {
  return pluginData(4, (w) => {
    w.tag(1, WireType.Varint).int32(status);
    w.tag(2, WireType.Bit64).double(endTimeSecs);
  }, "_hparams_/session_end_info");
}

export interface HParamDomain {
  name: string;
  /** Values the hyperparameter takes (a discrete domain); their JS type gives its type. */
  values: HParamValue[];
}

const DATA_TYPE = { string: 1, boolean: 2, number: 3 } as const;

export function experiment(name: string, hparams: HParamDomain[], metrics: string[], timeCreatedSecs: number): SummaryValue {
  return pluginData(2, (w) => {
    w.tag(3, WireType.Bit64).double(timeCreatedSecs);
    for (const h of hparams) {
      const kinds = new Set(h.values.map((v) => typeof v));
      const type = kinds.size === 1 ? DATA_TYPE[typeof h.values[0] as keyof typeof DATA_TYPE] : DATA_TYPE.string;
      w.tag(4, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(h.name).tag(4, WireType.Varint).int32(type);
      // domain_discrete: google.protobuf.ListValue {values 1: Value}
      w.tag(5, WireType.LengthDelimited).fork();
      for (const v of h.values) {
        w.tag(1, WireType.LengthDelimited).fork();
        protoValue(w, type === DATA_TYPE.string ? String(v) : v);
        w.join();
      }
      w.join().join();
    }
    for (const m of metrics) {
      // MetricInfo {name {group 1 (run sub-folder; "" = the session's own), tag 2}}
      w.tag(5, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).fork().tag(2, WireType.LengthDelimited).string(m).join().join();
    }
    w.tag(6, WireType.LengthDelimited).string(name);
  }, "_hparams_/experiment");
}
