// Merging and splitting cases (并案/拆分) in the dashboard, in a real browser against the real
// engine on the test city: two 12345 calls far apart are two cases; a dispatcher opens the
// second, is told next to the master field what is missing or wrong in a duplicate cancel and a
// merge, then merges it into the first from the case view: the master opens with both reports
// and the link to the duplicate (关联案件). The merged report is split back out from the
// master: the new case opens, split from the master (拆分自). A third case is cancelled as a
// duplicate naming the master, and its report moves there too. Each step is checked against
// the server's own state over HTTP.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startGridd, withBrowser, signInOnPage, openCaseBySearch, waitForCaseState, XINAN_POINTS,
} from './harness.mjs';

const DASHBOARD = { width: 1366, height: 768 };
// What the browser logs for the requests the server refuses on purpose.
const REFUSED_CANCEL = /status of 400 \(Bad Request\).*DispatchService\/Cancel/;
const REFUSED_MERGE = /status of 404 \(Not Found\).*DispatchService\/MergeCases/;

let gridd;
let hotlineKey;

before(async () => {
  gridd = await startGridd('merge', { users: ['disp', 'lead'], hotlineKey: true });
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

/** Waits until the case view shows the case `id` (after a merge, a split or a link). */
async function waitForCase(page, id) {
  await page.getByTestId('case-field-id').filter({ hasText: new RegExp(`^\\s*${id}\\s*$`) }).waitFor();
  await page.getByTestId('case-summary').waitFor();
}

/** The link of the open case to `id` of `kind` (KIND_MERGED_FROM, …). */
function link(page, kind, id) {
  return page.locator(`[data-testid="case-link"][data-kind="${kind}"][data-ticket-id="${id}"]`);
}

async function references(page) {
  return page.getByTestId('case-report').evaluateAll((els) => els.map((el) => el.dataset.reference));
}

async function get(token, id) {
  return gridd.rpc('gridd.v1.DispatchService', 'GetTicket', { id, includeHistory: true }, token);
}

test('merge a duplicate into its master, split it back out, cancel another as a duplicate', async () => {
  // Two calls of the same category far apart: two cases, both dispatched to sq-1.
  const callA = await gridd.hotlineCall(hotlineKey, { key: 'merge-a', location: XINAN_POINTS[2], address: '新安路 3 号', description: '垃圾桶满溢' });
  const callB = await gridd.hotlineCall(hotlineKey, { key: 'merge-b', location: XINAN_POINTS[5], address: '新安路 88 号', description: '垃圾桶满溢，有异味' });
  const dispatched = (tk) => tk.state === 'TICKET_STATE_DISPATCHED';
  const master = (await gridd.waitForTicket(hotlineKey, callA.reference, dispatched)).id;
  const duplicate = (await gridd.waitForTicket(hotlineKey, callB.reference, dispatched)).id;
  assert.notEqual(master, duplicate, 'two cases');
  const disp = await gridd.signIn('disp');
  const offered = (await get(disp, duplicate)).allowedActions;
  assert.ok(offered.includes('merge'), `merge is offered to a dispatcher: ${offered}`);
  assert.ok(!offered.includes('split'), 'a case of one report has nothing to split');

  let split;
  await withBrowser(gridd, DASHBOARD, async (browser) => {
    const { page } = browser;
    browser.allow(REFUSED_CANCEL);
    browser.allow(REFUSED_MERGE);
    await signInOnPage(page, gridd, 'disp');
    await openCaseBySearch(page, duplicate);
    assert.equal(await page.getByTestId('case-lineage').count(), 0, 'no linked cases yet');

    // A duplicate cancel names its master: asked for by the form, then refused by the server
    // (the case itself) next to the field.
    await openAction(page, 'cancel');
    const masterField = page.getByTestId('form-master');
    assert.ok(await masterField.isHidden(), 'no master field for other reasons');
    await page.getByTestId('form-reason').selectOption('CANCEL_REASON_DUPLICATE');
    await masterField.waitFor({ state: 'visible' });
    assert.match(await seen(page.locator('label[for="form-master"]')), /主案件编号/);
    await page.getByTestId('form-submit').click();
    const masterError = page.getByTestId('form-error-master');
    await masterError.waitFor({ state: 'visible' });
    assert.equal(await seen(masterError), '请填写主案件编号');
    assert.equal(await masterField.getAttribute('aria-invalid'), 'true');
    assert.ok(await masterField.evaluate((el) => el === document.activeElement), 'the focus is on the field');
    await masterField.fill(duplicate);
    assert.ok(await masterError.isHidden(), 'typing clears the mark');
    await page.getByTestId('form-submit').click();
    await masterError.waitFor({ state: 'visible' });
    assert.match(await seen(masterError), /duplicate case itself/, 'the server\'s refusal');
    assert.ok(await page.getByTestId('case-error').isHidden(), 'said next to the field, not above');
    await browser.screenshot('merge-cancel-refused');
    assert.equal((await get(disp, duplicate)).ticket.state, 'TICKET_STATE_DISPATCHED', 'nothing was cancelled');
    await page.getByTestId('form-cancel').click();

    // 并案: an unknown master is said next to the field; then the first case.
    await openAction(page, 'merge');
    assert.match(await seen(page.getByTestId('form-merge-hint')), new RegExp(duplicate));
    await page.getByTestId('form-submit').click();
    await masterError.waitFor({ state: 'visible' });
    assert.equal(await seen(masterError), '请填写主案件编号');
    await masterField.fill(duplicate);
    await page.getByTestId('form-submit').click();
    await masterError.filter({ hasText: '不能并入本案件自身' }).waitFor();
    // The suggestions are the open cases on the dashboard: the master is among them.
    assert.equal(await page.locator(`#form-master-list option[value="${master}"]`).count(), 1, 'the master is suggested');
    assert.equal(await page.locator(`#form-master-list option[value="${duplicate}"]`).count(), 0, 'not the case itself');
    await masterField.fill('261201-NOSUCHCASE');
    await page.getByTestId('form-submit').click();
    await masterError.filter({ hasText: 'not found' }).waitFor();
    await masterField.fill(master);
    await page.getByTestId('form-note').fill('同一来电人重复反映');
    await page.getByTestId('form-submit').click();

    // The master opens: both reports, the link to the duplicate, 并案 in its history.
    await waitForCase(page, master);
    assert.match(await seen(page.getByTestId('case-ok')), new RegExp(`案件 ${duplicate} 已并入本案件`));
    assert.deepEqual(await references(page), [callA.reference, callB.reference]);
    const from = link(page, 'KIND_MERGED_FROM', duplicate);
    await from.waitFor();
    assert.match(await seen(page.getByTestId('case-lineage')), /关联案件/);
    assert.equal(await seen(from.getByTestId('case-link-kind')), '合并自');
    assert.equal(await seen(from.getByTestId('case-link-open')), duplicate);
    const merged = page.locator('[data-testid="timeline-entry"][data-kind="cases_merged"]');
    await merged.waitFor();
    assert.match(await seen(merged), /并案/);
    await browser.screenshot('merge-master');
    const afterMerge = await get(disp, master);
    assert.deepEqual(afterMerge.ticket.reports.map((r) => r.reference), [callA.reference, callB.reference]);
    assert.deepEqual(afterMerge.ticket.lineage, [{ kind: 'KIND_MERGED_FROM', ticketId: duplicate }]);
    assert.ok(afterMerge.allowedActions.includes('split'), 'the merged report may be split out');
    const dup = (await get(disp, duplicate)).ticket;
    assert.equal(dup.state, 'TICKET_STATE_CANCELLED');
    assert.equal(dup.cancelReason, 'CANCEL_REASON_DUPLICATE');
    assert.deepEqual(dup.lineage, [{ kind: 'KIND_MERGED_INTO', ticketId: master }]);

    // The link opens the duplicate, cancelled, merged into the master; and back.
    await from.getByTestId('case-link-open').click();
    await waitForCase(page, duplicate);
    await waitForCaseState(page, 'TICKET_STATE_CANCELLED');
    const into = link(page, 'KIND_MERGED_INTO', master);
    await into.waitFor();
    assert.equal(await seen(into.getByTestId('case-link-kind')), '并入');
    await into.getByTestId('case-link-open').click();
    await waitForCase(page, master);

    // 拆分: the merged report (not the case's own) is offered, with its channel, time and
    // masked contact; split out, the new case opens, split from the master.
    await openAction(page, 'split');
    const choices = page.getByTestId('form-reference');
    assert.equal(await choices.count(), 1, 'only the merged report is offered');
    assert.equal(await choices.first().getAttribute('value'), callB.reference);
    const choice = page.locator(`label.report-choice[data-reference="${callB.reference}"]`);
    assert.match(await seen(choice), /热线/);
    assert.match(await seen(choice), /138\*\*\*\*5678/);
    assert.doesNotMatch(await seen(choice), /13812345678/, 'never the full number');
    assert.ok(await choices.first().isChecked(), 'the only one is chosen');
    await page.getByTestId('form-note').fill('两处不是同一问题');
    await browser.screenshot('merge-split-form');
    await page.getByTestId('form-submit').click();
    split = await waitOnNewCase(page, master);
    assert.match(await seen(page.getByTestId('case-ok')), new RegExp(`报告 ${callB.reference} 已从案件 ${master} 拆分为本案件`));
    assert.deepEqual(await references(page), [callB.reference]);
    const splitFrom = link(page, 'KIND_SPLIT_FROM', master);
    await splitFrom.waitFor();
    assert.equal(await seen(splitFrom.getByTestId('case-link-kind')), '拆分自');
    assert.equal(await seen(splitFrom.getByTestId('case-link-open')), master);
    await browser.screenshot('merge-split');

    // Back at the master: its own report only, and the link to the new case.
    await splitFrom.getByTestId('case-link-open').click();
    await waitForCase(page, master);
    const into2 = link(page, 'KIND_SPLIT_INTO', split);
    await into2.waitFor();
    assert.equal(await seen(into2.getByTestId('case-link-kind')), '拆分出');
    assert.deepEqual(await references(page), [callA.reference]);
    await page.locator('[data-testid="timeline-entry"][data-kind="report_split"]').filter({ hasText: '拆分' }).waitFor();
    assert.equal(await page.getByTestId('action-split').count(), 0, 'nothing left to split');

    // In English the links say what they are.
    await page.getByTestId('lang-switch').click();
    await page.locator('html[lang="en"]').waitFor({ state: 'attached' });
    assert.equal(await seen(into2.getByTestId('case-link-kind')), 'Split into');
    assert.equal(await seen(link(page, 'KIND_MERGED_FROM', duplicate).getByTestId('case-link-kind')), 'Merged from');
    assert.match(await seen(page.getByTestId('case-lineage')), /Linked cases/);
    await page.getByTestId('lang-switch').click();
    await page.locator('html[lang="zh-CN"]').waitFor({ state: 'attached' });
  });

  // The server agrees: the master keeps its own report, the new case has the split one.
  const m = await get(disp, master);
  assert.deepEqual(m.ticket.reports.map((r) => r.reference), [callA.reference]);
  assert.deepEqual(m.ticket.lineage, [{ kind: 'KIND_MERGED_FROM', ticketId: duplicate }, { kind: 'KIND_SPLIT_INTO', ticketId: split }]);
  const kinds = m.history.map((e) => e.kind);
  assert.ok(kinds.includes('cases_merged') && kinds.includes('report_split'), `the master's history: ${kinds}`);
  const s = (await get(disp, split)).ticket;
  assert.deepEqual(s.reports.map((r) => r.reference), [callB.reference]);
  assert.deepEqual(s.lineage, [{ kind: 'KIND_SPLIT_FROM', ticketId: master }]);
  assert.equal(s.state, 'TICKET_STATE_DISPATCHED', 'filed and routed again');
});

/** Waits until the case view shows a case other than `master` (the one a split opened); its id. */
async function waitOnNewCase(page, masterId) {
  const handle = await page.waitForFunction((m) => {
    const el = document.querySelector('[data-testid="case-field-id"]');
    const id = el && el.textContent.trim();
    return id && id !== m && document.querySelector('[data-testid="case-lineage"]') ? id : null;
  }, masterId, { timeout: 15000, polling: 50 });
  return handle.jsonValue();
}

test('a shift leader cancels a case as a duplicate of its master: its report moves there', async () => {
  const callA = await gridd.hotlineCall(hotlineKey, { key: 'dup-a', location: XINAN_POINTS[3], address: '新安路 20 号', description: '路灯不亮' });
  const callB = await gridd.hotlineCall(hotlineKey, { key: 'dup-b', location: XINAN_POINTS[6], address: '新安路 99 号', description: '路灯不亮，很暗' });
  const dispatched = (tk) => tk.state === 'TICKET_STATE_DISPATCHED';
  const master = (await gridd.waitForTicket(hotlineKey, callA.reference, dispatched)).id;
  const duplicate = (await gridd.waitForTicket(hotlineKey, callB.reference, dispatched)).id;
  assert.notEqual(master, duplicate);

  await withBrowser(gridd, DASHBOARD, async (browser) => {
    const { page } = browser;
    await signInOnPage(page, gridd, 'lead');
    await openCaseBySearch(page, duplicate);
    await openAction(page, 'cancel');
    await page.getByTestId('form-reason').selectOption('CANCEL_REASON_DUPLICATE');
    await page.getByTestId('form-master').fill(master);
    await page.getByTestId('form-note').fill('与主案件为同一处路灯');
    await page.getByTestId('form-submit').click();
    await waitForCaseState(page, 'TICKET_STATE_CANCELLED');
    const into = link(page, 'KIND_MERGED_INTO', master);
    await into.waitFor();
    assert.equal(await seen(into.getByTestId('case-link-kind')), '并入');
    assert.match(await seen(page.getByTestId('case-summary')), /重复案件/);
    await into.getByTestId('case-link-open').click();
    await waitForCase(page, master);
    assert.deepEqual(await references(page), [callA.reference, callB.reference]);
    await link(page, 'KIND_MERGED_FROM', duplicate).waitFor();
    await browser.screenshot('merge-duplicate-cancelled');
  });

  const lead = await gridd.signIn('lead');
  const d = (await get(lead, duplicate)).ticket;
  assert.equal(d.state, 'TICKET_STATE_CANCELLED');
  assert.equal(d.cancelReason, 'CANCEL_REASON_DUPLICATE');
  assert.deepEqual(d.lineage, [{ kind: 'KIND_MERGED_INTO', ticketId: master }]);
  const m = (await get(lead, master)).ticket;
  assert.deepEqual(m.reports.map((r) => r.reference), [callA.reference, callB.reference], 'the caller moved to the master');
  assert.deepEqual(m.lineage, [{ kind: 'KIND_MERGED_FROM', ticketId: duplicate }]);
});
