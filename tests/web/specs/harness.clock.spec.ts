/* The e2e-clock project's own server: moving its clock moves nobody else's
 * (the shared server of the e2e project keeps its time). */
import { test, expect } from '../harness/fixtures';
import { Api } from '../harness/api';

test('the clock project has a server of its own, whose clock moves', async ({ api, baseURL }) => {
  expect(baseURL).not.toBe(process.env.SF_WEB_URL);
  const before = Date.parse((await api.advanceClock(0)));
  const after = Date.parse(await api.advanceClock(3600));
  expect(after - before).toBeGreaterThanOrEqual(3600_000);
  // the shared server did not move
  const shared = new Api(process.env.SF_WEB_URL!);
  const now = Date.parse(await shared.advanceClock(0));
  expect(now).toBeLessThan(after - 3000_000);
});
