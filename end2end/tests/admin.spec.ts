import { test, expect, signIn, waitForHydration } from './fixtures';

// One flow end to end: the administrator creates a Viewer, the Viewer signs in and is kept out
// of administration both in the interface and on the server.
test('an administrator creates a viewer, who sees no admin area and is refused by the server', async ({ page, consoleErrors }) => {
  const email = `viewer-${Date.now()}@example.com`;
  const password = 'quiet harbour lanterns';

  await signIn(page);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' }).click();
  await page.getByRole('link', { name: 'New user' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('New user');
  await waitForHydration(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Name').fill('Vera Viewer');
  await page.getByLabel('Password').fill(password);
  // Viewer comes preselected; choose it explicitly anyway and nothing else.
  await expect(page.getByRole('checkbox', { name: /^Viewer/ })).toBeChecked();
  await expect(page.getByRole('checkbox', { name: /^Administrator/ })).not.toBeChecked();
  await page.getByRole('button', { name: 'Create user' }).click();

  await expect(page).toHaveURL('/admin');
  const row = page.getByRole('row').filter({ hasText: email });
  await expect(row).toContainText('Viewer');
  await expect(row).toContainText('Active');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL('/login');

  await signIn(page, email, password);
  await expect(page.getByText('Vera Viewer')).toBeVisible();
  const nav = page.getByRole('navigation', { name: 'Main' });
  await expect(nav.getByRole('link', { name: 'Catalog' })).toBeVisible();
  await expect(nav.getByRole('link', { name: 'Admin' })).toHaveCount(0);
  await expect(nav.getByRole('link', { name: 'Audit log' })).toHaveCount(0);

  // The interface hides the area; the server refuses it too.
  await waitForHydration(page);
  const status = await page.evaluate(async () => {
    const response = await fetch('/api/admin/users/list', { method: 'POST' });
    return response.status;
  });
  expect(status).toBe(403);
  await page.goto('/admin');
  await expect(page.getByRole('alert')).toHaveText('You do not have permission to do that.');
  // The browser logs both refusals as failed loads; they are the point of this test.
  const refusals = consoleErrors.filter((e) => e.includes('status of 403'));
  expect(refusals).toHaveLength(2);
  consoleErrors.splice(0, consoleErrors.length, ...consoleErrors.filter((e) => !refusals.includes(e)));
});

test('an administrator makes a custom role and edits it', async ({ page, consoleErrors }) => {
  const name = `Auditors ${Date.now()}`;
  await signIn(page);
  await page.goto('/admin');
  await page.getByRole('link', { name: 'New role' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('New role');
  await waitForHydration(page);
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Description').fill('Read the audit log');
  await page.getByRole('checkbox', { name: /^audit\.view/ }).check();
  await page.getByRole('button', { name: 'Create role' }).click();
  await expect(page).toHaveURL('/admin');

  const row = page.getByRole('row').filter({ hasText: name });
  await expect(row).toContainText('audit.view');
  await row.getByRole('link', { name }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(name);
  await waitForHydration(page);
  await expect(page.getByRole('checkbox', { name: /^audit\.view/ })).toBeChecked();
  await page.getByRole('checkbox', { name: /^segments\.view/ }).check();
  await page.getByRole('button', { name: 'Save role' }).click();
  await expect(page.getByRole('status')).toHaveText('Role saved.');
  await page.reload();
  await expect(page.getByRole('checkbox', { name: /^segments\.view/ })).toBeChecked();

  // Built-in roles are shown read-only.
  await page.goto('/admin');
  await page.getByRole('link', { name: 'Viewer', exact: true }).click();
  await expect(page.getByText('A built-in role')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Save role' })).toHaveCount(0);
});
