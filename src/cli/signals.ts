// Ctrl-C handling for long commands: the first SIGINT/SIGTERM asks for a graceful cancel (the
// worker checkpoints), the second stops at once. The CLI owns this because execa's process
// cleanup would otherwise stop the worker before it could checkpoint.
export interface Interrupts {
  cancel: AbortSignal;
  kill: AbortSignal;
  dispose(): void;
}

/** `say` prints the second interrupt's notice (default: to stderr; the run's progress display
 *  passes its own, so the line stays above its bar). */
export function handleInterrupts(onFirst?: () => void, say: (line: string) => void = (l) => process.stderr.write(`\n${l}\n`)): Interrupts {
  const cancel = new AbortController();
  const kill = new AbortController();
  const handler = () => {
    if (!cancel.signal.aborted) {
      onFirst?.();
      cancel.abort(new Error("interrupted"));
    } else if (!kill.signal.aborted) {
      say("stopping now (the last checkpoint is kept)");
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
