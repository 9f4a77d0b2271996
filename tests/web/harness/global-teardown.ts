/* Stops the server globalSetup started and keeps its log beside the test
 * results (test-results/server.log) for the report of a failed run. */
import fs from 'node:fs';
import path from 'node:path';
import { stopServer, type RunningServer } from './server';

export default async function globalTeardown(): Promise<void> {
  const raw = process.env.SF_WEB_SERVER;
  if (!raw) return;
  const s = JSON.parse(raw) as RunningServer;
  const log = await stopServer(s);
  const dir = path.join(__dirname, '..', 'test-results');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'server.log'), log);
}
