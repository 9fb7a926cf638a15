import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Page } from '@playwright/test';
import { test, expect, signIn, waitForHydration } from './fixtures';

const password = 'quiet harbour lanterns';

/** As the administrator: a Local folder account and a connection, through the server functions. */
async function connectLocalFolder(page: Page, name: string): Promise<string> {
  await signIn(page);
  const account = await page.request.post('/api/accounts/create', { form: { destination_id: 'local_folder', name: `Landing ${name}` } });
  expect(account.status()).toBe(200);
  const accountId = (await account.json()).id;
  const flow = await page.request.post('/api/connections/create', {
    form: { destination_id: 'local_folder', account_id: accountId, name, 'marketing_actions[0]': 'email_targeting' },
  });
  expect(flow.status()).toBe(200);
  return (await flow.json()).id;
}

/** As the administrator: a user with the given role (built in or custom). */
async function createUser(page: Page, email: string, role: string) {
  await page.goto('/admin/users/new');
  await waitForHydration(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Name').fill(email.split('@')[0]);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('checkbox', { name: /^Viewer/ }).uncheck();
  await page.getByRole('checkbox', { name: new RegExp(`^${role}`) }).check();
  await page.getByRole('button', { name: 'Create user' }).click();
  await expect(page).toHaveURL('/admin');
}

async function signOut(page: Page) {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL('/login');
}

test('an activator activates a demo segment to a Local folder with a mapping and a daily schedule', async ({ page, browser, consoleErrors }) => {
  const stamp = Date.now();
  const flowName = `Landing files ${stamp}`;
  const flowId = await connectLocalFolder(page, flowName);
  const email = `activator-${stamp}@example.com`;
  await createUser(page, email, 'Activator');
  await signOut(page);

  await signIn(page, email, password);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Browse' }).click();
  const row = page.getByRole('row').filter({ hasText: flowName });
  await expect(row).toContainText('Disabled');
  await row.getByRole('link', { name: 'Edit activation' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(`Activate segments to ${flowName}`);
  await waitForHydration(page);

  // 1. Segments: Next without one is refused at the step.
  await page.getByRole('button', { name: 'Next' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'Select at least one segment.' })).toBeVisible();
  await page.getByLabel('Search segments').fill('gold');
  await page.getByRole('checkbox', { name: 'Activate Gold and platinum members' }).check();
  await page.getByRole('button', { name: 'Next' }).click();

  // 2. Scheduling: daily at 06:30 UTC, a file name with a live preview.
  await expect(page.getByRole('group', { name: 'Gold and platinum members' })).toBeVisible();
  await page.getByLabel('Frequency').selectOption('daily');
  await page.getByLabel('Time (UTC)').fill('06:30');
  await page.getByLabel('File name').fill('gold_{date}_{oops}');
  await page.getByRole('button', { name: 'Next' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'Unknown macro {oops}' })).toBeVisible();
  await page.getByLabel('File name').fill('gold_{segment_name}_{date}');
  await expect(page.getByTestId('file-name-preview')).toContainText(/gold_Gold_and_platinum_members_\d{8}\.csv/);
  await page.getByRole('button', { name: 'Next' }).click();

  // 3. Mapping: an identity and a field.
  await page.getByRole('button', { name: 'Add identity' }).click();
  await page.getByLabel('Identity of row 1').selectOption('Email');
  await page.getByLabel('Target of row 1').fill('email');
  await page.getByRole('button', { name: 'Add field' }).click();
  await page.getByLabel('Field of row 2').fill('person.name.firstName');
  await page.getByLabel('Target of row 2').fill('first_name');
  await expect(page.getByLabel('Mandatory row 1')).toBeChecked();
  await page.getByRole('button', { name: 'Next' }).click();

  // 4. Review: counts and a dry run; the draft survives a reload.
  await expect(page.getByRole('table', { name: 'Segment counts' })).toContainText('Gold and platinum members');
  await expect(page.getByTestId('dry-run')).toContainText('email,first_name');
  await expect(page.getByTestId('dry-run-name')).toContainText('gold_Gold_and_platinum_members_');
  await page.reload();
  await waitForHydration(page);
  await expect(page.getByText('Your unfinished activation was restored.')).toBeVisible();
  await expect(page.getByTestId('dry-run')).toContainText('email,first_name');
  await page.getByRole('button', { name: 'Finish' }).click();

  await expect(page).toHaveURL(`/destinations/dataflows/${flowId}`);
  await expect(page.getByTestId('dataflow-status')).toHaveText('Enabled');
  const activated = page.getByRole('table', { name: 'Activated segments' });
  await expect(activated).toContainText('Gold and platinum members');
  await expect(activated).toContainText('06:30 UTC');
  await expect(activated).toContainText('gold_{segment_name}_{date}');

  // Browse: enabled with one segment; disable and enable again.
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Browse' }).click();
  await waitForHydration(page);
  await expect(row).toContainText('Enabled');
  await row.getByRole('button', { name: 'Disable' }).click();
  await expect(row).toContainText('Disabled');
  await row.getByRole('button', { name: 'Enable' }).click();
  await expect(row).toContainText('Enabled');

  // The Browse page renders and sorts without JavaScript.
  const noScript = await browser.newContext({ javaScriptEnabled: false, storageState: await page.context().storageState() });
  const plain = await noScript.newPage();
  await plain.goto('/destinations/browse?sort=name&dir=desc');
  await expect(plain.getByRole('row').filter({ hasText: flowName })).toContainText('Enabled');
  await expect(plain.getByRole('columnheader', { name: /Name/ })).toHaveAttribute('aria-sort', 'descending');
  await plain.getByRole('columnheader', { name: /Segments/ }).getByRole('link').click();
  await expect(plain.getByRole('columnheader', { name: /Segments/ })).toHaveAttribute('aria-sort', 'ascending');
  await noScript.close();
});

test('a user with activate-without-mapping adds a segment but cannot change the mapping', async ({ page, consoleErrors }) => {
  const stamp = Date.now();
  const flowName = `Scheduled files ${stamp}`;
  const flowId = await connectLocalFolder(page, flowName);
  // The administrator activates a first segment with a mapping.
  const first = await page.request.post('/api/activation/save', {
    form: {
      dataflow_id: flowId,
      'activation[segments][0][segment_id]': await segmentId(page, 'Gold and platinum members'),
      'activation[segments][0][schedule]': 'daily',
      'activation[segments][0][mode]': 'full',
      'activation[segments][0][time]': '07:00',
      'activation[segments][0][start_date]': '2026-12-01',
      'activation[segments][0][file_name]': '{segment_id}_{date}',
      'activation[mapping][0][kind]': 'identity',
      'activation[mapping][0][source]': 'Email',
      'activation[mapping][0][target]': 'email',
    },
  });
  expect(first.status(), await first.text()).toBe(200);
  // A custom role holding activate-without-mapping.
  const role = `Schedulers ${stamp}`;
  await page.goto('/admin/roles/new');
  await waitForHydration(page);
  await page.getByLabel('Name').fill(role);
  await page.getByLabel('Description').fill('Add segments and schedules only');
  for (const p of ['destinations.view', 'destinations.activate_without_mapping', 'segments.view']) {
    await page.getByRole('checkbox', { name: new RegExp(`^${p.replace('.', '\\.')}`) }).check();
  }
  await page.getByRole('button', { name: 'Create role' }).click();
  await expect(page).toHaveURL('/admin');
  const email = `scheduler-${stamp}@example.com`;
  await createUser(page, email, role);
  await signOut(page);

  await signIn(page, email, password);
  await page.goto(`/destinations/dataflows/${flowId}/activate`);
  await waitForHydration(page);
  await page.getByRole('checkbox', { name: 'Activate Gmail users' }).check();
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByRole('group', { name: 'Gmail users' }).getByLabel('Time (UTC)').fill('08:15');
  await page.getByRole('button', { name: 'Next' }).click();
  await expect(page.getByText('You may add segments and change schedules, but not the mapping')).toBeVisible();
  await expect(page.getByLabel('Target of row 1')).toBeDisabled();
  await page.getByRole('button', { name: 'Next' }).click();
  await expect(page.getByTestId('dry-run')).toContainText('email');
  await page.getByRole('button', { name: 'Finish' }).click();
  await expect(page).toHaveURL(`/destinations/dataflows/${flowId}`);
  await expect(page.getByRole('table', { name: 'Activated segments' })).toContainText('Gmail users');

  // Calling the server directly with a changed mapping is refused.
  const status = await page.evaluate(async ([flow, gold]) => {
    const body = new URLSearchParams({
      dataflow_id: flow,
      'activation[segments][0][segment_id]': gold,
      'activation[segments][0][schedule]': 'daily',
      'activation[segments][0][mode]': 'full',
      'activation[segments][0][time]': '07:00',
      'activation[segments][0][start_date]': '2026-12-01',
      'activation[segments][0][file_name]': '{segment_id}_{date}',
      'activation[mapping][0][kind]': 'identity',
      'activation[mapping][0][source]': 'Email',
      'activation[mapping][0][target]': 'email',
      'activation[mapping][1][kind]': 'field',
      'activation[mapping][1][source]': 'loyalty.tier',
      'activation[mapping][1][target]': 'tier',
    });
    return (await fetch('/api/activation/save', { method: 'POST', body })).status;
  }, [flowId, await segmentId(page, 'Gold and platinum members')]);
  expect(status).toBe(403);
  const refusals = consoleErrors.filter((e) => e.includes('status of 403'));
  expect(refusals).toHaveLength(1);
  consoleErrors.splice(0, consoleErrors.length, ...consoleErrors.filter((e) => !refusals.includes(e)));
  await page.reload();
  await expect(page.getByRole('table', { name: 'Mapping' })).not.toContainText('tier');
});

async function segmentId(page: Page, name: string): Promise<string> {
  const response = await page.request.post('/api/segments/list');
  const list = await response.json();
  return list.segments.find((s: { name: string }) => s.name === name).id;
}

/** As the administrator: activate one demo segment to a dataflow with an email mapping. */
async function activateGold(page: Page, flowId: string) {
  const saved = await page.request.post('/api/activation/save', {
    form: {
      dataflow_id: flowId,
      'activation[segments][0][segment_id]': await segmentId(page, 'Gold and platinum members'),
      'activation[segments][0][schedule]': 'daily',
      'activation[segments][0][mode]': 'full',
      'activation[segments][0][time]': '23:59',
      'activation[segments][0][start_date]': '2030-01-01',
      'activation[segments][0][file_name]': 'gold_{segment_id}_{datetime}',
      'activation[mapping][0][kind]': 'identity',
      'activation[mapping][0][source]': 'Email',
      'activation[mapping][0][target]': 'email',
      'activation[mapping][1][kind]': 'field',
      'activation[mapping][1][source]': 'loyalty.tier',
      'activation[mapping][1][target]': 'tier',
    },
  });
  expect(saved.status(), await saved.text()).toBe(200);
}

test('an activator exports files now to a Local folder and an SFTP dataflow and sees the runs succeed', async ({ page, consoleErrors }) => {
  test.skip(!process.env.FERRY_TEST_SFTP_HOST && !process.env.FERRY_REQUIRE_TEST_SERVICES, 'no test sshd (run through .ci/test)');
  const stamp = Date.now();
  const localFlow = await connectLocalFolder(page, `Local export ${stamp}`);
  await activateGold(page, localFlow);
  const account = await page.request.post('/api/accounts/create', {
    form: {
      destination_id: 'sftp',
      name: `sshd ${stamp}`,
      'values[host]': process.env.FERRY_TEST_SFTP_HOST!,
      'values[port]': process.env.FERRY_TEST_SFTP_PORT!,
      'values[username]': process.env.FERRY_TEST_SFTP_USER!,
      'values[private_key]': readFileSync(process.env.FERRY_TEST_SFTP_KEY!, 'utf8'),
      'values[base_folder]': process.env.FERRY_TEST_SFTP_FOLDER!,
    },
  });
  expect(account.status(), await account.text()).toBe(200);
  const sftp = await page.request.post('/api/connections/create', {
    form: { destination_id: 'sftp', account_id: (await account.json()).id, name: `SFTP export ${stamp}`, 'params[folder]': `e2e-${stamp}`, 'marketing_actions[0]': 'email_targeting' },
  });
  expect(sftp.status(), await sftp.text()).toBe(200);
  const sftpFlow = (await sftp.json()).id;
  await activateGold(page, sftpFlow);
  const email = `exporter-${stamp}@example.com`;
  await createUser(page, email, 'Activator');
  await signOut(page);

  await signIn(page, email, password);
  for (const flow of [localFlow, sftpFlow]) {
    await page.goto(`/destinations/dataflows/${flow}`);
    await waitForHydration(page);
    await page.getByRole('button', { name: 'Export Gold and platinum members now' }).click();
    await expect(page.getByText('1 run queued.')).toBeVisible();
    await page.getByRole('link', { name: 'Runs' }).click();
    const run = page.getByRole('table', { name: 'Runs' }).getByRole('row').nth(1);
    await expect(run.getByTestId('run-status')).toHaveText('success', { timeout: 20_000 });
    await run.getByRole('link').click();
    await expect(page.getByTestId('run-status')).toHaveText('success');
    const activated = Number(await page.getByTestId('run-activated').textContent());
    const received = Number(await page.getByTestId('run-received').textContent());
    expect(activated).toBeGreaterThan(0);
    expect(received).toBeGreaterThanOrEqual(activated);
    await expect(page.getByRole('table', { name: 'Files' })).toContainText(/gold_.*\.csv/);
  }
  // The SFTP server holds the file.
  const folder = join(process.env.FERRY_TEST_SFTP_FOLDER!, `e2e-${stamp}`);
  const names = readdirSync(folder);
  expect(names.filter((n) => n.endsWith('.csv'))).toHaveLength(1);
  expect(names.filter((n) => n.endsWith('.part'))).toHaveLength(0);
});
