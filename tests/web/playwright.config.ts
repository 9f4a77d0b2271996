/* The web suite (docs/testing.md, "The web suite"): Playwright driving
 * Debian's Chromium against one test-clock server started by globalSetup.
 *
 * Projects:
 *   e2e          specs/*.spec.ts: the scenarios and the accessibility scan (ctest e2e.web)
 *   e2e-clock    specs/*.clock.spec.ts: scenarios that move the server's clock, on a server
 *                of their own (the clock is the whole server's), one at a time
 *   screenshots  `make screenshots` (SF_WEB_SCREENSHOTS=1): docs/screenshots/*.png
 *   lighthouse   bench/lighthouse.sh (SF_WEB_LIGHTHOUSE=1): the Lighthouse table
 *   profile      bench/web_profile.sh (SF_WEB_PROFILE=1): where a first load's time goes
 *
 * Environment: SF_CHROMIUM (default /usr/bin/chromium; CHROME_PATH also read),
 * SF_WEB_WORKERS (default 2), SF_WEB_URL (use a running server), and those of
 * harness/server.ts. */
import { defineConfig, devices, type Project } from '@playwright/test';

const executablePath = process.env.SF_CHROMIUM || process.env.CHROME_PATH || '/usr/bin/chromium';
// CI runs as root: Chromium's sandbox needs a user namespace it may not get there;
// /dev/shm is small in containers
const launchOptions = { executablePath, args: ['--no-sandbox', '--disable-dev-shm-usage'] };
const desktop = { ...devices['Desktop Chrome'], channel: undefined, launchOptions };

const projects: Project[] = [
  { name: 'e2e', testMatch: /specs\/.*\.spec\.ts$/, testIgnore: /\.clock\.spec\.ts$/, use: desktop },
  {
    // a server of its own (fixtures.ts ownServer), so it runs beside e2e; one test at a time
    name: 'e2e-clock',
    testMatch: /specs\/.*\.clock\.spec\.ts$/,
    fullyParallel: false,
    workers: 1,
    use: { ...desktop, ownServer: true },
  } as Project,
];
if (process.env.SF_WEB_SCREENSHOTS === '1')
  projects.push({ name: 'screenshots', testMatch: /extra\/screenshots\.ts$/, use: desktop });
if (process.env.SF_WEB_PROFILE === '1')
  projects.push({ name: 'profile', testMatch: /extra\/profile\.ts$/, use: desktop, timeout: 600_000 });
if (process.env.SF_WEB_LIGHTHOUSE === '1')
  projects.push({ name: 'lighthouse', testMatch: /extra\/lighthouse\.ts$/, use: desktop, timeout: 600_000 });

export default defineConfig({
  testDir: '.',
  globalSetup: './harness/global-setup.ts',
  globalTeardown: './harness/global-teardown.ts',
  projects,
  workers: Number(process.env.SF_WEB_WORKERS || 2),
  fullyParallel: true,
  forbidOnly: !!process.env.CI,
  retries: 0,
  // generous: CI machines run builds beside the suite (a page took 10 s at a load average of 38)
  timeout: 120_000,
  expect: { timeout: 15_000 },
  reporter: [['list'], ['html', { open: 'never', outputFolder: 'playwright-report' }]],
  use: {
    headless: true,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    actionTimeout: 20_000,
    navigationTimeout: 30_000,
  },
});
