// One rule for optional test dependencies (a browser, a dataset, an engine): locally a missing one
// skips the test with the install command; under CI=true it fails, so a green CI never hides an
// install step that went missing.
export function needOrSkip(present: boolean, what: string, install: string): false | string {
  if (present) return false;
  const why = `${what} not found (${install})`;
  if (process.env.CI === "true") throw new Error(`CI requires ${why}`);
  return why;
}
