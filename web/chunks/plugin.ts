// How the bundle is cut into chunks (docs/web.md, "Performance"): a Vite
// plugin that sets Rollup's manualChunks.
//
// - Vendor chunks for what the first load needs of React, the router and
//   TanStack Query: the libraries change far less often than the app, so a
//   new build leaves them cached (long-lived hashed names).
// - The rest of the first load stays one entry chunk (`index`), exactly as
//   Rollup lays it out by itself.
// - Everything that loads lazily is grouped by hand. Left to itself Rollup
//   makes one chunk per set of screens sharing a module: the request detail
//   needed 26 of them, each a request on one of the browser's six HTTP/1.1
//   connections ahead of the page's reads, and a modulepreload link that
//   Vite's helper inserts on the main thread. Grouped, a screen loads
//   three chunks besides the first load: `ui` (the library code lazy
//   screens use: Mantine's other components, their positioning and scroll
//   helpers), `shared` (the app's own lazy modules that more than one area
//   uses) and its area's (`shop`, `portal`, `desk`, `account`, `admin`).
//   Libraries only one screen needs keep chunks of their own (`editor`:
//   CodeMirror, `yaml`, `qrcode`), as do the screens that need them or load
//   more lazily (the workflow editor and its YAML editor, the security page),
//   so that the area's other screens do not load those.
//
// Which modules the first load holds is Rollup's own answer, not a guess: the
// plugin first builds the app in memory with the vendor chunks alone and takes
// the modules of the entry chunk and of what it imports statically. (A walk of
// the import graph cannot tell: a barrel such as `@mantine/core` imports every
// component, and only tree-shaking knows which ones the entry uses.) Naming a
// chunk also pulls its unnamed static imports into it, so every module of the
// first load is named (`index`) to keep it there.
import { resolve } from "node:path";
import { build, type Plugin, type Rollup } from "vite";

const VENDORS: Array<[string, RegExp]> = [
  ["react", /\/node_modules\/(react|react-dom|scheduler)\//],
  ["router", /\/node_modules\/(react-router|react-router-dom|@remix-run\/router)\//],
  ["query", /\/node_modules\/@tanstack\//],
];

// libraries one screen needs, each a chunk of its own
const OWN: Array<[string, RegExp]> = [
  ["editor", /\/node_modules\/(@codemirror|@lezer|@marijn|crelt|style-mod|w3c-keyname)\//],
  ["yaml", /\/node_modules\/yaml\//],
  ["qrcode", /\/node_modules\/(qrcode|dijkstrajs|pngjs|encode-utf8)\//],
];

const PROBE = "SF_CHUNKS_PROBE"; // set while the in-memory build runs
// the lazy chunks nearly every screen loads (the account screens do without `shared`, 7 KB)
const EVERY_SCREEN = ["ui", "shared"];

/** The name in `list` whose pattern matches module `id`. */
const nameIn = (list: Array<[string, RegExp]>, id: string) => list.find(([, re]) => re.test(id))?.[0];

const areaOf = (id: string) => /\/src\/features\/([^/]+)\//.exec(id)?.[1];

interface Layout {
  first: Map<string, string>; // first-load module -> its chunk's name
  lazy: Map<string, string | undefined>; // lazy module -> its group (undefined: Rollup's choice)
  mantineClasses: Set<string>; // the class names of Mantine's stylesheet the app's code uses
}

let probed: Layout | null = null;

/** A Mantine component's class name, as its code and Mantine's stylesheet write it. */
export const MANTINE_CLASS = /\bm_[0-9a-f]{8}\b/g;

/** The Mantine classes (`m_` and eight hex digits) the built app's code names, every chunk
 * of it, lazy ones too (null outside a build, and during the probe itself): what
 * theme/plugin.ts keeps of Mantine's stylesheet. Tree-shaking decides which components are
 * in the bundle, and each component's code names its classes, so only the probe can tell. */
export function usedMantineClasses(): Set<string> | null {
  return probed?.mantineClasses ?? null;
}

/* Groups Rollup's own layout (`output`: vendor chunks only). A lazy chunk's
 * modules go to the area of the screens that load it when they are all of one
 * area, else to `ui` (libraries) or `shared` (the app's). A chunk only lazy
 * imports inside lazy screens load keeps Rollup's layout. */
function layout(output: Rollup.RollupOutput["output"]): Layout {
  const chunks = new Map<string, Rollup.OutputChunk>();
  for (const item of output) if (item.type === "chunk") chunks.set(item.fileName, item);
  const closure = (from: string) => {
    const seen = new Set<string>();
    const todo = [from];
    while (todo.length) {
      const f = todo.pop()!;
      if (seen.has(f) || !chunks.has(f)) continue;
      seen.add(f);
      todo.push(...chunks.get(f)!.imports);
    }
    return seen;
  };
  const firstChunks = new Set(
    [...chunks.values()].filter((c) => c.isEntry).flatMap((c) => [...closure(c.fileName)]),
  );
  const first = new Map<string, string>();
  for (const f of firstChunks) for (const id of Object.keys(chunks.get(f)!.modules)) first.set(id, chunks.get(f)!.name);
  const ownLibrary = (f: string) => Object.keys(chunks.get(f)!.modules).some((id) => nameIn(OWN, id));
  // who loads each lazy chunk: the screens (dynamic entries) needing it, by area
  // ("desk"), or by area and name for a screen that needs a library of its own
  // or loads more lazily ("admin/WorkflowEditorPage"): the area's other screens
  // must not load that
  const loaders = new Map<string, Set<string>>();
  for (const c of chunks.values()) {
    if (!c.isDynamicEntry || firstChunks.has(c.fileName)) continue;
    // imported only from inside lazy code (the YAML editor): not an area's screen
    const nested = [...chunks.values()].some(
      (o) => !firstChunks.has(o.fileName) && o.dynamicImports.includes(c.fileName),
    );
    if (nested) continue;
    const needs = [...closure(c.fileName)].filter((f) => !firstChunks.has(f));
    const area = areaOf(c.facadeModuleId ?? "") ?? "*";
    // a screen that loads more lazily (the workflow editor starts its YAML editor's chunk when
    // it runs) keeps its own chunk too: in the area's, every screen of the area would start it
    const more = c.dynamicImports.some((d) => !firstChunks.has(d));
    const label = more || needs.some(ownLibrary) ? `${area}/${c.name}` : area;
    for (const f of needs) {
      if (!loaders.has(f)) loaders.set(f, new Set());
      loaders.get(f)!.add(label);
    }
  }
  const groupOf = (id: string, labels: Set<string> | undefined): string | undefined => {
    const own = nameIn(OWN, id);
    if (own) return own;
    if (!labels) return undefined; // only nested lazy code loads it
    const common = /\/src\//.test(id) ? "shared" : "ui";
    const areas = new Set([...labels].map((l) => l.split("/")[0]!));
    if (areas.size !== 1 || areas.has("*")) return common;
    const area = [...areas][0]!;
    if (labels.has(area) || labels.size > 1) return area; // the area's chunk
    return [...labels][0]!.split("/")[1]; // one screen's own chunk
  };
  const lazy = new Map<string, string | undefined>();
  for (const c of chunks.values()) {
    if (firstChunks.has(c.fileName)) continue;
    for (const id of Object.keys(c.modules)) lazy.set(id, groupOf(id, loaders.get(c.fileName)));
  }
  const mantineClasses = new Set<string>();
  for (const c of chunks.values()) for (const m of c.code.matchAll(MANTINE_CLASS)) mantineClasses.add(m[0]);
  return { first, lazy, mantineClasses };
}

export function chunks(): Plugin {
  let configFile: string | undefined;
  let root = "";
  let mode = "production";
  let cut: Layout | null = null;
  let base = "/";

  return {
    name: "sf-chunks",
    apply: "build",
    configResolved(config) {
      configFile = config.configFile;
      root = config.root;
      mode = config.mode;
      base = config.base;
    },
    watchChange() {
      cut = probed = null; // `vite build --watch`: the next build lays the chunks out again
    },
    async buildStart() {
      if (process.env[PROBE] || cut) return;
      process.env[PROBE] = "1";
      try {
        const out = await build({
          configFile,
          root,
          mode,
          logLevel: "silent",
          build: { write: false, manifest: false, emptyOutDir: false },
        });
        const outputs = (Array.isArray(out) ? out : [out]) as Rollup.RollupOutput[];
        cut = layout(outputs[0]!.output);
        probed = cut;
      } finally {
        delete process.env[PROBE];
      }
    },
    // Nearly every screen loads `ui` and `shared` (EVERY_SCREEN): index.html preloads them beside the
    // first load, so a cold load does not wait for the entry to be downloaded and evaluated
    // before asking for them (one round trip and their download off the first screen's path on
    // a phone's connection). The screen's area chunk, a few kilobytes, is still asked for then.
    transformIndexHtml: {
      order: "post",
      handler(_html, ctx) {
        if (!cut) return [];
        return Object.values(ctx.bundle ?? {})
          .filter((c): c is Rollup.OutputChunk => c.type === "chunk" && EVERY_SCREEN.includes(c.name))
          .map((c) => ({
            tag: "link",
            attrs: { rel: "modulepreload", crossorigin: true, href: base + c.fileName },
            injectTo: "head" as const,
          }));
      },
    },
    outputOptions(options) {
      return {
        ...options,
        manualChunks(id: string) {
          const vendor = nameIn(VENDORS, id);
          if (vendor || !cut) return vendor; // the probe: vendors only
          return cut.first.get(id) ?? cut.lazy.get(id);
        },
      };
    },
  };
}

/* The session's start (`entry`, api/sessionStart.ts) as an entry of its own,
 * its script first in index.html and `async`: a small chunk run as soon as it
 * arrives, so the refresh (a round trip every signed-in screen waits for)
 * leaves while React, Mantine and the app still download and run, instead of
 * after the whole first load has been evaluated in one task. main.tsx imports
 * it too: evaluated once, and the dev server needs nothing else. */
export function sessionFirst(entry: string): Plugin {
  let base = "/";
  return {
    name: "sf-session-first",
    apply: "build",
    config(user) {
      const root = resolve(user.root ?? process.cwd());
      return {
        build: { rollupOptions: { input: { index: resolve(root, "index.html"), session: resolve(root, entry) } } },
      };
    },
    configResolved(config) {
      base = config.base;
    },
    transformIndexHtml: {
      order: "post",
      handler(_html, ctx) {
        const chunk = Object.values(ctx.bundle ?? {}).find(
          (c): c is Rollup.OutputChunk => c.type === "chunk" && c.isEntry && !!c.facadeModuleId?.endsWith(entry),
        );
        if (!chunk) throw new Error(`sf-session-first: no entry chunk for ${entry}`);
        return [
          {
            tag: "script",
            attrs: { type: "module", async: true, crossorigin: true, src: base + chunk.fileName },
            injectTo: "head-prepend",
          },
        ];
      },
    },
  };
}
