// The manual queue (人工派遣) on a fresh system: a call without a location waits there, the
// dispatcher chooses a squad and dispatches it from the page, and the case view shows it
// dispatched. Its own engine, so that no earlier case has told the page of any squad.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGridd, withBrowser, signInOnPage, waitOnPage, openCaseBySearch, waitForCaseState } from './harness.mjs';

let gridd;
let hotlineKey;

before(async () => {
  gridd = await startGridd('manual', { users: ['disp'], hotlineKey: true });
  hotlineKey = gridd.hotlineKey;
});

after(async () => {
  if (gridd) await gridd.dispose();
});

test('on a fresh system, a call without a location waits in the manual queue and is dispatched from the page', async () => {
  await withBrowser(gridd, { width: 1366, height: 768 }, async (browser) => {
    const { page } = browser;
    await signInOnPage(page, gridd, 'disp');
    const receipt = await gridd.hotlineCall(hotlineKey, { key: 'manual-1', location: null, address: '新安路菜市场门口', description: '门口堆放垃圾，未说明具体位置' });
    const item = page.locator(`[data-testid="manual-item"][data-ticket-id="${receipt.reference}"]`);
    await item.waitFor({ state: 'visible', timeout: 5000 });
    assert.notEqual((await item.getByTestId('manual-reason').textContent()).trim(), '', 'the queue says why it is there');
    await page.getByTestId('manual-count').filter({ hasText: /\d/ }).waitFor();
    await browser.screenshot('manual-queue');

    // Choose the squad and dispatch.
    const select = item.getByTestId('manual-squad');
    try {
      await select.locator('option[value="sq-1"]').waitFor({ state: 'attached', timeout: 10000 });
    } catch {
      const offered = await select.locator('option').allTextContents();
      assert.fail(`the manual queue's squad choice does not offer squad sq-1 (一中队) of the city's squads; it offers only ${JSON.stringify(offered)}`);
    }
    await select.selectOption('sq-1');
    const dispatch = item.getByTestId('manual-dispatch');
    assert.ok(await dispatch.isEnabled(), 'dispatch is possible once a squad is chosen');
    await dispatch.click();
    await item.waitFor({ state: 'detached', timeout: 10000 });
    const tk = await waitOnPage(page, 'the dispatched case', (ref) => {
      const t = window.__gridd.openTickets().find((x) => x.id === ref);
      return t && t.state === 'TICKET_STATE_DISPATCHED' ? t : null;
    }, receipt.reference);
    assert.equal(tk.squadId, 'sq-1');

    await openCaseBySearch(page, receipt.reference);
    assert.equal(await waitForCaseState(page, 'TICKET_STATE_DISPATCHED'), '已派遣');
    assert.match(await page.getByTestId('case-squad').textContent(), /一中队|sq-1/);
  });
});

