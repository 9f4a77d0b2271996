// Generates src/api/schema.d.ts from the server's OpenAPI document
// (`serviceflow openapi`), so a changed API breaks `tsc`, not the user.
// The binary is ../build/serviceflow unless SF_BIN names another one.
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const bin = process.env.SF_BIN || resolve(root, "../build/serviceflow");
let doc;
try {
  doc = execFileSync(bin, ["openapi"], { encoding: "utf8", maxBuffer: 64 << 20 });
} catch (e) {
  console.error(`gen-api: could not run "${bin} openapi" (build the server first, or set SF_BIN): ${e.message}`);
  process.exit(1);
}
const dir = mkdtempSync(join(tmpdir(), "sf-openapi-"));
const spec = join(dir, "openapi.json");
writeFileSync(spec, doc);
try {
  execFileSync(
    process.execPath,
    [resolve(root, "node_modules/openapi-typescript/bin/cli.js"), spec, "-o", resolve(root, "src/api/schema.d.ts")],
    { stdio: "inherit" },
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
