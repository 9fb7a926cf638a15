// Playwright drives Debian's Chromium (/usr/bin/chromium) against a freshly started Ferry server
// with its own empty data folder. Browsers are never downloaded: `npx playwright install` fails here.
import { defineConfig } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const port = Number(process.env.FERRY_E2E_PORT ?? 3317);
const baseURL = `http://127.0.0.1:${port}`;
const targetDir = resolve(process.env.CARGO_TARGET_DIR ?? join(__dirname, '..', 'target'));
// cargo-leptos writes the site under the workspace's target/ whatever CARGO_TARGET_DIR says.
const siteRoot = join(__dirname, '..', 'target', 'site');
// Playwright loads this file in the runner and in every worker: create the folder only once.
const dataDir = process.env.FERRY_E2E_DATA_DIR ?? mkdtempSync(join(tmpdir(), 'ferry-e2e-'));
process.env.FERRY_E2E_DATA_DIR = dataDir;
// The administrator the tests sign in as, created before the server starts.
process.env.FERRY_E2E_EMAIL = 'e2e-admin@example.com';
process.env.FERRY_E2E_PASSWORD = 'harbour lantern ferry';
const server = join(targetDir, 'debug', 'server');

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: true,
  forbidOnly: !!process.env.CI,
  retries: 0,
  workers: process.env.CI ? 2 : undefined,
  reporter: [['list']],
  use: {
    baseURL,
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    },
  },
  webServer: {
    // A small demo set gives the activation tests segments with members.
    command: `sh -c '"${server}" users create --email ${process.env.FERRY_E2E_EMAIL} --role Administrator --name "E2E Admin" && "${server}" demo-data --profiles 300 && exec "${server}" serve'`,
    cwd: resolve(__dirname, '..'),
    url: `${baseURL}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: 'pipe',
    stderr: 'pipe',
    env: {
      FERRY_DATA_DIR: dataDir,
      DATABASE_URL: '',
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: siteRoot,
      LEPTOS_OUTPUT_NAME: 'ferry',
      LEPTOS_ENV: 'PROD',
      RUST_LOG: 'warn',
      FERRY_PASSWORD: process.env.FERRY_E2E_PASSWORD,
    },
  },
});
