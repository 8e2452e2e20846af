// The closed loop's two new steps in real browsers, against the real engine on the city that
// verifies public reports before filing them (tests/fixtures/city-verify): a hotline call waits
// as 待核实 until the grid supervisor of 新安街道 verifies it in the dashboard's case view —
// not filed (不予立案) with the reason, or confirmed and routed to its squad; once the case ends,
// the hotline console lists each caller who is owed a reply (回访) with their whole number, and
// the operator records the calls with the keyboard: not reached, then reached with the caller's
// satisfaction. A dissatisfied caller sends the case back to its squad as rework (返工), which
// the dashboard shows with the reply, and the KPI tiles count the replies and verifications.
//
// The tests run in order and build on each other: the refused report and the confirmed one are
// both waiting for their replies when the console is opened.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startGridd, VERIFY_CITY, XINAN_POINTS, withBrowser, signInOnPage, signInConsole, openCaseBySearch, waitForCaseState, waitFor,
} from './harness.mjs';

const DISPATCH = 'gridd.v1.DispatchService';
const SQUAD = 'gridd.v1.SquadService';
const DASHBOARD = { width: 1366, height: 768 };
const CONSOLE = { width: 1440, height: 900 };
// What the browser logs for a request the server refuses on purpose.
const REFUSED_VERIFY = /status of 400 \(Bad Request\) \(http:\/\/[^ ]+\/v1\/rpc\/gridd\.v1\.DispatchService\/VerifyReport:/;

let gridd;
let operator;
const calls = {}; // name -> { reference, phone, name }

before(async () => {
  gridd = await startGridd('loop', { users: ['op', 'sup.xinan', 'disp', 'm1'], city: VERIFY_CITY });
  operator = await gridd.signIn('op');
});

after(async () => {
  if (gridd) await gridd.dispose();
});

/** A 12345 call logged by the operator over HTTP, as the console would: the case waiting for verification. */
async function logCall(name, { key, caller, point, description, address }) {
  const receipt = await gridd.rpc('gridd.v1.IntakeService', 'LogHotlineCall', {
    idempotencyKey: key,
    hotline: 'HOTLINE_12345',
    externalTicketId: `12345-${key}`,
    caller: { replyRequired: true, ...caller },
    category: 'E0102',
    location: point,
    address,
    description,
  }, operator);
  const ticket = await gridd.waitForTicket(operator, receipt.reference);
  calls[name] = { reference: receipt.reference, id: ticket.id, ...caller };
  return ticket;
}

/** The text a user sees in a locator, with runs of white space as one space. */
async function seen(locator) {
  return (await locator.textContent()).replace(/\s+/g, ' ').trim();
}

test('a call waiting as 待核实 is refused at verification with a reason and a note: the case shows 不予立案 and why', async () => {
  const ticket = await logCall('refused', {
    key: 'loop-refused',
    caller: { name: '李四', phone: '13900001111', confidential: true },
    point: XINAN_POINTS[2],
    address: '新安路 66 号',
    description: '人行道上有一堆垃圾',
  });
  assert.equal(ticket.state, 'TICKET_STATE_VERIFYING', 'a hotline call in 新安街道 waits for verification');
  assert.equal(ticket.verifier, 'sup.xinan');

  await withBrowser(gridd, DASHBOARD, async (browser) => {
    const { page } = browser;
    await signInOnPage(page, gridd, 'sup.xinan');
    // A supervisor may not read the KPIs nor watch the ticket stream: the page says so and lists
    // the cases again now and then.
    assert.equal(await seen(page.getByTestId('user-role')), '监督员');
    assert.match(await seen(page.getByTestId('kpi-no-permission')), /无权查看综合评价/);
    assert.match(await seen(page.getByTestId('live-status')), /定时刷新/);
    assert.ok(await page.getByTestId('conn-banner').isHidden(), 'no "connection lost" strip for a role without the stream');

    // The report waits in the 待核实 list, naming its verifier.
    const item = page.locator(`[data-testid="verify-item"][data-ticket-id="${ticket.id}"]`);
    await item.waitFor();
    assert.equal(await seen(item.getByTestId('verify-state')), '待核实');
    assert.equal(await seen(item.getByTestId('verify-verifier')), '核实人 sup.xinan');
    await item.locator('button').click();
    await page.getByTestId('case-field-id').filter({ hasText: ticket.id }).waitFor();
    assert.equal(await waitForCaseState(page, 'TICKET_STATE_VERIFYING'), '待核实');
    assert.equal(await seen(page.getByTestId('case-verifier')), 'sup.xinan（待现场核实）');
    assert.match(await seen(page.getByTestId('case-deadlines')), /当前阶段\s*核实/);
    assert.match(await seen(page.getByTestId('case-report')), /来电人保密/, 'a confidential caller is not named');
    assert.ok(!(await seen(page.getByTestId('case-view'))).includes('李四'), 'nor is the name shown anywhere in the case');

    // 不予立案: the reason and the note are both required, each said next to its field.
    assert.equal(await seen(page.getByTestId('action-verify_refuse')), '不予立案');
    await page.getByTestId('action-verify_refuse').click();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'form-outcome', 'the reason has the focus');
    await page.getByTestId('form-submit').click();
    assert.equal(await seen(page.getByTestId('form-error-reason')), '请选择原因');
    await page.getByTestId('form-outcome').selectOption('VERIFY_OUTCOME_ALREADY_FIXED');
    await page.getByTestId('form-error-reason').waitFor({ state: 'hidden' });
    await page.getByTestId('form-submit').click();
    assert.match(await seen(page.getByTestId('form-error-note')), /请填写核实情况/);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'form-note', 'the note has the focus');
    await page.getByTestId('form-note').fill('到场时垃圾已被环卫清运');
    await page.getByTestId('form-note').press('Enter');

    assert.equal(await waitForCaseState(page, 'TICKET_STATE_NOT_FILED'), '不予立案');
    assert.equal(await seen(page.getByTestId('case-not-filed-reason')), '现场已解决');
    assert.equal(await seen(page.getByTestId('case-verifier')), 'sup.xinan');
    await page.getByTestId('case-ok').waitFor({ state: 'visible' });
    const entry = page.locator('[data-testid="timeline-entry"][data-kind="not_filed"]');
    await entry.waitFor();
    assert.match(await seen(entry), /不予立案/);
    // Its caller is owed the reply now, shown without a phone number.
    const reply = page.locator(`[data-testid="case-reply"][data-reference="${calls.refused.reference}"]`);
    await reply.waitFor();
    assert.match(await seen(reply.getByTestId('case-reply-satisfaction')), /待回访|回访已超期/);
    assert.match(await seen(reply.getByTestId('case-reply-meta')), /回访时限 \d{4}-\d{2}-\d{2} \d{2}:\d{2}/);
    assert.ok(!(await seen(page.getByTestId('case-view'))).includes('13900001111'), 'no whole phone number in the case view');
    // It has left the 待核实 list.
    await item.waitFor({ state: 'detached' });
    await browser.screenshot('loop-not-filed');
  });

  const after = (await gridd.ticket(operator, ticket.id)).ticket;
  assert.equal(after.state, 'TICKET_STATE_NOT_FILED');
  assert.equal(after.notFiledReason, 'NOT_FILED_REASON_ALREADY_FIXED');
  assert.deepEqual((after.replies || []).map((r) => r.reference), [calls.refused.reference]);
});

test('the supervisor confirms a call in the case view (a wrong category is refused next to its field); the squad handles it and it closes', async () => {
  const ticket = await logCall('confirmed', {
    key: 'loop-confirmed',
    caller: { name: '张三', phone: '13812345678' },
    point: XINAN_POINTS[0],
    address: '新安路 88 号',
    description: '路边有一堆垃圾，很久没人清理',
  });
  assert.equal(ticket.state, 'TICKET_STATE_VERIFYING');

  await withBrowser(gridd, DASHBOARD, async (browser) => {
    const { page } = browser;
    browser.allow(REFUSED_VERIFY);
    await signInOnPage(page, gridd, 'sup.xinan');
    await page.locator(`[data-testid="verify-item"][data-ticket-id="${ticket.id}"]`).waitFor();
    await openCaseBySearch(page, ticket.id);
    assert.equal(await waitForCaseState(page, 'TICKET_STATE_VERIFYING'), '待核实');
    assert.match(await seen(page.getByTestId('case-report')), /来电人 张三/);
    assert.ok(!(await seen(page.getByTestId('case-view'))).includes('13812345678'), 'the number is masked in the case view');
    await browser.screenshot('loop-verify');

    // Confirmed, with a category code that does not exist: the server's reason is shown under
    // the category box, which takes the focus; nothing changed.
    assert.equal(await seen(page.getByTestId('action-verify_confirm')), '核实属实，立案');
    await page.getByTestId('action-verify_confirm').click();
    assert.equal(await page.evaluate(() => document.activeElement.id), 'form-category');
    await page.keyboard.type('ZZZ');
    await page.getByTestId('form-note').fill('现场确有垃圾堆放');
    await page.getByTestId('form-submit').click();
    const categoryError = page.getByTestId('form-error-category');
    await categoryError.waitFor({ state: 'visible' });
    assert.match(await seen(categoryError), /category/);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'form-category');
    assert.equal(await page.getByTestId('form-category').getAttribute('aria-invalid'), 'true');
    const box = await page.getByTestId('form-category').boundingBox();
    const err = await categoryError.boundingBox();
    assert.ok(err.y >= box.y + box.height - 1 && err.y - (box.y + box.height) < 40, 'the reason is right under the category box');
    assert.equal(await page.getByTestId('case-state').getAttribute('data-state'), 'TICKET_STATE_VERIFYING');
    await browser.screenshot('loop-verify-refused');

    // Without the correction it is filed and routed to its squad.
    await page.getByTestId('form-category').fill('');
    await categoryError.waitFor({ state: 'hidden' });
    await page.getByTestId('form-submit').click();
    assert.equal(await waitForCaseState(page, 'TICKET_STATE_DISPATCHED'), '已派遣');
    await page.getByTestId('case-ok').waitFor({ state: 'visible' });
    assert.match(await seen(page.getByTestId('case-squad')), /一中队|sq-1/);
    assert.equal(await seen(page.getByTestId('case-verifier')), 'sup.xinan');
    const verified = page.locator('[data-testid="timeline-entry"][data-kind="verified"]');
    await verified.waitFor();
    assert.match(await seen(verified), /核实立案/);
    assert.equal(await page.getByTestId('action-verify_confirm').count(), 0, 'nothing left to verify');
    await page.locator(`[data-testid="verify-item"][data-ticket-id="${ticket.id}"]`).waitFor({ state: 'detached' });
  });

  // The squad's side over HTTP, as its terminal would; the centre's check closes the case.
  const dispatched = await gridd.waitForTicket(operator, ticket.id, (tk) => tk.state === 'TICKET_STATE_DISPATCHED');
  assert.equal(dispatched.squadId, 'sq-1');
  const member = await gridd.signIn('m1');
  const task = { squadId: 'sq-1', ticketId: ticket.id };
  await gridd.rpc(SQUAD, 'AcceptTask', task, member);
  await gridd.rpc(SQUAD, 'StartTask', task, member);
  await gridd.rpc(SQUAD, 'ResolveTask', { task, note: '垃圾已清运' }, member);
  const dispatcher = await gridd.signIn('disp');
  const closed = await gridd.rpc(DISPATCH, 'Verify', { ticketId: ticket.id, passed: true }, dispatcher);
  assert.equal(closed.state, 'TICKET_STATE_CLOSED');
  assert.equal(closed.stage, 'STAGE_REPLY', 'the reply clock runs on the closed case');
  assert.deepEqual((closed.replies || []).map((r) => r.reference), [calls.confirmed.reference]);
});

test('the console lists each caller owed a reply with the whole number; the operator records not reached, then 不满意, and the case comes back as 返工', async () => {
  // Both replies are due 3 s after their cases ended (the test city's limit): wait until they are late.
  const owed = await gridd.rpc(DISPATCH, 'ListReplyTasks', {}, operator);
  const latest = Math.max(...(owed.tasks || []).map((x) => Date.parse(x.status.due)));
  await waitFor('the replies to be overdue', () => Date.now() > latest + 300, { timeout: 15000 });

  await withBrowser(gridd, CONSOLE, async (browser) => {
    const { page } = browser;
    await signInConsole(page, gridd, 'op');
    const tab = page.getByTestId('tab-replies');
    await tab.filter({ hasText: '待回访' }).waitFor();
    await page.getByTestId('replies-count').filter({ hasText: /^2$/ }).waitFor();

    // F4 opens the list; the one due first is on top and has the focus.
    await page.keyboard.press('F4');
    await page.getByTestId('replies-view').waitFor({ state: 'visible' });
    assert.ok(await page.getByTestId('call-view').isHidden(), 'the call form is behind the list');
    assert.equal(await tab.getAttribute('aria-selected'), 'true');
    const items = page.getByTestId('reply-item');
    await items.nth(1).waitFor();
    assert.deepEqual(await items.evaluateAll((els) => els.map((el) => el.dataset.reference)),
      [calls.refused.reference, calls.confirmed.reference], 'oldest due first');
    const refused = page.locator(`[data-testid="reply-item"][data-reference="${calls.refused.reference}"]`);
    const confirmed = page.locator(`[data-testid="reply-item"][data-reference="${calls.confirmed.reference}"]`);

    // Each caller by name with the whole number to call; the confidential one marked 保密; the
    // outcome in plain words; the due time, overdue.
    assert.equal(await seen(refused.getByTestId('reply-item-name')), '李四');
    assert.equal(await seen(refused.getByTestId('reply-item-confidential')), '保密');
    assert.equal(await seen(refused.getByTestId('reply-item-phone')), '13900001111');
    assert.equal(await seen(refused.getByTestId('reply-item-outcome')), '不予立案：现场已解决');
    assert.equal(await seen(confirmed.getByTestId('reply-item-name')), '张三');
    assert.equal(await confirmed.getByTestId('reply-item-confidential').count(), 0);
    assert.equal(await seen(confirmed.getByTestId('reply-item-phone')), '13812345678');
    assert.equal(await seen(confirmed.getByTestId('reply-item-outcome')), '已办结');
    for (const item of [refused, confirmed]) {
      assert.equal(await item.getAttribute('data-overdue'), 'true');
      assert.match(await seen(item.getByTestId('reply-item-due')), /^回访时限 \d{4}-\d{2}-\d{2} \d{2}:\d{2} · 已超期/);
      assert.equal(await seen(item.getByTestId('reply-item-attempts')), '尚未拨打');
    }
    assert.equal(await page.evaluate(() => document.activeElement.closest('[data-testid="reply-item"]')?.dataset.reference), calls.refused.reference);
    const card = page.getByTestId('reply-card');
    assert.equal(await seen(card.getByTestId('reply-phone')), '13900001111');
    assert.equal(await seen(card.getByTestId('reply-external')), '12345-loop-refused');
    await browser.screenshot('console-replies');

    // ↓ to 张三, Enter to the result, 1 = not reached, Ctrl+Enter: it stays, one attempt more.
    await page.keyboard.press('ArrowDown');
    await page.getByTestId('reply-card').and(page.locator(`[data-reference="${calls.confirmed.reference}"]`)).waitFor();
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement.name), 'reply-result', 'Enter goes to the result');
    await page.keyboard.press('1');
    assert.ok(await page.getByTestId('reply-result-not-reached').isChecked());
    await page.keyboard.press('Control+Enter');
    await page.getByTestId('reply-done').filter({ hasText: '已记录：张三 未接通（第 1 次），稍后再拨' }).waitFor();
    await confirmed.and(page.locator('[data-attempts="1"]')).waitFor();
    assert.equal(await seen(confirmed.getByTestId('reply-item-attempts')), '已拨打 1 次未接通');
    assert.equal(await items.count(), 2, 'a caller not reached stays in the list');
    const tried = (await gridd.ticket(operator, calls.confirmed.id)).ticket;
    assert.equal(tried.replies[0].attempts, 1);

    // Called again and reached: 4 = dissatisfied, with what the caller said.
    await page.keyboard.press('Enter');
    await page.keyboard.press('4');
    await page.getByTestId('reply-hint').waitFor({ state: 'visible' });
    await page.getByTestId('reply-note').fill('垃圾清走后第二天又堆上了');
    await page.keyboard.press('Control+Enter');
    await page.getByTestId('reply-done').filter({ hasText: /已记录：张三 不满意，案件已退回一中队重新处置（返工）/ }).waitFor();
    await confirmed.waitFor({ state: 'detached' });

    // 李四: 2 = satisfied. Then nothing is left.
    await page.getByTestId('reply-card').and(page.locator(`[data-reference="${calls.refused.reference}"]`)).waitFor();
    await page.keyboard.press('Enter');
    await page.keyboard.press('2');
    await page.keyboard.press('Control+Enter');
    await page.getByTestId('reply-done').filter({ hasText: '已记录：李四 满意' }).waitFor();
    await page.getByTestId('replies').filter({ hasText: '暂无待回访' }).waitFor();
    assert.equal(await seen(page.getByTestId('replies-count')), '');
    await browser.screenshot('console-replies-empty');

    // F4 goes back to the call form.
    await page.keyboard.press('F4');
    await page.getByTestId('call-view').waitFor({ state: 'visible' });
  });

  // The dashboard: the reopened case as 返工 with its reply; the not-filed one with its reason
  // and reply; the KPI tiles and the counts by state.
  await withBrowser(gridd, DASHBOARD, async (browser) => {
    const { page } = browser;
    await signInOnPage(page, gridd, 'disp');
    await openCaseBySearch(page, calls.confirmed.id);
    assert.equal(await waitForCaseState(page, 'TICKET_STATE_REWORK'), '返工');
    const reply = page.locator(`[data-testid="case-reply"][data-reference="${calls.confirmed.reference}"]`);
    await reply.waitFor();
    assert.equal(await seen(reply.getByTestId('case-reply-satisfaction')), '不满意');
    assert.match(await seen(reply.getByTestId('case-reply-meta')), /回访时限 .* · 未接通 1 次 · 回访时间 \d{4}-\d{2}-\d{2}/);
    assert.equal(await seen(reply.getByTestId('case-reply-note')), '回访记录：垃圾清走后第二天又堆上了');
    const view = await seen(page.getByTestId('case-view'));
    assert.ok(!view.includes('13812345678'), 'never a whole phone number in the case view');
    for (const kind of ['reply_attempted', 'replied', 'reopened']) {
      await page.locator(`[data-testid="timeline-entry"][data-kind="${kind}"]`).first().waitFor();
    }
    assert.match(await seen(page.locator('[data-testid="timeline-entry"][data-kind="reopened"]')), /重新处置/);
    assert.match(await seen(page.locator('[data-testid="timeline-entry"][data-kind="replied"]')), /已回访/);
    await browser.screenshot('loop-rework');

    await openCaseBySearch(page, calls.refused.id);
    assert.equal(await waitForCaseState(page, 'TICKET_STATE_NOT_FILED'), '不予立案');
    assert.equal(await seen(page.getByTestId('case-not-filed-reason')), '现场已解决');
    assert.equal(await seen(page.locator(`[data-testid="case-reply"][data-reference="${calls.refused.reference}"]`).getByTestId('case-reply-satisfaction')), '满意');
    await page.getByTestId('case-close').click();

    // Two replies owed, both made, one satisfied; two reports verified, one not filed.
    const tile = async (id) => ({ label: await seen(page.getByTestId(id).locator('.kpi-label span').first()), today: await seen(page.getByTestId(`${id}-today`)) });
    await page.getByTestId('kpi-reply-rate-today').filter({ hasText: '100.0%' }).waitFor();
    assert.deepEqual(await tile('kpi-reply-rate'), { label: '回访率', today: '100.0%' });
    assert.deepEqual(await tile('kpi-satisfaction-rate'), { label: '满意率', today: '50.0%' });
    assert.equal((await tile('kpi-on-time-reply-rate')).label, '按期回访率');
    assert.match((await tile('kpi-on-time-reply-rate')).today, /^\d+\.\d%$/);
    assert.deepEqual(await tile('kpi-verified'), { label: '核实 / 不予立案', today: '2 / 1' });
    assert.match(await seen(page.getByTestId('kpi-state-rework')), /^返工\s*1$/);
    assert.match(await seen(page.getByTestId('kpi-state-not_filed')), /^不予立案\s*1$/);
    await browser.screenshot('loop-kpi');
  });
});
