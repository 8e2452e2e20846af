// The monthly 考核 in the dashboard, in a real browser against the real engine on the test city:
// a 12345 call dispatched to sq-1 is handled by the squad and closed by the shift leader's check
// over HTTP; the shift leader then opens 考核: the current month ranks 一中队 first with a
// closure rate of 100 % and the city has the case filed, and the routing rules (派遣员
// @router) dispatched it accurately; the month before is empty and, being over, is frozen from
// the page; the figures export downloads; freezing the current month is refused with the
// server's words. A leader reads the same view, without the freeze button.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startGridd, withBrowser, signInOnPage, XINAN_POINTS } from './harness.mjs';

const DASHBOARD = { width: 1366, height: 768 };
const DISPATCH = 'gridd.v1.DispatchService';
const SQUAD = 'gridd.v1.SquadService';
// What the browser logs for the freeze of the current month the server refuses on purpose.
const REFUSED = /status of 409 \(Conflict\).*DispatchService\/FreezeAssessment/;

/** The city's month (YYYY-MM; the test city keeps Beijing time, UTC+8) at `ms`, and the one before. */
function cityMonth(ms) {
  const d = new Date(ms + 8 * 3600 * 1000);
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}
function monthBefore(period) {
  const [y, m] = period.split('-').map(Number);
  return m === 1 ? `${y - 1}-12` : `${y}-${String(m - 1).padStart(2, '0')}`;
}

let gridd;
let hotlineKey;
let current;
let previous;

before(async () => {
  gridd = await startGridd('assessment', { users: ['lead', 'boss', 'm1'], hotlineKey: true });
  hotlineKey = gridd.hotlineKey;
});

after(async () => {
  if (gridd) await gridd.dispose();
});

async function seen(locator) {
  return (await locator.textContent()).replace(/\s+/g, ' ').trim();
}

/** Opens 考核 from the KPI panel and waits until the month's report (or its empty state) shows. */
async function openAssessment(page) {
  await page.getByTestId('assess-open').click();
  await page.getByTestId('assess-view').waitFor({ state: 'visible' });
  await waitForStatus(page, ['true', 'false']);
}

/** Waits until the status badge says frozen ('true') or live ('false'), as `wanted` lists. */
async function waitForStatus(page, wanted) {
  const selector = wanted.map((v) => `[data-testid="assess-status"][data-frozen="${v}"]`).join(', ');
  await page.locator(selector).waitFor();
  return page.getByTestId('assess-status').getAttribute('data-frozen');
}

test('a closed case counts in the month\'s 考核; the shift leader freezes the month before, exports the figures, and cannot freeze this month', async () => {
  // The case: filed from a 12345 call, dispatched to sq-1, handled by the squad, checked and
  // closed by the shift leader, all over HTTP.
  const receipt = await gridd.hotlineCall(hotlineKey, { key: 'assess-1', location: XINAN_POINTS[0], description: '路边堆放垃圾' });
  const ticket = await gridd.waitForTicket(hotlineKey, receipt.reference, (tk) => tk.state === 'TICKET_STATE_DISPATCHED');
  assert.equal(ticket.squadId, 'sq-1');
  const member = await gridd.signIn('m1');
  const task = { squadId: 'sq-1', ticketId: ticket.id };
  await gridd.rpc(SQUAD, 'AcceptTask', task, member);
  await gridd.rpc(SQUAD, 'StartTask', task, member);
  await gridd.rpc(SQUAD, 'ResolveTask', { task, note: '垃圾已清运' }, member);
  const lead = await gridd.signIn('lead');
  const closed = await gridd.rpc(DISPATCH, 'Verify', { ticketId: ticket.id, passed: true }, lead);
  assert.equal(closed.state, 'TICKET_STATE_CLOSED');
  current = cityMonth(Date.now());
  previous = monthBefore(current);

  await withBrowser(gridd, DASHBOARD, async (browser) => {
    const { page } = browser;
    browser.allow(REFUSED);
    await signInOnPage(page, gridd, 'lead');
    const opener = page.getByTestId('assess-open');
    assert.equal(await seen(opener), '考核');
    await openAssessment(page);

    // The current month by default, live, with 一中队 ranked first at 100 % closed.
    assert.equal(await page.getByTestId('assess-month').inputValue(), current);
    assert.equal(await waitForStatus(page, ['false']), 'false');
    assert.equal(await seen(page.getByTestId('assess-status-label')), '实时');
    assert.equal(await page.getByTestId('assess-kind-squad').getAttribute('aria-pressed'), 'true');
    const squad = page.locator('[data-testid="assess-row"][data-unit="squad:sq-1"]');
    await squad.waitFor();
    assert.match(await seen(squad.getByTestId('assess-unit')), /一中队/);
    assert.equal(await squad.getAttribute('data-rank'), '1');
    assert.equal(await seen(squad.getByTestId('assess-rank')), '1');
    const closure = squad.locator('[data-col="closure"]');
    assert.equal(await closure.getAttribute('data-value'), '1');
    assert.equal(await seen(closure), '100.0%');
    assert.equal(await squad.locator('[data-col="closed"]').getAttribute('data-value'), '1');
    assert.equal(await squad.locator('[data-col="should_close"]').getAttribute('data-value'), '1');
    // The first row is the best; the headers name the main rates and the 督办 ladder.
    assert.equal(await page.getByTestId('assess-row').first().getAttribute('data-unit'), 'squad:sq-1');
    const headers = await seen(page.getByTestId('assess-table').locator('thead'));
    for (const word of ['排名', '中队', '综合得分', '结案率', '按期结案率', '超期结案率', '按期处置率', '及时签收率', '返工率', '应结案', '结案', '超期未结案', '督办', '催办', '红牌督办']) {
      assert.ok(headers.includes(word), `the table's head names ${word}: ${headers}`);
    }
    // The city's summary: the case is filed.
    const filed = Number(await page.getByTestId('assess-city-filed').getAttribute('data-value'));
    assert.ok(filed >= 1, `the city has filed ${filed} case(s)`);
    assert.match(await seen(page.getByTestId('assess-city')), /立案/);
    // Every figure of the squad in its detail row, opened from the keyboard.
    await squad.getByTestId('assess-unit').focus();
    await page.keyboard.press('Enter');
    const detail = page.getByTestId('assess-detail').filter({ has: page.locator('[data-figure="closed_on_time"]') });
    await detail.waitFor({ state: 'visible' });
    assert.match(await seen(detail), /按期结案数/);
    assert.equal(await squad.getByTestId('assess-unit').getAttribute('aria-expanded'), 'true');
    await browser.screenshot('assessment');

    // Streets rank the same case; supervisors have nothing this month.
    await page.getByTestId('assess-kind-street').click();
    const street = page.locator('[data-testid="assess-row"][data-kind="street"]');
    await street.first().waitFor();
    assert.match(await seen(street.first()), /新安街道/);
    assert.ok(Number(await street.first().locator('[data-col="filed"]').getAttribute('data-value')) >= 1, 'the street has the case filed');
    await page.getByTestId('assess-kind-supervisor').click();
    await page.getByTestId('assess-kind-empty').waitFor();
    // Dispatchers: the routing rules dispatched the case (@router), accurately.
    await page.getByTestId('assess-kind-dispatcher').click();
    assert.equal(await page.getByTestId('assess-kind-dispatcher').getAttribute('aria-pressed'), 'true');
    const router = page.locator('[data-testid="assess-row"][data-unit="dispatcher:@router"]');
    await router.waitFor();
    assert.equal(await seen(router.getByTestId('assess-unit')), '▸ 自动派遣（派遣规则）');
    assert.equal(await router.locator('[data-col="dispatched"]').getAttribute('data-value'), '1');
    assert.equal(await router.locator('[data-col="dispatch_errors"]').getAttribute('data-value'), '0');
    assert.equal(await router.locator('[data-col="accurate_dispatch"]').getAttribute('data-value'), '1');
    assert.equal(await seen(router.locator('[data-col="accurate_dispatch"]')), '100.0%');
    const dispatchHeads = await seen(page.getByTestId('assess-table').locator('thead'));
    for (const word of ['派遣员', '准确派遣率', '按期派遣率', '派遣', '派遣错误', '应派遣', '按期派遣']) {
      assert.ok(dispatchHeads.includes(word), `the dispatchers' table names ${word}: ${dispatchHeads}`);
    }
    assert.doesNotMatch(dispatchHeads, /催办/, 'no 督办 columns for dispatchers');
    await browser.screenshot('assessment-dispatchers');
    await page.getByTestId('assess-kind-squad').click();
    await squad.waitFor();

    // "[" goes to the month before: nothing was booked in it.
    await page.getByTestId('assess-kind-squad').focus();
    await page.keyboard.press('[');
    await page.waitForFunction((v) => document.getElementById('assess-month').value === v, previous);
    assert.equal(await page.getByTestId('assess-month').inputValue(), previous);
    const empty = page.getByTestId('assess-body').getByTestId('state-empty');
    await empty.waitFor();
    assert.match(await seen(empty), /暂无考核数据/);
    assert.equal(await waitForStatus(page, ['false']), 'false');

    // It is over: the shift leader freezes it, after confirming.
    const freeze = page.getByTestId('assess-freeze');
    await freeze.waitFor({ state: 'visible' });
    assert.match(await seen(freeze), /^冻结.*考核$/);
    await freeze.click();
    const confirm = page.getByTestId('assess-confirm');
    await confirm.waitFor({ state: 'visible' });
    assert.match(await seen(page.getByTestId('assess-confirm-text')), /不能撤销/);
    // Escape cancels the confirmation (and nothing is frozen); then it is confirmed.
    await page.keyboard.press('Escape');
    await confirm.waitFor({ state: 'hidden' });
    assert.ok(await page.getByTestId('assess-view').isVisible(), 'Escape closed only the confirmation');
    await freeze.click();
    await page.getByTestId('assess-confirm-yes').click();
    assert.equal(await waitForStatus(page, ['true']), 'true');
    assert.equal(await seen(page.getByTestId('assess-status-label')), '已冻结');
    assert.match(await seen(page.getByTestId('assess-frozen-detail')), /lead/);
    assert.match(await seen(page.getByTestId('assess-msg')), /已冻结/);
    assert.ok(await freeze.isHidden(), 'a frozen month offers no freeze');
    await empty.waitFor();
    await browser.screenshot('assessment-frozen');
    const stored = await gridd.rpc(DISPATCH, 'GetAssessment', { period: previous }, lead);
    assert.equal(stored.frozen, true, 'the server has the month frozen');
    assert.equal(stored.frozenBy, 'lead');

    // "]" back to this month; its figures download as CSV with the token.
    await page.keyboard.press(']');
    await squad.waitFor();
    assert.equal(await page.getByTestId('assess-month').inputValue(), current);
    const [response, download] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith(`/v1/assessment/${current}/figures.csv`)),
      page.waitForEvent('download'),
      page.getByTestId('assess-export-figures').click(),
    ]);
    assert.equal(response.status(), 200);
    assert.match(response.request().headers().authorization || '', /^Bearer /, 'fetched with the token');
    assert.equal(download.suggestedFilename(), `gridd-assessment-${current}-figures.csv`);
    // What the page fetched and saved: the server's CSV, as the server gives it to anyone else.
    const csv = fs.readFileSync(await download.path(), 'utf8').replace(/^\uFEFF/, '');
    assert.match(csv.split('\n')[0], /^period,unit,kind,name,/, 'a header row');
    assert.match(csv, new RegExp(`^${current},squad:sq-1,squad,一中队,`, 'm'), 'a row of the squad');
    const direct = await fetch(`${gridd.base}/v1/assessment/${current}/figures.csv`, { headers: { Authorization: `Bearer ${lead}` } });
    assert.equal((await direct.text()).replace(/^\uFEFF/, ''), csv, 'the saved file is what the server sends');

    // This month is not over: the freeze is refused, in the server's words.
    await freeze.click();
    await page.getByTestId('assess-confirm-yes').click();
    const msg = page.getByTestId('assess-msg');
    await msg.filter({ hasText: 'not over yet' }).waitFor();
    assert.match(await seen(msg), /该月尚未结束/);
    assert.match(await seen(msg.getByTestId('error-detail')), new RegExp(`${current} is not over yet`));
    assert.equal(await page.getByTestId('assess-status').getAttribute('data-frozen'), 'false');
    assert.ok(await freeze.isVisible(), 'still offered');
    await browser.screenshot('assessment-refused');

    // Escape goes back to the dashboard, the focus on the button that opened the view.
    await page.keyboard.press('Escape');
    await page.getByTestId('assess-view').waitFor({ state: 'hidden' });
    assert.equal(await page.evaluate(() => document.activeElement && document.activeElement.dataset.testid), 'assess-open');
  });
});

test('a leader reads the 考核 (in Chinese and in English) and is offered no freeze', async () => {
  assert.ok(current, 'runs after the first test');
  await withBrowser(gridd, DASHBOARD, async (browser) => {
    const { page } = browser;
    await signInOnPage(page, gridd, 'boss');
    await openAssessment(page);
    const squad = page.locator('[data-testid="assess-row"][data-unit="squad:sq-1"]');
    await squad.waitFor();
    assert.equal(await squad.getAttribute('data-rank'), '1');
    assert.equal(await squad.locator('[data-col="closure"]').getAttribute('data-value'), '1');
    assert.ok(await page.getByTestId('assess-freeze').isHidden(), 'no freeze button for a leader');
    assert.ok(await page.getByTestId('assess-export-figures').isVisible(), 'the exports are offered');

    // The month before shows frozen, by whom.
    await page.getByTestId('assess-prev').click();
    assert.equal(await waitForStatus(page, ['true']), 'true');
    assert.match(await seen(page.getByTestId('assess-frozen-detail')), /lead/);
    assert.ok(await page.getByTestId('assess-freeze').isHidden());

    // In English.
    await page.getByTestId('lang-switch').click();
    await page.locator('html[lang="en"]').waitFor({ state: 'attached' });
    assert.equal(await seen(page.getByTestId('assess-status-label')), 'Frozen');
    assert.equal(await seen(page.getByTestId('assess-kind-squad')), 'Squads');
    assert.match(await seen(page.getByTestId('assess-body').getByTestId('state-empty')), /No assessment figures/);
    await page.getByTestId('assess-next').click();
    await squad.waitFor();
    assert.equal(await seen(page.getByTestId('assess-status-label')), 'Live');
    const headers = await seen(page.getByTestId('assess-table').locator('thead'));
    assert.match(headers, /Closure rate/);
    assert.match(await seen(page.getByTestId('assess-title')), /Assessment/);
    await browser.screenshot('assessment-english');
    await page.getByTestId('lang-switch').click();
    await page.locator('html[lang="zh-CN"]').waitFor({ state: 'attached' });
    assert.equal(await seen(page.getByTestId('assess-status-label')), '实时');
  });
});
