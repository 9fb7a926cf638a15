// Shared test fixtures: every page records console errors and uncaught exceptions, and a test
// fails if any appeared — a hydration mismatch shows up there first.
import { test as base, expect, Page } from '@playwright/test';

type Fixtures = { consoleErrors: string[] };

export const test = base.extend<Fixtures>({
  consoleErrors: async ({ page }, use) => {
    const errors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
    await use(errors);
    expect(errors, 'console errors on the page').toEqual([]);
  },
});

export { expect };

/** Waits until the WASM app has hydrated (the layout marks itself once its effects run). */
export async function waitForHydration(page: Page) {
  await expect(page.locator('.app[data-hydrated="true"]')).toHaveCount(1);
}

/** Signs in through the sign-in page as the test administrator and waits for the home page. */
export async function signIn(page: Page, email = process.env.FERRY_E2E_EMAIL!, password = process.env.FERRY_E2E_PASSWORD!) {
  await page.goto('/login');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Welcome to Ferry' })).toBeVisible();
}
