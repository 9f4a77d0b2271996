/* The server the web suite drives: the test-clock build of serviceflow on a
 * free loopback port and a temp data dir, migrated, seeded with the demo
 * users and catalog (`serviceflow seed`) and the demo service desk
 * (scripts/seed_desk.py: the example workflows and a few requests), serving
 * the built web app (build/web). One server per run: globalSetup starts it,
 * globalTeardown stops it; bench's Lighthouse run starts one the same way.
 *
 * Environment (all optional):
 *   SERVICEFLOW_TESTCLOCK_BIN  the binary (default build/serviceflow-testclock)
 *   SF_WEB_ROOT                the built app (default build/web)
 *   SF_WEB_URL                 use this running server instead of starting one
 *                              (then no seeding and no teardown: your server, your data)
 *   SF_WEB_KEEP=1              keep the data dir (and its server.log) after the run */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const REPO = path.resolve(__dirname, '..', '..', '..');
export const BIN =
  process.env.SERVICEFLOW_TESTCLOCK_BIN || path.join(REPO, 'build', 'serviceflow-testclock');
export const WEB_ROOT = process.env.SF_WEB_ROOT || path.join(REPO, 'build', 'web');

/* Flags of every test server: cheap password hashing (the demo logins of a
 * run would otherwise cost seconds each on a loaded CI machine), no login
 * rate limit (every scenario signs in; the limit is the auth tests' business),
 * and payment retries 2 s apart instead of 0.1 s, so a retried payment
 * (card 4000000000000119) is pending long enough for a person, and a test,
 * to watch it turn paid. */
const HASH_FLAGS = ['--argon2-memlimit-kib', '8192', '--argon2-opslimit', '1'];
/* webhooks to the tests' own receivers on loopback, retried a second apart
 * (specs/lists.spec.ts watches a delivery fail, then succeed, live) */
const SERVE_FLAGS = [
  ...HASH_FLAGS,
  '--rate-login-per-min', '0',
  '--payment-backoff-ms', '2000',
  '--webhook-allow', '127.0.0.0/8,::1',
  '--webhook-backoff-ms', '1000',
];

export interface RunningServer {
  url: string;
  pid: number;
  dataDir: string;
  log: string;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function cli(args: string[], dataDir: string): string {
  const p = spawnSync(BIN, [...args, '--data-dir', dataDir, ...HASH_FLAGS], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (p.status !== 0)
    throw new Error(`serviceflow ${args.join(' ')} failed (${p.status}):\n${p.stderr}${p.stdout}`);
  return p.stdout;
}

async function waitHealthy(url: string, child: ReturnType<typeof spawn>, log: string) {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      const r = await fetch(url + '/readyz');
      if (r.status === 200) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the server did not become ready; its log:\n${fs.readFileSync(log, 'utf8')}`);
}

/* Says in words what is missing before anything starts, so a CI log names
 * the cause instead of a timeout. */
export function checkPrerequisites(): void {
  if (!fs.existsSync(BIN))
    throw new Error(`${BIN} is missing: build it first (make build, or cmake --build build)`);
  if (!fs.existsSync(path.join(WEB_ROOT, 'index.html')))
    throw new Error(`${WEB_ROOT}/index.html is missing: build the web app first (make build)`);
}

export async function startServer(): Promise<RunningServer> {
  checkPrerequisites();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sf-web-'));
  cli(['migrate'], dataDir);
  cli(['seed'], dataDir);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const log = path.join(dataDir, 'server.log');
  const out = fs.openSync(log, 'a');
  const child = spawn(
    BIN,
    ['serve', '--data-dir', dataDir, '--port', String(port), '--bind', '127.0.0.1', ...SERVE_FLAGS],
    // web_root through the environment: the same on every build of the server
    { stdio: ['ignore', out, out], env: { ...process.env, SERVICEFLOW_WEB_ROOT: WEB_ROOT } },
  );
  fs.closeSync(out);
  try {
    await waitHealthy(url, child, log);
    const seed = spawnSync('python3', [path.join(REPO, 'scripts', 'seed_desk.py'), '--url', url], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    if (seed.status !== 0) throw new Error(`scripts/seed_desk.py failed:\n${seed.stderr}${seed.stdout}`);
  } catch (e) {
    child.kill('SIGTERM');
    throw e;
  }
  child.unref();
  return { url, pid: child.pid!, dataDir, log };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/* SIGTERM (the server drains and exits), SIGKILL after 15 s; the data dir is
 * removed unless SF_WEB_KEEP=1. Returns the server log's text. */
export async function stopServer(s: RunningServer): Promise<string> {
  if (alive(s.pid)) {
    process.kill(s.pid, 'SIGTERM');
    const deadline = Date.now() + 15_000;
    while (alive(s.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (alive(s.pid)) process.kill(s.pid, 'SIGKILL');
  }
  const text = fs.existsSync(s.log) ? fs.readFileSync(s.log, 'utf8') : '';
  if (process.env.SF_WEB_KEEP !== '1') fs.rmSync(s.dataDir, { recursive: true, force: true });
  return text;
}
