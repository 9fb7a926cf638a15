import { test, expect, waitForHydration, signIn } from './fixtures';

test('home page renders on the server and hydrates without errors', async ({ page, consoleErrors }) => {
  await signIn(page);
  const response = await page.goto('/');
  expect(response?.status()).toBe(200);
  await expect(page).toHaveTitle('Ferry');
  await expect(page.getByRole('heading', { level: 1, name: 'Welcome to Ferry' })).toBeVisible();
  await expect(page.getByTestId('status-database')).toHaveText('SQLite');
  await waitForHydration(page);
  expect(consoleErrors).toEqual([]);
});

test('the status button calls the server only after hydration', async ({ page, consoleErrors }) => {
  await signIn(page);
  await page.goto('/');
  await waitForHydration(page);
  await expect(page.getByRole('button', { name: 'Check again' })).toBeEnabled();
  const checked = page.getByTestId('status-checked').locator('time');
  const before = await checked.getAttribute('datetime');
  const call = page.waitForResponse((r) => r.url().includes('/api/system/status') && r.request().method() === 'POST');
  await page.getByRole('button', { name: 'Check again' }).click();
  expect((await call).status()).toBe(200);
  // The panel shows the new answer: its timestamp (to the millisecond) moved on.
  await expect(checked).not.toHaveAttribute('datetime', before ?? '');
  await expect(page.getByTestId('status-database')).toHaveText('SQLite');
});

test('navigation moves between areas without a full reload', async ({ page, consoleErrors }) => {
  await signIn(page);
  await page.goto('/');
  await waitForHydration(page);
  // A marker on window survives client-side navigation but not a page load.
  await page.evaluate(() => ((window as any).__ferryMarker = 'still-here'));
  const nav = page.getByRole('navigation', { name: 'Main' });

  await nav.getByRole('link', { name: 'Catalog' }).click();
  await expect(page).toHaveURL('/destinations/catalog');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Destination catalog');
  await expect(nav.getByRole('link', { name: 'Catalog' })).toHaveAttribute('aria-current', 'page');
  await expect(page).toHaveTitle('Destination catalog · Ferry');

  await nav.getByRole('link', { name: 'Segments' }).click();
  await expect(page).toHaveURL('/segments');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Segments');
  await expect(nav.getByRole('link', { name: 'Catalog' })).not.toHaveAttribute('aria-current', 'page');

  await nav.getByRole('link', { name: 'Home' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Welcome to Ferry');
  expect(await page.evaluate(() => (window as any).__ferryMarker)).toBe('still-here');
});

test('every area in the navigation has a page', async ({ page, consoleErrors }) => {
  await signIn(page);
  const areas: Array<[string, string]> = [
    ['/destinations/catalog', 'Destination catalog'],
    ['/destinations/browse', 'Dataflows'],
    ['/destinations/accounts', 'Accounts'],
    ['/segments', 'Segments'],
    ['/admin', 'Administration'],
  ];
  for (const [path, heading] of areas) {
    const response = await page.goto(path);
    expect(response?.status(), path).toBe(200);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText(heading);
  }
});

test('an unknown path shows the 404 page with status 404, and it hydrates', async ({ page, consoleErrors }) => {
  await signIn(page);
  const response = await page.goto('/no/such/page');
  expect(response?.status()).toBe(404);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Page not found');
  await expect(page.getByText('The page you asked for was not found.')).toBeVisible();
  await expect(page).toHaveTitle('Page not found · Ferry');
  // After hydration, client-side navigation works from the error page too.
  await waitForHydration(page);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Accounts' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Accounts');
  // Chromium logs the document's own 404 status; that one is expected, any other error is not.
  const own404 = consoleErrors.findIndex((e) => e.includes('status of 404'));
  expect(own404).toBeGreaterThanOrEqual(0);
  consoleErrors.splice(own404, 1);
});

test.describe('without JavaScript', () => {
  test.use({ javaScriptEnabled: false });

  test('signing in and pages work as server-rendered HTML', async ({ page }) => {
    await signIn(page);
    await expect(page.getByRole('heading', { level: 1, name: 'Welcome to Ferry' })).toBeVisible();
    await expect(page.getByTestId('status-database')).toHaveText('SQLite');
    // Not hydrated: the button that needs the app stays disabled instead of ignoring clicks.
    await expect(page.getByRole('button', { name: 'Check again' })).toBeDisabled();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Browse' }).click();
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('Dataflows');
  });
});
