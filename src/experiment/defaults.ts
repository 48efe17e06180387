// The default experiment: the worker's part comes from the field rules in worker.proto (the
// generated RUN_SPEC_DEFAULTS, the same values as the worker's RunConfig()); the rest is the
// orchestrator's own.
import { RUN_SPEC_DEFAULTS } from "./runSpec.gen.js";
import type { ResolvedExperiment } from "./schema.js";

export type DefaultExperiment = Omit<ResolvedExperiment, "name" | "sweep">;
// (DEFAULT_EXPERIMENT is at the end: it needs clone and isPlainObject initialised.)

function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object") {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

export const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

/** A deep copy of plain data (objects, arrays, scalars). */
export function clone<T>(v: T): T {
  if (Array.isArray(v)) return v.map(clone) as T;
  if (isPlainObject(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, clone(x)])) as T;
  return v;
}

/**
 * `over` laid onto `base`: objects merge key by key, anything else (arrays included) replaces.
 * null and undefined mean "not given" and keep the base value (YAML `key:` with nothing after
 * it is null). Values of the wrong type pass through so that validation can name them.
 */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (over === undefined || over === null) return clone(base);
  if (!isPlainObject(base) || !isPlainObject(over)) return clone(over);
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(base)) out[k] = deepMerge(base[k], over[k]);
  for (const k of Object.keys(over)) {
    if (!Object.hasOwn(base, k) && over[k] !== null && over[k] !== undefined) out[k] = clone(over[k]);
  }
  return out;
}

export const DEFAULT_EXPERIMENT: DefaultExperiment = deepFreeze({
  ...clone(RUN_SPEC_DEFAULTS),
  // Orchestrator-only: TensorBoard event files of every run (src/tracking), on unless switched off.
  train: { ...clone(RUN_SPEC_DEFAULTS.train), tensorboard: true },
  runtime: { kind: "local" },
});
