// The study's protocol file (`report --protocol <file>`): the one primary comparison, the effect
// size it is powered for, how finalists were selected and the seeds. Committed before the first
// run; the report prints its git revision and holds the runs to it (revision.ts).
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { z } from "zod";
import { METHODS } from "../experiment/schema.js";
import { ReportInputError } from "./errors.js";
import type { PrimarySpec } from "./multiplicity.js";

/** Protocol metric names -> the eval.json fields they read. */
const METRICS = { linear: "linearTop1", knn: "knnTop1" } as const;
const SELECTION_METRICS = ["linearVal", "knnVal"] as const;

const seeds = z.array(z.number().int().min(0));

const ProtocolSchema = z.strictObject({
  name: z.string().min(1),
  primary: z.strictObject({
    method: z.enum(METHODS),
    baseline: z.enum(METHODS),
    metric: z.enum(["linear", "knn"]),
    layer: z.string().min(1),
  }),
  /** Percentage points: the effect size the study wants to detect. */
  delta: z.number().positive(),
  alpha: z.number().gt(0).lt(1).default(0.05),
  power: z.number().gt(0).lt(1).default(0.8),
  selection: z.strictObject({
    split: z.literal("validation"),
    metric: z.enum(SELECTION_METRICS),
    layer: z.string().min(1),
  }),
  seeds: z.strictObject({ screening: seeds, finals: seeds }),
  /** The declared search space: the screening experiment files (paths from the repository root). */
  search: z.array(z.string().min(1)).optional(),
  /** The training budget, in words (images, epochs, steps), and why. */
  budget: z.string().optional(),
});

export type ProtocolFile = z.infer<typeof ProtocolSchema>;

export interface Protocol extends ProtocolFile {
  /** The file as named. */
  file: string;
  /** The primary comparison in the report's terms. */
  primarySpec: PrimarySpec;
}

function pathOf(p: readonly PropertyKey[]): string {
  return p.map(String).join(".");
}

/** The keys the schema allows at a path, for the message of an unknown one. */
function knownAt(path: readonly PropertyKey[]): string[] {
  let s: z.ZodType | undefined = ProtocolSchema;
  for (const k of path) s = s instanceof z.ZodObject ? (s.shape as Record<string, z.ZodType>)[String(k)] : undefined;
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

/** Every problem at once, each naming the key: "primary.metrc: unknown key (known: ...)". */
function issues(file: string, err: z.ZodError): string {
  return err.issues
    .flatMap((i) =>
      i.code === "unrecognized_keys"
        ? i.keys.map((k) => `${file}: ${pathOf([...i.path, k])}: unknown key (known: ${knownAt(i.path).join(", ")})`)
        : [`${file}: ${pathOf(i.path) || "(file)"}: ${i.message}`],
    )
    .join("\n");
}

/** Parse and check a protocol file; a bad one is a ReportInputError (exit 2) naming each problem. */
export function parseProtocol(file: string, text: string): Protocol {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (e) {
    throw new ReportInputError("--protocol", `report: --protocol ${file}: not valid YAML (${(e as Error).message})`);
  }
  const r = ProtocolSchema.safeParse(raw);
  if (!r.success) throw new ReportInputError("--protocol", `report: --protocol ${issues(file, r.error)}`);
  const p = r.data;
  return { ...p, file, primarySpec: { ...p.primary, metric: METRICS[p.primary.metric] } };
}

export function loadProtocol(file: string): Protocol {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new ReportInputError("--protocol", `report: --protocol ${file}: no such file`);
  }
  return parseProtocol(file, text);
}
