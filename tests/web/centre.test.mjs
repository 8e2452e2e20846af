// The centre's reclassification, pressing (督办) and the squad's applications (申请) in real
// browsers against the real engine on the test city: a 12345 call dispatched to sq-1 is
// reclassified by the shift leader in the dashboard (C0102, condition missing: 紧急), pressed
// at level 3 (黄牌督办) by a leader, answered by the squad member in the terminal on a phone,
// who then applies for an hour's extension (延期) that a dispatcher approves in the dashboard:
// the handling deadline moves by that hour.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startGridd, withBrowser, signInOnPage, signInTerminal, openCaseBySearch, XINAN_POINTS,
} from './harness.mjs';

const DASHBOARD = { width: 1366, height: 768 };
const PHONE = { width: 390, height: 844, mobile: true };
// What the browser logs for the reclassification the server refuses on purpose.
const REFUSED = /status of 400 \(Bad Request\).*DispatchService\/Reclassify/;

let gridd;
let hotlineKey;

before(async () => {
  gridd = await startGridd('centre', { users: ['disp', 'm1', 'lead', 'boss'], hotlineKey: true });
  hotlineKey = gridd.hotlineKey;
});

after(async () => {
  if (gridd) await gridd.dispose();
});

async function seen(locator) {
  return (await locator.textContent()).replace(/\s+/g, ' ').trim();
}

async function openAction(page, action) {
  await page.getByTestId(`action-${action}`).click();
  await page.locator(`[data-testid="action-form"][data-action="${action}"]`).waitFor();
}

test('reclassify, press, answer, apply for an extension and approve it', async () => {
  const receipt = await gridd.hotlineCall(hotlineKey, {
    key: 'centre-1', location: XINAN_POINTS[1], address: '新安路 12 号', description: '井盖不见了',
  });
  const first = await gridd.waitForTicket(hotlineKey, receipt.reference, (tk) => tk.state === 'TICKET_STATE_DISPATCHED');
  const id = first.id;
  const lead = await gridd.signIn('lead');

  // The shift leader reclassifies the case: a reason is required, an unknown code is refused
  // next to the field, then C0102 with its condition "missing" is filed as urgent.
  await withBrowser(gridd, DASHBOARD, async (browser) => {
    const { page } = browser;
    browser.allow(REFUSED);
    await signInOnPage(page, gridd, 'lead');
    await openCaseBySearch(page, id);
    await openAction(page, 'reclassify');
    await page.getByTestId('form-category').fill('C0102');
    await page.locator('[data-testid="form-condition"] option[value="missing"]').waitFor({ state: 'attached' });
    await page.getByTestId('form-condition').selectOption('missing');
    await page.getByTestId('form-submit').click();
    assert.equal(await seen(page.getByTestId('form-error-reason')), '请填写理由');

    await page.getByTestId('form-category').fill('Z9999');
    await page.getByTestId('form-why').fill('现场是污水井盖缺失');
    await page.getByTestId('form-submit').click();
    await page.getByTestId('form-error-category').waitFor({ state: 'visible' });
    assert.ok((await seen(page.getByTestId('form-error-category'))).length > 0, 'the refusal is said next to the category');

    await page.getByTestId('form-category').fill('C0102');
    await page.locator('[data-testid="form-condition"] option[value="missing"]').waitFor({ state: 'attached' });
    await page.getByTestId('form-condition').selectOption('missing');
    await page.getByTestId('form-submit').click();
    await page.getByTestId('case-ok').waitFor({ state: 'visible' });
    const summary = page.getByTestId('case-summary');
    await summary.filter({ hasText: 'C0102' }).waitFor();
    assert.match(await seen(summary), /紧急/);
    await browser.screenshot('centre-reclassified');
  });
  const reclassified = (await gridd.ticket(lead, id)).ticket;
  assert.equal(reclassified.category, 'C0102');
  assert.equal(reclassified.urgency, 'URGENCY_URGENT');

  // A leader presses it at level 3 with a note.
  await withBrowser(gridd, DASHBOARD, async (browser) => {
    const { page } = browser;
    await signInOnPage(page, gridd, 'boss');
    await openCaseBySearch(page, id);
    await openAction(page, 'press');
    await page.getByTestId('form-level').selectOption('3');
    await page.getByTestId('form-submit').click();
    assert.equal(await seen(page.getByTestId('form-error-note')), '请填写督办要求');
    await page.getByTestId('form-note').fill('今天下班前必须补上井盖');
    await page.getByTestId('form-submit').click();
    const press = page.getByTestId('case-press');
    await press.waitFor();
    assert.equal(await seen(press.getByTestId('case-press-label')), '黄牌督办');
    assert.equal(await seen(press.getByTestId('case-press-note')), '今天下班前必须补上井盖');
    assert.equal(await seen(press.getByTestId('case-press-reply')), '中队尚未回复');
  });

  // The squad member sees the pressing on the phone, answers it and applies for 1 h more.
  await withBrowser(gridd, PHONE, async (browser) => {
    const { page } = browser;
    await signInTerminal(page, gridd, 'm1');
    await page.locator(`[data-testid="task-item"][data-ticket-id="${id}"]`).click();
    await page.locator(`[data-testid="task-head"][data-ticket-id="${id}"]`).waitFor();
    assert.equal(await seen(page.getByTestId('task-press-label')), '黄牌督办');
    assert.equal(await seen(page.getByTestId('task-press-note')), '今天下班前必须补上井盖');
    await page.getByTestId('press-answer-submit').click();
    assert.equal(await seen(page.getByTestId('press-answer-error')), '请填写回复');
    await page.getByTestId('press-answer').fill('已调配新井盖，两小时内装好');
    await page.getByTestId('press-answer-submit').click();
    await page.getByTestId('task-press-reply').filter({ hasText: '已调配新井盖' }).waitFor();

    await page.getByTestId('apply-kind-extension').check();
    await page.getByTestId('apply-amount').fill('1');
    await page.getByTestId('apply-unit').selectOption('h');
    await page.getByTestId('apply-reason').fill('新井盖要从仓库调运');
    await page.getByTestId('apply-submit').click();
    const waiting = page.locator('[data-testid="task-application"][data-kind="APPLICATION_KIND_EXTENSION"]');
    await waiting.waitFor();
    assert.match(await seen(waiting), /延期 1h/);
    await browser.screenshot('centre-terminal-applied');
  });

  // A dispatcher sees the answer and the application, and approves it: the deadline moves.
  const disp = await gridd.signIn('disp');
  const before = (await gridd.ticket(disp, id)).ticket;
  assert.equal(before.application.kind, 'APPLICATION_KIND_EXTENSION');
  await withBrowser(gridd, DASHBOARD, async (browser) => {
    const { page } = browser;
    await signInOnPage(page, gridd, 'disp');
    await openCaseBySearch(page, id);
    assert.match(await seen(page.getByTestId('case-press-reply')), /已调配新井盖，两小时内装好/);
    assert.equal(await seen(page.getByTestId('case-application-kind')), '延期申请');
    assert.equal(await seen(page.getByTestId('case-application-extension')), '1h');
    assert.equal(await seen(page.getByTestId('case-application-reason')), '新井盖要从仓库调运');
    await openAction(page, 'decide');
    assert.equal(await page.getByTestId('form-dispatcher-error').count(), 0, 'no 派遣错误 for an extension');
    await page.getByTestId('form-approve').selectOption('true');
    await page.getByTestId('form-why').fill('同意延期一小时');
    await page.getByTestId('form-submit').click();
    await page.getByTestId('case-ok').waitFor({ state: 'visible' });
    await page.getByTestId('case-application').waitFor({ state: 'detached' });
    await browser.screenshot('centre-decided');
  });
  const after = (await gridd.ticket(disp, id)).ticket;
  assert.ok(!after.application, 'no application waits any more');
  assert.equal(Date.parse(after.handlingDeadline) - Date.parse(before.handlingDeadline), 3600 * 1000,
    `the handling deadline moved by an hour (${before.handlingDeadline} → ${after.handlingDeadline})`);
});
