// Where the project keeps its tools; shared by the setup, gen, test and bench scripts.
import { join } from "node:path";

export const venvDir = (root) => join(root, "python_worker", ".venv");
export const venvPython = (root) =>
  process.platform === "win32"
    ? join(venvDir(root), "Scripts", "python.exe")
    : join(venvDir(root), "bin", "python");
