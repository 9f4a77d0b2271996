/* Starts the suite's one server (harness/server.ts) before any worker runs
 * and hands its address to the workers through the environment, which they
 * inherit (fixtures.ts reads SF_WEB_URL as baseURL). */
import type { FullConfig } from '@playwright/test';
import { startServer } from './server';

export default async function globalSetup(_config: FullConfig): Promise<void> {
  if (process.env.SF_WEB_URL) return; // a server of the caller's: used as it is
  const s = await startServer();
  process.env.SF_WEB_URL = s.url;
  process.env.SF_WEB_SERVER = JSON.stringify(s); // for globalTeardown
  console.log(`web suite: server ${s.url} (pid ${s.pid}, data ${s.dataDir})`);
}
