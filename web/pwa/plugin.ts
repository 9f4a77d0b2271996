// The installable app at build time (docs/web.md, "Installable app"): a Vite
// plugin that, once the bundle is complete, writes
//   - icons/icon-{192,512}.png and icons/maskable-{192,512}.png, drawn here
//     (full-bleed background, the mark inside the maskable safe zone), so no
//     binary is committed and no image dependency is needed;
//   - sw.js: pwa/sw.js with its precache list (index.html, the manifest, the
//     icons, every file of the bundle: the hashed assets Vite's manifest
//     lists) and a version, a hash of all of them, so each build gets a
//     cache of its own and the old one is dropped when the new one takes over.
import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync } from "node:zlib";
import type { Plugin } from "vite";

const here = dirname(fileURLToPath(import.meta.url));

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** The app's mark: a white ring and dot on the theme's blue (#1864ab), RGB PNG. */
export function iconPng(size: number): Buffer {
  const raw = Buffer.alloc((size * 3 + 1) * size);
  const c = size / 2;
  for (let y = 0; y < size; y++) {
    raw[y * (size * 3 + 1)] = 0; // filter: none
    for (let x = 0; x < size; x++) {
      const d = Math.hypot(x + 0.5 - c, y + 0.5 - c) / size; // 0 .. 0.7
      const white = (d > 0.2 && d < 0.3) || d < 0.08; // inside the 40 % safe radius
      const o = y * (size * 3 + 1) + 1 + x * 3;
      raw[o] = white ? 255 : 0x18;
      raw[o + 1] = white ? 255 : 0x64;
      raw[o + 2] = white ? 255 : 0xab;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw, { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

export const ICONS = ["icons/icon-192.png", "icons/icon-512.png", "icons/maskable-192.png", "icons/maskable-512.png"];

export function pwa(): Plugin {
  return {
    name: "sf-pwa",
    apply: "build",
    enforce: "post",
    generateBundle(_options, bundle) {
      for (const name of ICONS) {
        const size = Number(/(\d+)\.png$/.exec(name)![1]);
        this.emitFile({ type: "asset", fileName: name, source: iconPng(size) });
      }
      const publicDir = join(here, "..", "public");
      const files = new Set<string>([...ICONS, ...readdirSync(publicDir), ...Object.keys(bundle)]);
      const precache = [...files]
        .filter((f) => !f.endsWith(".map") && !f.startsWith(".vite/") && f !== "sw.js")
        .sort()
        .map((f) => `/${f}`);
      const hash = createHash("sha256");
      for (const f of precache) {
        hash.update(f);
        const item = bundle[f.slice(1)];
        if (item?.type === "asset") hash.update(item.source);
        else if (!item && !f.startsWith("/icons/")) hash.update(readFileSync(join(publicDir, f.slice(1))));
      }
      hash.update(readFileSync(join(here, "sw.js")));
      const version = hash.digest("hex").slice(0, 16);
      const source = readFileSync(join(here, "sw.js"), "utf8")
        .replace('"__SF_VERSION__"', JSON.stringify(version))
        .replace("__SF_PRECACHE__", JSON.stringify(precache, null, 1));
      this.emitFile({ type: "asset", fileName: "sw.js", source });
    },
  };
}
