/* The JavaScript a first visit downloads whatever the screen: the entry
 * chunks of build/web/index.html and every chunk they import statically
 * (with a Vite manifest, .vite/manifest.json, its `imports` are followed),
 * and every script and <link rel="modulepreload"> of index.html (the lazy
 * chunks every screen loads are preloaded there), each gzipped at level 9
 * the way the server's precompressed siblings are. The other lazy chunks (a
 * screen's area, the editors) do not count. */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

export interface InitialJs {
  files: Array<{ file: string; bytes: number; gzip: number }>;
  bytes: number;
  gzip: number;
}

function fromManifest(root: string): string[] | null {
  const file = path.join(root, '.vite', 'manifest.json');
  if (!fs.existsSync(file)) return null;
  const manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<
    string,
    { file: string; isEntry?: boolean; imports?: string[] }
  >;
  const seen = new Set<string>();
  const visit = (key: string) => {
    const chunk = manifest[key];
    if (!chunk || seen.has(chunk.file)) return;
    seen.add(chunk.file);
    (chunk.imports || []).forEach(visit);
  };
  Object.keys(manifest)
    .filter((k) => manifest[k].isEntry)
    .forEach(visit);
  return [...seen].filter((f) => f.endsWith('.js'));
}

function fromIndexHtml(root: string): string[] {
  const html = fs.readFileSync(path.join(root, 'index.html'), 'utf8');
  const out = new Set<string>();
  for (const m of html.matchAll(/<script\b[^>]*\bsrc="([^"]+)"/g)) out.add(m[1]);
  for (const m of html.matchAll(/<link\b[^>]*\brel="modulepreload"[^>]*>/g)) {
    const href = /\bhref="([^"]+)"/.exec(m[0]);
    if (href) out.add(href[1]);
  }
  return [...out].filter((f) => !/^https?:/.test(f)).map((f) => f.replace(/^\//, ''));
}

export function initialJs(root: string): InitialJs {
  const names = [...new Set([...(fromManifest(root) ?? []), ...fromIndexHtml(root)])];
  const files = names.map((file) => {
    const data = fs.readFileSync(path.join(root, file));
    return { file, bytes: data.length, gzip: zlib.gzipSync(data, { level: 9 }).length };
  });
  return {
    files,
    bytes: files.reduce((a, f) => a + f.bytes, 0),
    gzip: files.reduce((a, f) => a + f.gzip, 0),
  };
}
