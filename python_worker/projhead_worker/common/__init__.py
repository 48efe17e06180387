"""What both processes use: the run configuration and its rules, the error types and their one
classifier, path confinement, atomic writes, the run lock, the event log, the memory estimate.
No torch and no gRPC here, and nothing from server/ or training/."""
