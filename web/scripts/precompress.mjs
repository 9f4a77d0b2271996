// Writes <file>.br (brotli quality 11) and <file>.gz (gzip level 9) beside
// every text file of the built app over 1 KB, for the server to send to the
// browsers that take them (src/edge/web.c; docs/web.md). A variant that is
// not smaller than its file is not written. Node's own zlib: no dependency.
//   node scripts/precompress.mjs [dir]    (default: ../build/web)
import { readdir, readFile, stat, writeFile, unlink } from "node:fs/promises";
import { join, resolve, dirname, extname } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import zlib from "node:zlib";

const gzip = promisify(zlib.gzip);
const brotli = promisify(zlib.brotliCompress);
const here = dirname(fileURLToPath(import.meta.url));
const dir = resolve(process.argv[2] || join(here, "..", "..", "build", "web"));
const TEXT = new Set([".js", ".mjs", ".css", ".html", ".svg", ".json", ".webmanifest", ".map"]);
const MIN_SIZE = 1024;

async function* files(d) {
  for (const e of await readdir(d, { withFileTypes: true })) {
    const p = join(d, e.name);
    if (e.isDirectory()) yield* files(p);
    else if (e.isFile()) yield p;
  }
}

// Writes (or removes a stale) variant: only one smaller than the file is kept.
async function variant(path, data, suffix, packed) {
  if (packed.length < data.length) return writeFile(path + suffix, packed).then(() => packed.length);
  await unlink(path + suffix).catch(() => {});
  return 0;
}

async function compress(path) {
  const data = await readFile(path);
  const [gz, br] = await Promise.all([
    gzip(data, { level: 9 }),
    brotli(data, {
      params: {
        [zlib.constants.BROTLI_PARAM_QUALITY]: 11,
        [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_TEXT,
        [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length,
      },
    }),
  ]);
  return { size: data.length, gz: await variant(path, data, ".gz", gz), br: await variant(path, data, ".br", br) };
}

try {
  if (!(await stat(dir)).isDirectory()) throw new Error("not a directory");
} catch (e) {
  console.error(`precompress: ${dir}: ${e.message} (run vite build first)`);
  process.exit(1);
}
const todo = [];
for await (const p of files(dir))
  if (TEXT.has(extname(p).toLowerCase()) && (await stat(p)).size > MIN_SIZE) todo.push(p);
let raw = 0, gzTotal = 0, brTotal = 0;
for (const r of await Promise.all(todo.map(compress))) {
  raw += r.size;
  gzTotal += r.gz || r.size;
  brTotal += r.br || r.size;
}
const kb = (n) => (n / 1024).toFixed(1) + " KB";
console.log(`precompress: ${todo.length} files, ${kb(raw)} -> gzip ${kb(gzTotal)}, brotli ${kb(brTotal)}`);
