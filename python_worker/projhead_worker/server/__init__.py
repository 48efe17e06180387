"""The worker's server process: the gRPC service, the jobs it runs and the processes it
supervises. Importing any module here loads no torch; the torch side (training/) is imported
only inside the functions that need it (resume checks, ExportBackbone, GetInfo)."""
