// The hotline console (12345/12319 受理台) in a real browser, against the real engine on the test
// city: an operator logs calls while the caller is on the line. What the operator notices is
// checked: where the call would go, the open case nearby it duplicates (and merging into it),
// the reference to read out and what a lookup tells the caller later, and a refused field
// marked with the server's reason.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGridd, withBrowser, waitFor, signInConsole, XINAN, XINAN_POINTS } from './harness.mjs';

const DESKTOP = { width: 1440, height: 900 };
// 0.00027° of latitude is about 30 m.
const THIRTY_M_NORTH = 0.00027;

let gridd;
let hotlineKey;

before(async () => {
  gridd = await startGridd('console', { users: ['op', 'disp', 'm1'], hotlineKey: true });
  hotlineKey = gridd.hotlineKey;
});

after(async () => {
  if (gridd) await gridd.dispose();
});

/** Chooses a category by typing `query` in the search box and picking `code` with the arrows. */
async function chooseCategory(page, query, code) {
  const input = page.getByTestId('category-input');
  await input.fill(query);
  await page.getByTestId('category-list').waitFor({ state: 'visible' });
  const codes = await page.getByTestId('category-option').evaluateAll((els) => els.map((el) => el.dataset.code));
  const at = codes.indexOf(code);
  assert.ok(at >= 0, `"${query}" offers ${code} (offered: ${codes.join(', ')})`);
  for (let i = 0; i < at; i++) await input.press('ArrowDown');
  await page.locator(`[data-testid="category-option"][aria-selected="true"][data-code="${code}"]`).waitFor();
  await input.press('Enter');
  await page.getByTestId('category-chip').filter({ hasText: code }).waitFor();
}

/** The point as the form holds it (the text box), parsed. */
async function formPoint(page) {
  const text = await page.getByTestId('point-input').inputValue();
  const [lon, lat] = text.split(',').map(Number);
  return { lon, lat };
}

/** Types the point into the location box (as an operator with coordinates would). */
async function typePoint(page, p) {
  const input = page.getByTestId('point-input');
  await input.fill(`${p.lon},${p.lat}`);
  await input.press('Tab');
}

/** The LogHotlineCall requests the page sends from now on, as they are sent (a live list). */
function callsSent(page) {
  const sent = [];
  page.on('request', (req) => {
    if (req.url().endsWith('.IntakeService/LogHotlineCall')) sent.push(req.postDataJSON());
  });
  return sent;
}

/** Waits for the reference the console shows after a submission. */
async function waitForReference(page) {
  const ref = page.getByTestId('receipt-reference');
  await ref.waitFor({ state: 'visible' });
  await waitFor('the reference', async () => (await ref.textContent()).trim());
  return (await ref.textContent()).trim();
}

test('an operator picks the place on the map and chooses the category by pinyin, name or code; the preview names the squad the engine routes it to', async () => {
  await withBrowser(gridd, DESKTOP, async (browser) => {
    const { page } = browser;
    await page.goto(gridd.consoleUrl);
    await page.getByTestId('signin-form').waitFor({ state: 'visible' });
    await browser.screenshot('console-signin');
    await signInConsole(page, gridd, 'op');
    assert.equal(await page.getByTestId('user-role').textContent(), '受理员');
    assert.ok(await page.getByTestId('role-banner').isHidden(), 'an operator may log calls');

    // Nothing chosen yet: every panel says what it waits for.
    assert.match(await page.getByTestId('preview').textContent(), /选择地图上的位置以查看责任网格/);
    assert.match(await page.getByTestId('similar').textContent(), /选择类别和位置后/);
    assert.match(await page.getByTestId('lookup').textContent(), /输入受理编号或来电电话/);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'caller-phone', 'the first field is focused');

    // F2 goes to the category search from anywhere.
    await page.getByTestId('address-input').focus();
    await page.keyboard.press('F2');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'category-input');

    // Pinyin initials, a shorter pinyin, Chinese and a code all find 暴露垃圾 (E0102).
    for (const [query, first] of [['bllj', true], ['blj', false], ['垃圾', false], ['E0102', true]]) {
      await page.getByTestId('category-input').fill(query);
      await page.getByTestId('category-option').first().waitFor();
      const codes = await page.getByTestId('category-option').evaluateAll((els) => els.map((el) => el.dataset.code));
      assert.ok(codes.includes('E0102'), `"${query}" offers E0102 (got ${codes.join(', ')})`);
      if (first) assert.equal(codes[0], 'E0102', `"${query}" offers E0102 first`);
    }
    // Esc closes the list and keeps the text.
    await page.getByTestId('category-input').press('Escape');
    await page.getByTestId('category-list').waitFor({ state: 'hidden' });
    assert.equal(await page.getByTestId('category-input').inputValue(), 'E0102');

    // A class with a filing condition: the condition changes urgency and limit.
    await chooseCategory(page, 'C0102', 'C0102');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'condition-select', 'on to the filing condition');
    assert.match(await page.getByTestId('category-terms').textContent(), /一般 · 处置时限 2 小时/);
    const missing = await page.getByTestId('condition-select').locator('option[value="missing"]').textContent();
    assert.match(missing, /缺失/);
    await page.getByTestId('condition-select').selectOption('missing');
    assert.match(await page.getByTestId('category-terms').textContent(), /紧急 · 处置时限 1 小时/);
    assert.equal(await page.getByTestId('category-terms').getAttribute('data-urgency'), 'URGENCY_URGENT');

    // Then 暴露垃圾 by its initials, with the arrow keys and Enter.
    await page.keyboard.press('F2');
    await chooseCategory(page, 'blj', 'E0102');
    assert.equal(await page.getByTestId('category-input').inputValue(), '暴露垃圾');
    assert.match(await page.getByTestId('category-terms').textContent(), /一般 · 处置时限 2 小时/);

    // The place, clicked on the map of the city's own shapes: the first click zooms in around
    // the point, the second places it exactly.
    for (let i = 0; i < 2; i++) {
      const at = await page.evaluate(({ lon, lat }) => window.__console.screenOf(lon, lat), XINAN);
      assert.ok(at.inside, 'the point is on the map');
      await page.mouse.click(at.x, at.y);
      await page.waitForTimeout(300);
    }
    const picked = await formPoint(page);
    assert.ok(Math.abs(picked.lon - XINAN.lon) < 0.0005 && Math.abs(picked.lat - XINAN.lat) < 0.0005, `the picked point ${JSON.stringify(picked)} is where the map was clicked`);
    assert.ok(await page.getByTestId('point-clear').isVisible(), 'the point can be cleared');

    // The preview shows what the engine answers for that point and category.
    const token = await gridd.signIn('op');
    const located = await gridd.rpc('gridd.v1.GridService', 'Locate', { point: { ...picked, crs: 'COORD_SYSTEM_WGS84' }, category: 'E0102' }, token);
    assert.equal(located.responsible[0].squadId, 'sq-1', 'the test city routes 新安街道 garbage to sq-1');
    const squad = page.getByTestId('route-squad');
    await squad.filter({ hasText: located.responsible[0].squadName }).waitFor();
    assert.equal((await squad.textContent()).trim(), located.responsible[0].squadName);
    assert.equal(await squad.getAttribute('data-squad-id'), 'sq-1');
    assert.equal((await page.getByTestId('route-cell').textContent()).trim(), located.cell.cellCode);
    assert.equal((await page.getByTestId('route-community').textContent()).trim(), located.cell.communityName);
    await browser.screenshot('console-preview');

    // A point typed far outside the city: the manual queue, with the reason.
    await typePoint(page, { lon: 119.5, lat: 35.5 });
    await page.getByTestId('route-manual').waitFor();
    assert.match(await page.getByTestId('route-manual').textContent(), /人工派遣队列/);
    assert.match(await page.getByTestId('route-manual-reason').textContent(), /网格外/);

    // Typed exactly, XINAN goes to sq-1 as well.
    await typePoint(page, XINAN);
    await squad.filter({ hasText: located.responsible[0].squadName }).waitFor();
  });
});

test('the duplicate hint offers the open case 30 m away; merging into it files the call as one of its reports', async () => {
  // An open case of the same category, filed by the 12345 platform a moment ago.
  const place = XINAN_POINTS[3];
  const earlier = await gridd.hotlineCall(hotlineKey, { key: 'console-dup-1', category: 'E0102', location: place, address: '新安路 12 号门口', description: '路边一堆垃圾' });
  const open = await gridd.waitForTicket(hotlineKey, earlier.reference, (tk) => tk.state === 'TICKET_STATE_DISPATCHED');

  await withBrowser(gridd, DESKTOP, async (browser) => {
    const { page } = browser;
    await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: gridd.base });
    await signInConsole(page, gridd, 'op');
    const sent = callsSent(page);

    await page.getByTestId('caller-phone').fill('13900001111');
    await page.getByTestId('caller-name').fill('李先生');
    await page.getByTestId('caller-reply').check();
    await chooseCategory(page, 'bllj', 'E0102');
    await page.getByTestId('address-input').fill('新安路 12 号对面');
    await typePoint(page, { lon: place.lon, lat: Number((place.lat + THIRTY_M_NORTH).toFixed(6)) });
    await page.getByTestId('description-input').fill('垃圾堆了两天没人清理，有异味');

    // The case nearby, about 30 m away, filed just now, marked as the one it would merge into.
    const item = page.locator(`[data-testid="similar-case"][data-ticket-id="${open.id}"]`);
    await item.waitFor();
    const distance = Number(await item.getAttribute('data-distance'));
    assert.ok(distance >= 28 && distance <= 32, `about 30 m away (${distance} m)`);
    assert.equal((await item.getByTestId('similar-distance').textContent()).trim(), `约 ${distance} 米`);
    assert.match(await item.getByTestId('similar-age').textContent(), /刚刚|\d+ 分钟前/);
    assert.equal(await item.getAttribute('data-would-merge'), 'true');
    assert.match(await item.getByTestId('similar-would-merge').textContent(), /将自动并入/);
    await page.getByTestId('route-squad').filter({ hasText: '一中队' }).waitFor();
    // Its number opens it in the lookup: the operator can tell the caller it is being handled.
    await item.getByTestId('similar-open').click();
    await page.getByTestId('lookup-status').filter({ hasText: /已派遣至一中队，等待签收/ }).waitFor();
    assert.equal((await page.getByTestId('lookup-case-id').textContent()).trim(), open.id);

    // Merge into it, undo, and merge again: the state shows in the form and on the case.
    await item.getByTestId('similar-attach').click();
    await page.getByTestId('attach-box').waitFor({ state: 'visible' });
    assert.match(await page.getByTestId('attach-text').textContent(), new RegExp(`将并入案件 ${open.id}`));
    await item.getByTestId('similar-attached').waitFor();
    await page.getByTestId('attach-undo').click();
    await page.getByTestId('attach-box').waitFor({ state: 'hidden' });
    await item.getByTestId('similar-attach').click();
    await page.getByTestId('attach-box').waitFor({ state: 'visible' });
    await browser.screenshot('console-form');

    // Ctrl+Enter from the description submits.
    await page.getByTestId('description-input').press('Control+Enter');
    const reference = await waitForReference(page);
    assert.match(await page.getByTestId('receipt-attached').textContent(), new RegExp(open.id));
    assert.equal((await page.getByTestId('receipt-caller').textContent()).trim(), '李先生 · 139****1111 · 需要回访');
    assert.ok(await page.getByTestId('similar-attach').count() === 0 && await page.getByTestId('similar-undo').count() === 0, 'no merge buttons once the call is logged');
    const size = await page.getByTestId('receipt-reference').evaluate((el) => parseFloat(getComputedStyle(el).fontSize));
    assert.ok(size >= 36, `the reference is large (${size}px)`);
    assert.equal(sent.length, 1, 'one request');
    assert.equal(sent[0].attachTo, open.id);
    assert.match(sent[0].idempotencyKey, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.deepEqual(sent[0].caller, { name: '李先生', phone: '13900001111', replyRequired: true, confidential: false });

    // Copy puts the reference on the clipboard.
    await page.getByTestId('receipt-copy').click();
    await page.getByTestId('receipt-copied').filter({ hasText: '已复制' }).waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), reference);
    await browser.screenshot('console-reference');

    // The same call sent again (a retry) files nothing new: same key, same reference.
    const token = await gridd.signIn('op');
    const again = await gridd.rpc('gridd.v1.IntakeService', 'LogHotlineCall', sent[0], token);
    assert.equal(again.reference, reference);
    assert.equal(again.replayed, true);

    // The case lists the call among its reports.
    const merged = await waitFor(`${reference} among the reports of ${open.id}`, async () => {
      const r = await gridd.ticket(token, open.id);
      return (r.ticket.reports || []).some((x) => x.reference === reference) ? r.ticket : null;
    });
    assert.equal(merged.id, open.id);
    const byRef = await gridd.ticket(token, reference);
    assert.equal(byRef.ticket.id, open.id, 'the reference finds the case it was merged into');
  });
});

test('the reference read out finds the case with its status in plain words; the caller\'s phone finds it too, masked', async () => {
  const member = await gridd.signIn('m1');
  const dispatcher = await gridd.signIn('disp');
  await withBrowser(gridd, DESKTOP, async (browser) => {
    const { page } = browser;
    browser.allow(/status of 404 \(Not Found\) \(http:\/\/[^ ]+\/v1\/rpc\/gridd\.v1\.DispatchService\/GetTicket:/);
    await signInConsole(page, gridd, 'op');
    const firstKey = await page.evaluate(() => window.__console.idempotencyKey());

    // A call on the 12319 line, filled in with the keyboard.
    await page.getByTestId('hotline-12319').check();
    assert.ok(await page.getByTestId('external-id').isDisabled(), 'no 12345 transfer number on a 12319 call');
    await page.getByTestId('caller-phone').fill('13900002222');
    await page.getByTestId('caller-confidential').check();
    await page.keyboard.press('F2');
    await page.keyboard.type('店外');
    await page.getByTestId('category-option').first().waitFor();
    await page.keyboard.press('Enter');
    await page.getByTestId('category-chip').filter({ hasText: 'E0504' }).waitFor();
    await page.getByTestId('address-input').fill('钟吾路 88 号');
    await typePoint(page, XINAN_POINTS[5]);
    await page.getByTestId('description-input').fill('店家在门外摆摊占道');
    // Who takes street-order events depends on the hour (the night squad after 20:00): ask
    // the engine, as the preview does.
    const located = await gridd.rpc('gridd.v1.GridService', 'Locate',
      { point: { ...XINAN_POINTS[5], crs: 'COORD_SYSTEM_WGS84' }, category: 'E0504' }, await gridd.signIn('op'));
    const squadName = located.responsible[0].squadName;
    await page.getByTestId('route-squad').filter({ hasText: squadName }).waitFor();
    await page.getByTestId('call-submit').click();
    const reference = await waitForReference(page);

    // Straight from the receipt: its status (placed within moments, then dispatched).
    await page.getByTestId('receipt-status').click();
    const status = page.getByTestId('lookup-status');
    await status.filter({ hasText: new RegExp(`已派遣至${squadName}，等待签收，处置时限至 \\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}`) }).waitFor({ timeout: 15000 });
    assert.equal((await page.getByTestId('lookup-case-id').textContent()).trim(), reference);
    assert.equal((await page.getByTestId('lookup-state').textContent()).trim(), '已派遣');

    // Alt+N: the next call starts empty, with a new key, on the same line.
    await page.keyboard.press('Alt+n');
    await page.getByTestId('call-form').waitFor({ state: 'visible' });
    assert.equal(await page.getByTestId('caller-phone').inputValue(), '');
    assert.equal(await page.getByTestId('category-input').inputValue(), '');
    assert.ok(await page.getByTestId('hotline-12319').isChecked(), 'the line stays');
    assert.notEqual(await page.evaluate(() => window.__console.idempotencyKey()), firstKey, 'a new call has a new key');
    assert.match(await page.getByTestId('preview').textContent(), /选择地图上的位置以查看责任网格/);

    // Later the caller calls back with the reference (F3 goes to the lookup).
    await page.keyboard.press('F3');
    await page.keyboard.type(reference.toLowerCase());
    await page.keyboard.press('Enter');
    await status.filter({ hasText: `已派遣至${squadName}` }).waitFor();

    // A reference nobody gave out.
    await page.getByTestId('lookup-ref').fill('260101-ZZZZZZZZ');
    await page.getByTestId('lookup-ref').press('Enter');
    await page.getByTestId('lookup-not-found').waitFor();

    // By phone: the case, the number masked.
    await page.getByTestId('lookup-phone').fill('13900002222');
    await page.getByTestId('lookup-phone').press('Enter');
    const row = page.locator(`[data-testid="lookup-item"][data-ticket-id="${reference}"]`);
    await row.waitFor();
    assert.match(await page.getByTestId('lookup-list-head').textContent(), /139\*\*\*\*2222/);
    assert.equal((await row.getByTestId('lookup-item-phone').textContent()).trim(), '139****2222');
    assert.ok((await row.getByTestId('lookup-item-words').textContent()).includes(`已派遣至${squadName}`));
    assert.ok(!(await page.getByTestId('lookup').textContent()).includes('13900002222'), 'the full number is never shown');
    await browser.screenshot('console-lookup-phone');

    // The squad handles it and the centre checks it: the caller hears it is done. At night the
    // case went to the night squad; the centre gives it to sq-1, whose member handles it.
    if (located.responsible[0].squadId !== 'sq-1') {
      await gridd.rpc('gridd.v1.DispatchService', 'Dispatch', { ticketId: reference, squadId: 'sq-1' }, dispatcher);
    }
    const task = { squadId: 'sq-1', ticketId: reference };
    await gridd.rpc('gridd.v1.SquadService', 'AcceptTask', task, member);
    await gridd.rpc('gridd.v1.SquadService', 'StartTask', task, member);
    await gridd.rpc('gridd.v1.SquadService', 'ResolveTask', { task, note: '已劝离' }, member);
    await gridd.rpc('gridd.v1.DispatchService', 'Verify', { ticketId: reference, passed: true }, dispatcher);
    await gridd.waitForTicket(dispatcher, reference, (tk) => tk.state === 'TICKET_STATE_CLOSED');
    await row.locator('button').click();
    await page.getByTestId('lookup-refresh').click();
    await status.filter({ hasText: /^已办结/ }).waitFor();
    assert.equal(await page.getByTestId('lookup-case').getAttribute('data-state'), 'TICKET_STATE_CLOSED');
    assert.equal((await page.getByTestId('lookup-report-phone').first().textContent()).trim(), '139****2222');

    // In English, the same in English words.
    await page.getByTestId('lang-switch').click();
    await status.filter({ hasText: /^Closed/ }).waitFor();
    assert.equal((await page.getByTestId('lookup-state').textContent()).trim(), 'Closed');
    await page.getByTestId('lookup-back').click();
    assert.match(await page.getByTestId('lookup-list-head').textContent(), /Cases of 139\*\*\*\*2222/);
    assert.match(await row.getByTestId('lookup-item-words').textContent(), /^Closed/, 'the list is asked again on the way back');
    await browser.screenshot('console-english');
    await page.getByTestId('lang-switch').click();
  });
});

test('a refused field shows the server\'s reason next to it and takes the focus; the corrected call goes through', async () => {
  await withBrowser(gridd, DESKTOP, async (browser) => {
    const { page } = browser;
    browser.allow(/status of 400 \(Bad Request\) \(http:\/\/[^ ]+\/v1\/rpc\/gridd\.v1\.IntakeService\/LogHotlineCall:/);
    await signInConsole(page, gridd, 'op');
    const sent = callsSent(page);

    await page.getByTestId('caller-phone').fill('12ab');
    // Enter moves on to the next field; it never submits a half-filled call.
    await page.getByTestId('caller-phone').press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'caller-name');
    await chooseCategory(page, '乱堆', 'E0507');
    await typePoint(page, XINAN_POINTS[6]);
    assert.equal(sent.length, 0, 'nothing sent before the operator submits');
    await page.getByTestId('call-submit').click();

    // The server names caller.phone: its reason is next to the phone box, which has the focus.
    const phoneError = page.getByTestId('error-caller-phone');
    await phoneError.waitFor({ state: 'visible' });
    assert.match(await phoneError.textContent(), /来电电话/);
    assert.match(await phoneError.getByTestId('error-detail').textContent(), /digit/i);
    assert.equal(await page.evaluate(() => document.activeElement.id), 'caller-phone');
    assert.equal(await page.getByTestId('caller-phone').getAttribute('aria-invalid'), 'true');
    const box = await page.getByTestId('caller-phone').boundingBox();
    const err = await phoneError.boundingBox();
    assert.ok(err.y >= box.y + box.height - 1 && err.y - (box.y + box.height) < 40, 'the reason is right under the phone box');
    await browser.screenshot('console-refused');

    // Correcting the number clears its mark; the empty description is refused next.
    await page.getByTestId('caller-phone').fill('13900003333');
    await phoneError.waitFor({ state: 'hidden' });
    await page.keyboard.press('Control+Enter');
    const descError = page.getByTestId('error-description');
    await descError.waitFor({ state: 'visible' });
    assert.equal(await page.evaluate(() => document.activeElement.id), 'description-input');

    await page.getByTestId('description-input').fill('楼道口堆放建筑垃圾');
    await page.keyboard.press('Control+Enter');
    const reference = await waitForReference(page);
    assert.ok(reference, 'the corrected call is logged');
    assert.equal(sent.length, 3);
    assert.equal(new Set(sent.map((r) => r.idempotencyKey)).size, 1, 'one call, one key, however many attempts');
  });
});
