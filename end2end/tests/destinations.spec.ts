import { readFileSync } from 'node:fs';
import { Page } from '@playwright/test';
import { test, expect, signIn, waitForHydration } from './fixtures';

const password = 'quiet harbour lanterns';

/** The administrator creates a user holding one role, through the admin pages. */
export async function createUser(page: Page, email: string, name: string, role: string) {
  await signIn(page);
  await page.goto('/admin/users/new');
  await waitForHydration(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('checkbox', { name: /^Viewer/ }).uncheck();
  await page.getByRole('checkbox', { name: new RegExp(`^${role}`) }).check();
  await page.getByRole('button', { name: 'Create user' }).click();
  await expect(page).toHaveURL('/admin');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL('/login');
}

test('browse, filter and search the catalog and open a destination’s details', async ({ page, consoleErrors }) => {
  await signIn(page);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Catalog' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Destination catalog');
  await waitForHydration(page);
  const count = page.getByTestId('catalog-count');
  const cards = page.getByRole('list', { name: 'Available destinations' }).getByRole('listitem');
  await expect(count).toHaveText('13 destinations');

  await page.getByLabel('Category').selectOption('cloud_storage');
  await expect(count).toHaveText('5 destinations');
  await expect(cards.filter({ hasText: 'Amazon S3' })).toHaveCount(1);
  await expect(cards.filter({ hasText: 'Meta Custom Audiences' })).toHaveCount(0);

  await page.getByLabel('Category').selectOption('');
  await page.getByLabel('Type').selectOption('segment_export');
  await expect(count).toHaveText('4 destinations');

  await page.getByLabel('Type').selectOption('');
  await page.getByLabel('Search').fill('audiences');
  await expect(count).toHaveText('2 destinations');
  await expect(cards.first()).toContainText('LinkedIn Matched Audiences');

  // Other tests connect destinations meanwhile: connected-only shows just those.
  await page.getByLabel('Search').fill('');
  await page.getByLabel('Connected only').check();
  await expect(cards.filter({ hasText: 'Amazon S3' })).toHaveCount(0);
  for (const card of await cards.all()) {
    const text = await card.textContent();
    if (!text?.includes('No destination matches')) expect(text).toContain('Connected');
  }
  await page.getByLabel('Connected only').uncheck();

  await page.getByRole('link', { name: 'Details of Google Customer Match' }).click();
  const panel = page.getByRole('complementary', { name: 'Google Customer Match details' });
  await expect(panel).toContainText('Segment export');
  await expect(panel.getByRole('table', { name: 'Identities' })).toContainText('emailAddress');
  await expect(panel).toContainText('lowercased, no whitespace; Gmail dots and +tags removed');
  await expect(panel).toContainText('up to 10,000 records');
});

test('a destination manager creates an SFTP account against the test sshd, tests it and connects', async ({ page, consoleErrors }) => {
  const host = process.env.FERRY_TEST_SFTP_HOST;
  test.skip(!host && !process.env.FERRY_REQUIRE_TEST_SERVICES, 'no test sshd (run through .ci/test)');
  const stamp = Date.now();
  const email = `manager-${stamp}@example.com`;
  await createUser(page, email, 'Mina Manager', 'Destination manager');
  await signIn(page, email, password);

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Accounts' }).click();
  await page.getByRole('link', { name: 'Add account' }).click();
  await page.getByRole('combobox', { name: 'Destination' }).selectOption('sftp');
  await page.getByRole('button', { name: 'Continue' }).click();
  await expect(page.getByText('Credentials for SFTP.')).toBeVisible();
  await waitForHydration(page);
  await page.getByLabel('Account name').fill(`Test sshd ${stamp}`);
  await page.getByLabel('Host', { exact: true }).fill(process.env.FERRY_TEST_SFTP_HOST!);
  await page.getByLabel('Port', { exact: true }).fill(process.env.FERRY_TEST_SFTP_PORT!);
  await page.getByLabel('User name', { exact: true }).fill(process.env.FERRY_TEST_SFTP_USER!);
  await page.getByLabel('SSH private key', { exact: true }).fill(readFileSync(process.env.FERRY_TEST_SFTP_KEY!, 'utf8'));
  await page.getByLabel('Base folder (optional)').fill(process.env.FERRY_TEST_SFTP_FOLDER!);
  await page.getByRole('button', { name: 'Create account' }).click();

  await expect(page.getByRole('heading', { level: 1 })).toHaveText(`Test sshd ${stamp}`);
  await waitForHydration(page);
  // The key is stored but never shown again.
  await expect(page.getByLabel(/^SSH private key/)).toHaveValue('');
  await expect(page.getByLabel(/^SSH private key/)).toHaveAttribute('placeholder', 'Set — leave empty to keep it');
  await page.getByRole('button', { name: 'Test connection' }).click();
  const result = page.getByTestId('test-result');
  await expect(result).toContainText('Connection works');
  await expect(result).toContainText('Host key: SHA256:');

  // A missing folder is reported as such.
  await page.getByLabel('Base folder (optional)').fill(`${process.env.FERRY_TEST_SFTP_FOLDER}/missing`);
  await page.getByRole('button', { name: 'Save account' }).click();
  await expect(page.getByText('Account saved.')).toBeVisible();
  await page.getByRole('button', { name: 'Test connection' }).click();
  await expect(result).toHaveAttribute('data-class', 'not_found');
  await expect(result).toContainText('Not found');

  // Connect SFTP with this account: the dataflow is created disabled.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Catalog' }).click();
  await page.getByRole('listitem').filter({ has: page.getByRole('heading', { name: 'SFTP', exact: true }) }).getByRole('link', { name: 'Set up' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Connect SFTP');
  await waitForHydration(page);
  await expect(page.getByRole('radio', { name: new RegExp(`Test sshd ${stamp}`) })).toBeChecked();
  await page.getByLabel('Name', { exact: true }).fill(`Nightly SFTP ${stamp}`);
  await page.getByLabel('File format').selectOption('csv');
  await page.getByLabel('Delimiter (\\t for a tab)').fill(';');
  await page.getByRole('checkbox', { name: 'Email targeting' }).check();
  await page.getByRole('button', { name: 'Connect' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Dataflows');
  await expect(page.getByRole('row').filter({ hasText: `Nightly SFTP ${stamp}` })).toContainText('Disabled');
});

test('a viewer sees no Set up action and the server refuses to create an account', async ({ page, consoleErrors }) => {
  const email = `viewer-${Date.now()}@example.com`;
  await createUser(page, email, 'Vic Viewer', 'Viewer');
  await signIn(page, email, password);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Catalog' }).click();
  await expect(page.getByTestId('catalog-count')).toHaveText('13 destinations');
  await expect(page.getByRole('link', { name: 'Set up' })).toHaveCount(0);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Accounts' }).click();
  await expect(page.getByRole('link', { name: 'Add account' })).toHaveCount(0);
  await waitForHydration(page);
  const status = await page.evaluate(async () => {
    const response = await fetch('/api/accounts/create', {
      method: 'POST',
      body: new URLSearchParams({ destination_id: 'sftp', name: 'Sneaky' }),
    });
    return response.status;
  });
  expect(status).toBe(403);
  // The browser logs the refusal as a failed load; it is the point of this test.
  const refusals = consoleErrors.filter((e) => e.includes('status of 403'));
  expect(refusals).toHaveLength(1);
  consoleErrors.splice(0, consoleErrors.length, ...consoleErrors.filter((e) => !refusals.includes(e)));
});
