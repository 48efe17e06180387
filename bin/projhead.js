#!/usr/bin/env node
// The CLI runs from the TypeScript build in dist/ (`npm run setup` or `npm run build` makes it).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const cli = new URL("../dist/main.js", import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write("projhead: the build is missing (dist/main.js); run `npm run setup` in the projhead folder first\n");
  process.exit(1);
}
await import(cli.href);
