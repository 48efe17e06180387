"""Reads a TensorBoard log folder with TensorBoard's own readers and prints it as JSON.

Scalars and text come from EventAccumulator (TensorBoard's classic reader, which also checks
every TFRecord frame's masked CRC32C and stops at a bad one); plugin data (hparams, custom
scalars) from plugin_event_accumulator, the one the TensorBoard server uses.
Usage: python tb_read.py LOGDIR [BYTES_HEX ...]  (each BYTES_HEX: also print TensorBoard's
masked_crc32c of those bytes, to compare with the TypeScript implementation)."""
import json
import os
import sys

from google.protobuf import json_format
from tensorboard.backend.event_processing import event_accumulator, plugin_event_accumulator
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.hparams import metadata as hp

logdir = sys.argv[1]
out = {"files": sorted(f for f in os.listdir(logdir) if "tfevents" in f)}
ea = event_accumulator.EventAccumulator(logdir, size_guidance={"scalars": 0, "tensors": 0})
ea.Reload()
tags = ea.Tags()
out["scalars"] = {t: [[e.step, e.value] for e in ea.Scalars(t)] for t in tags["scalars"]}
out["texts"] = {
    t: [[e.step, e.tensor_proto.string_val[0].decode()] for e in ea.Tensors(t)]
    for t in tags["tensors"]
    if ea.SummaryMetadata(t).plugin_data.plugin_name == "text"
}
pa = plugin_event_accumulator.EventAccumulator(logdir)
pa.Reload()
try:
    content = pa.PluginTagToContent("hparams")
except KeyError:
    content = {}
if hp.SESSION_START_INFO_TAG in content:
    info = hp.parse_session_start_info_plugin_data(content[hp.SESSION_START_INFO_TAG])
    out["hparams"] = {k: json_format.MessageToDict(v) for k, v in info.hparams.items()}
if hp.SESSION_END_INFO_TAG in content:
    out["sessionEnd"] = json_format.MessageToDict(hp.parse_session_end_info_plugin_data(content[hp.SESSION_END_INFO_TAG]))
if hp.EXPERIMENT_TAG in content:
    out["experiment"] = json_format.MessageToDict(hp.parse_experiment_plugin_data(content[hp.EXPERIMENT_TAG]))
try:
    layout_events = pa.Tensors("custom_scalars__config__")
    layout = layout_pb2.Layout.FromString(layout_events[0].tensor_proto.string_val[0])
    out["layout"] = json_format.MessageToDict(layout)
except KeyError:
    pass
out["crc"] = [masked_crc32c(bytes.fromhex(h)) for h in sys.argv[2:]]
print(json.dumps(out))
