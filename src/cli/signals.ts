// Ctrl-C handling for long commands: the first SIGINT/SIGTERM asks for a graceful cancel (the
// worker checkpoints), the second stops at once. The CLI owns this because execa's process
// cleanup would otherwise stop the worker before it could checkpoint.
export interface Interrupts {
  cancel: AbortSignal;
  kill: AbortSignal;
  dispose(): void;
}

export function handleInterrupts(onFirst?: () => void): Interrupts {
  const cancel = new AbortController();
  const kill = new AbortController();
  const handler = () => {
    if (!cancel.signal.aborted) {
      onFirst?.();
      cancel.abort(new Error("interrupted"));
    } else if (!kill.signal.aborted) {
      process.stderr.write("\nstopping now (the last checkpoint is kept)\n");
      kill.abort(new Error("interrupted twice"));
    }
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return {
    cancel: cancel.signal,
    kill: kill.signal,
    dispose() {
      process.off("SIGINT", handler);
      process.off("SIGTERM", handler);
    },
  };
}
