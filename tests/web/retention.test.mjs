// A finished case whose history the engine's retention deleted (retention.finished_cases), as
// the dashboard and the squad's terminal show it: the case says its history went with the
// retention period, not that there is none yet, in Chinese and in English; a case still open
// lists its history.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startGridd, XINAN_POINTS, withBrowser, signInOnPage, signInTerminal, openCaseBySearch, waitForCaseState, waitFor,
} from './harness.mjs';

const DISPATCH = 'gridd.v1.DispatchService';
const DASHBOARD = { width: 1366, height: 768 };
const PHONE = { width: 390, height: 844, mobile: true };

let gridd;
let operator;
let dispatcher;

before(async () => {
  gridd = await startGridd('retention', { users: ['op', 'disp', 'm1'], retention: ['finished_cases = "1s"'] });
  operator = await gridd.signIn('op');
  dispatcher = await gridd.signIn('disp');
});

after(async () => {
  if (gridd) await gridd.dispose();
});

/** A hotline call at XINAN_POINTS[i], once it is a case. */
async function fileCase(i) {
  const receipt = await gridd.hotlineCall(operator, { key: `retention-${i}`, location: XINAN_POINTS[i] });
  return gridd.waitForTicket(operator, receipt.reference);
}

/** The case's history as GetTicket pages it. */
async function history(id) {
  const answer = await gridd.rpc(DISPATCH, 'GetTicket', { id, includeHistory: true }, dispatcher);
  return answer.history || [];
}

/** The text a user sees in a locator, with runs of white space as one space. */
async function seen(locator) {
  return (await locator.textContent()).replace(/\s+/g, ' ').trim();
}

test('a cancelled case past the retention says its history was deleted; an open case lists its own', async () => {
  const finished = await fileCase(0);
  const open = await fileCase(1);
  await gridd.rpc(DISPATCH, 'Cancel', { ticketId: finished.id, reason: 'CANCEL_REASON_INVALID' }, dispatcher);
  // A later change, so the cancellation is not the log's newest record (which always stays).
  await fileCase(2);
  await waitFor(`the history of ${finished.id} deleted`, async () => (await history(finished.id)).length === 0, { timeout: 15000, every: 200 });

  await withBrowser(gridd, DASHBOARD, async (browser) => {
    const { page } = browser;
    await signInOnPage(page, gridd, 'disp');
    await openCaseBySearch(page, finished.id);
    assert.equal(await waitForCaseState(page, 'TICKET_STATE_CANCELLED'), '作废');
    assert.equal(await seen(page.getByTestId('case-no-history')), '本案已办结，处理过程已按保留期限删除');
    assert.equal(await page.getByTestId('timeline-entry').count(), 0);
    await page.getByTestId('case-no-history').scrollIntoViewIfNeeded();
    await browser.screenshot('retention-history-deleted');

    await page.getByTestId('lang-switch').click();
    await page.locator('html[lang="en"]').waitFor({ state: 'attached' });
    await page.getByTestId('case-no-history').filter({ hasText: 'its history was deleted after the retention period' }).waitFor();
    await page.getByTestId('case-no-history').scrollIntoViewIfNeeded();
    await browser.screenshot('retention-history-deleted-en');
    await page.getByTestId('lang-switch').click();
    await page.locator('html[lang="zh-CN"]').waitFor({ state: 'attached' });

    await openCaseBySearch(page, open.id);
    await page.getByTestId('timeline-entry').first().waitFor();
    assert.ok(await page.getByTestId('case-no-history').isHidden(), 'an open case shows its history');
    assert.ok((await history(open.id)).length > 0);
  });

  // The squad's member opens the same case on the terminal (XINAN_POINTS route to sq-1).
  await withBrowser(gridd, PHONE, async (browser) => {
    const { page } = browser;
    await signInTerminal(page, gridd, 'm1');
    await page.evaluate((id) => { location.hash = `#/task/${id}`; }, finished.id);
    await page.locator(`[data-testid="task-head"][data-ticket-id="${finished.id}"]`).waitFor();
    await page.getByTestId('task-no-history').filter({ hasText: '本案已办结，处理过程已按保留期限删除' }).waitFor();
    await page.getByTestId('task-no-history').scrollIntoViewIfNeeded();
    await browser.screenshot('retention-terminal');
  });
});
