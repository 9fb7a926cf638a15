// Streaming: an activator activates a segment to the HTTP API destination pointed at a local
// receiver (a real HTTP server started by this test), runs it, sees the counts, and replays the
// record the receiver refused.
import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { Page } from '@playwright/test';
import { test, expect, signIn, waitForHydration } from './fixtures';

const password = 'quiet harbour lanterns';

type Received = { path: string; authorization: string; body: any };

/** Records every request; the first is answered 400 naming record 0 as refused. */
async function startReceiver(): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((request: IncomingMessage, response) => {
    let text = '';
    request.on('data', (chunk) => (text += chunk));
    request.on('end', () => {
      if (request.method === 'GET') {
        response.writeHead(200).end('{}');
        return;
      }
      received.push({ path: request.url ?? '', authorization: String(request.headers.authorization ?? ''), body: JSON.parse(text) });
      if (received.length === 1) {
        response.writeHead(400, { 'Content-Type': 'application/json' });
        response.end(JSON.stringify({ errors: [{ index: 0, message: 'mailbox unknown' }] }));
      } else {
        response.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/ferry`, received, server };
}

async function createActivator(page: Page, email: string) {
  await page.goto('/admin/users/new');
  await waitForHydration(page);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Name').fill(email.split('@')[0]);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('checkbox', { name: /^Viewer/ }).uncheck();
  await page.getByRole('checkbox', { name: /^Activator/ }).check();
  await page.getByRole('button', { name: 'Create user' }).click();
  await expect(page).toHaveURL('/admin');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL('/login');
}

test('an activator streams a segment to the HTTP API, sees the counts and replays a refused record', async ({ page, consoleErrors }) => {
  test.setTimeout(120_000);
  const receiver = await startReceiver();
  try {
    const stamp = Date.now();
    await signIn(page);
    const account = await page.request.post('/api/accounts/create', {
      form: { destination_id: 'http_api', name: `Receiver ${stamp}`, 'values[endpoint]': receiver.url, 'values[token]': `Bearer secret-${stamp}` },
    });
    expect(account.status(), await account.text()).toBe(200);
    const flowName = `Streaming ${stamp}`;
    const flow = await page.request.post('/api/connections/create', {
      form: { destination_id: 'http_api', account_id: (await account.json()).id, name: flowName, 'marketing_actions[0]': 'export_to_third_party' },
    });
    expect(flow.status(), await flow.text()).toBe(200);
    const flowId = (await flow.json()).id;
    const email = `streamer-${stamp}@example.com`;
    await createActivator(page, email);

    await signIn(page, email, password);
    await page.goto(`/destinations/dataflows/${flowId}`);
    await waitForHydration(page);
    await page.getByRole('link', { name: 'Activate segments' }).click();
    await waitForHydration(page);
    await page.getByLabel('Search segments').fill('gold');
    await page.getByRole('checkbox', { name: 'Activate Gold and platinum members' }).check();
    await page.getByRole('button', { name: 'Next' }).click();
    await expect(page.getByText('Streaming destinations receive membership changes as they happen')).toBeVisible();
    await expect(page.getByLabel('Start date')).toBeVisible();
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('button', { name: 'Add identity' }).click();
    await page.getByLabel('Identity of row 1').selectOption('Email');
    await page.getByLabel('Target of row 1').fill('email');
    await page.getByRole('button', { name: 'Add field' }).click();
    await page.getByLabel('Field of row 2').fill('loyalty.tier');
    await page.getByLabel('Target of row 2').fill('tier');
    await page.getByRole('button', { name: 'Next' }).click();
    await expect(page.getByRole('table', { name: 'Segment counts' })).toContainText('Gold and platinum members');
    await page.getByRole('button', { name: 'Finish' }).click();
    await expect(page).toHaveURL(`/destinations/dataflows/${flowId}`);
    await expect(page.getByTestId('dataflow-status')).toHaveText('Enabled');

    await page.getByRole('button', { name: 'Run now' }).click();
    await expect(page.getByText('1 run queued.')).toBeVisible();
    await page.getByRole('link', { name: 'Runs' }).click();
    const run = page.getByRole('table', { name: 'Runs', exact: true }).getByRole('row').nth(1);
    await expect(run.getByTestId('run-status')).toHaveText('partial', { timeout: 30_000 });
    await run.getByRole('link').click();
    await waitForHydration(page);
    await expect(page.getByTestId('run-status')).toHaveText('partial');
    const received = Number(await page.getByTestId('run-received').textContent());
    const activated = Number(await page.getByTestId('run-activated').textContent());
    expect(received).toBeGreaterThan(1);
    expect(activated).toBeGreaterThan(0);

    // What the receiver got: the mapped columns, the account's header, no other record refused.
    const sent = receiver.received.flatMap((r) => r.body.profiles);
    expect(sent.length).toBe(activated + 1);
    expect(Object.keys(sent[0]).sort()).toEqual(['email', 'segment_membership_status', 'tier']);
    expect(sent[0].segment_membership_status).toBe('realized');
    expect(receiver.received[0].authorization).toBe(`Bearer secret-${stamp}`);

    const refused = page.getByTestId('failed-record');
    await expect(refused).toHaveCount(1);
    await expect(refused).toContainText('mailbox unknown');
    await expect(refused).toContainText('400');
    await refused.getByText('Show').click();
    await expect(refused.locator('pre').first()).toContainText('[redacted]');
    await expect(refused.locator('pre').first()).not.toContainText(`secret-${stamp}`);

    const before = receiver.received.length;
    await page.getByTestId('replay').click();
    await page.getByRole('link', { name: 'follow its run' }).click();
    await expect(page.getByTestId('run-status')).toHaveText('success', { timeout: 30_000 });
    await expect(page.getByTestId('run-activated')).toHaveText('1');
    expect(receiver.received.length).toBe(before + 1);
    expect(receiver.received[before].body.profiles).toEqual([receiver.received[0].body.profiles[0]]);

    // The Runs tab, loaded afresh, adds the runs up per hour.
    await page.goto(`/destinations/dataflows/${flowId}?tab=runs`);
    await waitForHydration(page);
    await expect(page.getByRole('table', { name: 'Streaming runs per hour' })).toBeVisible();
    const perHour = await page.getByTestId('hour-activated').allTextContents();
    expect(perHour.map(Number).reduce((a, b) => a + b, 0)).toBe(activated + 1);
  } finally {
    receiver.server.close();
  }
});
