// TensorBoard event files written from TypeScript: TFRecord frames of tensorboard.Event
// protobufs. Node has no well-kept TensorBoard writer, and the orchestrator must write these
// whatever runtime trains the run (a container or another machine has no access to the run
// folder here), so this is the writer; test/e2e/tracking-tensorboard.test.ts reads its files
// back with TensorBoard's own EventAccumulator.
//
// The few messages are encoded with @bufbuild/protobuf's wire writer (already a dependency)
// instead of vendoring tensorboard's .proto files into the gen pipeline: five small messages
// whose field numbers are frozen by TensorBoard's compatibility promise, and none of them is
// ever decoded here. Field numbers are those of tensorboard/compat/proto/{event,summary,tensor,
// tensor_shape}.proto and tensorboard/plugins/{hparams,text}/*.proto.
import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { maskedCrc32c } from "./crc32c.js";

/** One TFRecord frame: uint64 length, masked CRC of the length, data, masked CRC of the data. */
export function tfRecord(data: Uint8Array): Buffer {
  const out = Buffer.alloc(8 + 4 + data.length + 4);
  out.writeBigUInt64LE(BigInt(data.length), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  out.set(data, 12);
  out.writeUInt32LE(maskedCrc32c(data), 12 + data.length);
  return out;
}

/** What a Summary.Value carries besides its tag. */
export type SummaryValue =
  | { tag: string; scalar: number }
  /** A plugin's summary: its name, its serialized content, and a scalar string tensor (text,
   *  custom scalars' layout) or TensorBoard's null tensor (hparams). */
  | { tag: string; plugin: string; content?: Uint8Array; strings?: Uint8Array };

// tensorboard.TensorProto {dtype: DT_FLOAT, tensor_shape {dim {}}}: hparams' NULL_TENSOR.
const NULL_TENSOR = Uint8Array.from([0x08, 0x01, 0x12, 0x02, 0x12, 0x00]);
const DT_STRING = 7;

function summaryValue(w: BinaryWriter, v: SummaryValue): void {
  w.tag(1, WireType.LengthDelimited).string(v.tag);
  if ("scalar" in v) {
    w.tag(2, WireType.Bit32).float(v.scalar); // simple_value: TensorBoard's scalar dashboard
    return;
  }
  // metadata {plugin_data {plugin_name, content}}
  w.tag(9, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(v.plugin);
  if (v.content?.length) w.tag(2, WireType.LengthDelimited).bytes(v.content);
  w.join().join();
  if (v.strings) {
    // tensor {dtype: DT_STRING, tensor_shape {} (a scalar), string_val: [bytes]}
    w.tag(8, WireType.LengthDelimited).fork().tag(1, WireType.Varint).int32(DT_STRING).tag(2, WireType.LengthDelimited).bytes(new Uint8Array(0))
      .tag(8, WireType.LengthDelimited).bytes(v.strings).join();
  } else {
    w.tag(8, WireType.LengthDelimited).bytes(NULL_TENSOR);
  }
}

/** A text summary (the text plugin: content TextPluginData{} is empty; markdown is rendered). */
export const textValue = (tag: string, text: string): SummaryValue => ({ tag, plugin: "text", strings: Buffer.from(text, "utf8") });

/** A serialized tensorboard.Event: wall time, step and either a file version or a summary. */
export function encodeEvent(wallTime: number, step: number, body: { fileVersion: string } | { values: SummaryValue[] }): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, WireType.Bit64).double(wallTime);
  if (step) w.tag(2, WireType.Varint).int64(step);
  if ("fileVersion" in body) {
    w.tag(3, WireType.LengthDelimited).string(body.fileVersion);
  } else {
    w.tag(5, WireType.LengthDelimited).fork();
    for (const v of body.values) {
      w.tag(1, WireType.LengthDelimited).fork();
      summaryValue(w, v);
      w.join();
    }
    w.join();
  }
  return w.finish();
}

/**
 * An append-only event file. Every write is one or more whole frames in one write(2), fsynced
 * by flush(), so a kill leaves at most a torn last frame, which TensorBoard's reader stops at.
 */
export class EventFileWriter {
  private fd: number;
  private pending: Buffer[] = [];

  constructor(readonly path: string, wallTime: number) {
    this.fd = openSync(path, "a");
    this.add(encodeEvent(wallTime, 0, { fileVersion: "brain.Event:2" }));
  }

  add(event: Uint8Array): void {
    this.pending.push(tfRecord(event));
  }

  /** Writes what was added since the last flush. */
  flush(sync = false): void {
    if (this.pending.length) {
      writeSync(this.fd, Buffer.concat(this.pending));
      this.pending = [];
    }
    if (sync) fsyncSync(this.fd);
  }

  close(): void {
    this.flush(true);
    closeSync(this.fd);
  }
}
