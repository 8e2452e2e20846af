// The dashboard rides out an engine restart: the connection banner shows while the engine is
// away, and once it is back on the same address with the same data the page picks up new cases
// without a reload.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGridd, openBrowser, signInOnPage, waitOnPage, XINAN_POINTS } from './harness.mjs';

let gridd;
let hotlineKey;

before(async () => {
  gridd = await startGridd('restart', { users: ['disp'], hotlineKey: true, fixedPorts: true });
  hotlineKey = gridd.hotlineKey;
});

after(async () => {
  if (gridd) await gridd.dispose();
});

test('the page resumes after the engine restarts: banner while it is away, new cases without a reload once it is back', async (t) => {
  const browser = await openBrowser({ width: 1366, height: 768 });
  try {
    const { page } = browser;
    await signInOnPage(page, gridd, 'disp');
    const before = await gridd.hotlineCall(hotlineKey, { key: 'restart-before', location: XINAN_POINTS[0] });
    await waitOnPage(page, 'the first case', (ref) => window.__gridd.openTickets().some((x) => x.id === ref), before.reference);
    const banner = page.getByTestId('conn-banner');
    assert.ok(await banner.isHidden(), 'no banner while connected');
    // Marks this document: a reload would lose it.
    await page.evaluate(() => { window.__sameDocument = true; });

    // While the engine is away the browser itself logs the refused requests of the reconnecting
    // page (and the cut stream); those are expected, nothing else is.
    const away = new RegExp(`(net::ERR_[A-Z_]+|Failed to load resource).*http://${gridd.httpAddr.replace(/\./g, '\\.')}/v1/`);
    browser.allow(away);
    const addr = gridd.httpAddr;
    const exit = await gridd.stop();
    t.diagnostic(`gridd stopped on SIGTERM: ${JSON.stringify(exit)}`);
    await banner.waitFor({ state: 'visible', timeout: 20000 });
    assert.match(await banner.textContent(), /连接已断开/);
    await browser.screenshot('restart-banner');

    await gridd.start();
    assert.equal(gridd.httpAddr, addr, 'the engine is back on the same address');
    const after = await gridd.hotlineCall(hotlineKey, { key: 'restart-after', location: XINAN_POINTS[3] });
    const shown = await waitOnPage(page, 'the case reported after the restart', (ref) => {
      const tk = window.__gridd.openTickets().find((x) => x.id === ref);
      return tk ? { id: tk.id, state: tk.state, cell: tk.cell && tk.cell.cellCode } : null;
    }, after.reference, 30000);
    t.diagnostic(`case after the restart shown ${Date.now() - after.answeredAt} ms after its intake answer`);
    assert.equal(shown.state, 'TICKET_STATE_DISPATCHED');
    await banner.waitFor({ state: 'hidden', timeout: 15000 });
    assert.equal(await page.evaluate(() => window.__sameDocument === true), true, 'the page was not reloaded');
    assert.ok(await page.evaluate((ref) => window.__gridd.openTickets().some((x) => x.id === ref), before.reference), 'the case from before the restart is still shown');
    assert.ok(await page.getByTestId('dashboard').isVisible(), 'still signed in');
    // The counts catch up too: both cases filed today.
    await page.getByTestId('kpi-filed-today').filter({ hasText: /^\s*2\s*$/ }).waitFor({ timeout: 15000 });
    browser.disallow(away);
    await browser.screenshot('restart-resumed');
    for (const e of browser.tolerated) t.diagnostic(`tolerated while the engine was away: ${e}`);
    await browser.assertNoErrors();
  } catch (err) {
    await browser.screenshot(`failed-restart-${Date.now()}`).catch(() => {});
    err.message += `\n--- gridd log ---\n${gridd.logTail(20)}`;
    throw err;
  } finally {
    await browser.close();
  }
});
