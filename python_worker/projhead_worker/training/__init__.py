"""The torch side: what runs in a training process (`python -m projhead_worker.training.trainproc`)
and an evaluation process (`python -m projhead_worker.training.evaluation.job`), and the
checkpoint and model code the server process calls on demand. Nothing here knows of gRPC or
imports server/."""
