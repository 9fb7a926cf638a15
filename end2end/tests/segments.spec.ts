import { test, expect, signIn, waitForHydration } from './fixtures';

// Import profiles through the upload page, then build a segment over them: the rule is checked
// as it is typed, the segment is evaluated, and a sample of its members is shown.
test('import profiles, define a segment, evaluate it and see its members', async ({ page, consoleErrors }) => {
  const stamp = `e2e${Date.now()}`;
  const csv = [
    'identity.CRMID,identity.Email,person.name.firstName,loyalty.tier,loyalty.points',
    `${stamp}-1,ada.${stamp}@example.com,Ada,gold,900`,
    `${stamp}-2,bob.${stamp}@example.com,Bob,silver,100`,
    `${stamp}-3,cy.${stamp}@example.com,Cy,platinum,5000`,
    `${stamp}-4,dee.${stamp}@example.com,Dee,gold,lots`,
  ].join('\n');

  await signIn(page);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Import profiles' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Import profiles');
  await waitForHydration(page);
  await page.getByLabel('File', { exact: true }).setInputFiles({ name: 'people.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await page.getByRole('button', { name: 'Import' }).click();
  const report = page.getByTestId('import-report');
  await expect(report).toContainText('Rows read4');
  await expect(report).toContainText('New profiles3');
  await expect(page.getByRole('table', { name: 'Rejected rows' })).toContainText('loyalty.points: expected a whole number');

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Segments' }).click();
  await page.getByRole('link', { name: 'New segment' }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('New segment');
  await waitForHydration(page);
  await page.getByLabel('Name', { exact: true }).fill(`Top tiers ${stamp}`);
  const rule = page.getByLabel('Rule', { exact: true });
  await rule.fill(`identity.CRMID starts_with "${stamp}" and loyalty.tier in [gold]`);
  const feedback = page.getByTestId('rule-feedback');
  await expect(feedback).toContainText("column 68: expected a value, found 'gold' (put text in double quotes)");
  await rule.fill(`identity.CRMID starts_with "${stamp}" and loyalty.tier in ["gold", "platinum"]`);
  await expect(feedback).toHaveText('Valid rule: about 2 profiles match now.');
  await page.getByLabel('Evaluate', { exact: true }).selectOption('manual');
  await page.getByRole('button', { name: 'Create segment' }).click();

  await expect(page.getByRole('heading', { level: 1 })).toHaveText(`Top tiers ${stamp}`);
  await expect(page.getByTestId('segment-size')).toHaveText('not evaluated');
  await waitForHydration(page);
  await page.getByRole('button', { name: 'Evaluate now' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Evaluated' })).toContainText('Evaluated: 2 profiles (2 entered, 0 exited)');
  await expect(page.getByTestId('segment-size')).toHaveText('2 profiles');
  const members = page.getByRole('table', { name: 'Members' });
  await expect(members).toContainText(`ada.${stamp}@example.com`);
  await expect(members).toContainText(`cy.${stamp}@example.com`);
  await expect(members).not.toContainText(`bob.${stamp}@example.com`);

  // The list shows it with its size.
  await page.getByRole('link', { name: '← Segments' }).click();
  await expect(page.getByRole('row').filter({ hasText: `Top tiers ${stamp}` })).toContainText('2 profiles');
});
