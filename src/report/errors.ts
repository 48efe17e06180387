// Bad input to the report (a path that is not there, an unknown baseline method): the CLI turns
// it into exit 2, naming the field or path and what was expected; nothing is written before it.
export class ReportInputError extends Error {
  override readonly name = "ReportInputError";
  /** The option or path at fault, e.g. "--baseline" or "runs/does-not-exist". */
  readonly field: string;

  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}
