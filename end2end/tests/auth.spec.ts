import { test, expect, signIn } from './fixtures';

test('an anonymous visitor is sent to the sign-in page', async ({ page, consoleErrors }) => {
  await page.goto('/destinations/catalog');
  await expect(page).toHaveURL('/login');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Sign in to Ferry');
  await expect(page.getByRole('navigation', { name: 'Main' })).toHaveCount(0);
});

test('a wrong password shows the single message', async ({ page, consoleErrors }) => {
  await page.goto('/login');
  await page.getByLabel('Email').fill(process.env.FERRY_E2E_EMAIL!);
  await page.getByLabel('Password').fill('not the right password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText('Invalid email or password.');
  await expect(page).toHaveURL(/\/login\?error=invalid$/);
  // An unknown account gets exactly the same answer.
  await page.getByLabel('Email').fill('nobody@example.com');
  await page.getByLabel('Password').fill('not the right password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText('Invalid email or password.');
  // The right email and password then sign in.
  await page.getByLabel('Email').fill(process.env.FERRY_E2E_EMAIL!);
  await page.getByLabel('Password').fill(process.env.FERRY_E2E_PASSWORD!);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Welcome to Ferry' })).toBeVisible();
});

test('signing in, reloading and signing out', async ({ page, consoleErrors }) => {
  await signIn(page);
  await expect(page.getByText('E2E Admin')).toBeVisible();
  await expect(page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Admin' })).toBeVisible();
  await page.reload();
  await expect(page.getByRole('heading', { level: 1, name: 'Welcome to Ferry' })).toBeVisible();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL('/login');
  await page.goto('/');
  await expect(page).toHaveURL('/login');
});

test('the administrator reads and filters the audit log', async ({ page, consoleErrors }) => {
  await signIn(page);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Audit log');
  const rows = page.getByRole('row');
  await expect(rows.filter({ hasText: 'auth.login' }).filter({ hasText: process.env.FERRY_E2E_EMAIL! }).first()).toBeVisible();
  await page.getByLabel('Action').fill('auth.logout');
  await page.getByLabel('Actor').fill('nobody-at-all');
  await page.getByRole('button', { name: 'Filter' }).click();
  await expect(page).toHaveURL(/action=auth.logout/);
  await expect(page.getByText('No events match these filters.')).toBeVisible();
});
