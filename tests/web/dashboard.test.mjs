// The dispatch centre's dashboard in a real browser, against the real engine on the test city
// (limits of seconds): sign-in, live cases on the map and in the lists, manual dispatch, a failed
// check, an overdue case, the language switch and the render time of the city's cells.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGridd, withBrowser, signInOnPage, waitOnPage, findOpenTicket, openCaseBySearch, waitForCaseState, record, XINAN_POINTS } from './harness.mjs';

const LIT = ['green', 'yellow', 'red'];

let gridd;
let hotlineKey;

before(async () => {
  gridd = await startGridd('dashboard', { users: ['disp', 'm1'], hotlineKey: true });
  hotlineKey = gridd.hotlineKey;
});

after(async () => {
  if (gridd) await gridd.dispose();
});

test('a dispatcher signs in and sees the city, the user and the KPI tiles; a wrong password is refused on the sign-in screen', async () => {
  await withBrowser(gridd, { width: 1366, height: 768 }, async (browser) => {
    const { page } = browser;
    await page.goto(gridd.dashboardUrl);
    await page.getByTestId('signin-form').waitFor({ state: 'visible' });
    await browser.screenshot('signin');

    // A wrong password: the browser logs the refused request (401) itself; nothing else may fail.
    const wrongPassword = /status of 401 \(Unauthorized\) \(http:\/\/[^ ]+\/v1\/auth\/sign-in:/;
    browser.allow(wrongPassword);
    await page.getByTestId('signin-username').fill('disp');
    await page.getByTestId('signin-password').fill('not-the-password');
    await page.getByTestId('signin-submit').click();
    const error = page.getByTestId('signin-error');
    await error.waitFor({ state: 'visible' });
    assert.notEqual((await error.textContent()).trim(), '', 'the error says something');
    assert.ok(await page.getByTestId('signin-form').isVisible(), 'still on the sign-in screen');
    assert.ok(await page.getByTestId('dashboard').isHidden(), 'the dashboard stays hidden');
    await browser.screenshot('signin-error');
    browser.disallow(wrongPassword);

    // The right password on the same screen.
    await signInOnPage(page, gridd, 'disp', { navigate: false });
    await page.getByTestId('city-name').filter({ hasText: '新沂市' }).waitFor();
    assert.equal(await page.getByTestId('user-name').textContent(), '王派遣');
    assert.equal(await page.getByTestId('user-role').textContent(), '派遣员');
    for (const tile of ['kpi-filed', 'kpi-dispatched', 'kpi-closed', 'kpi-on-time-disposal-rate', 'kpi-overdue-open']) {
      assert.ok(await page.getByTestId(tile).isVisible(), `tile ${tile} is shown`);
    }
    assert.match(await page.getByTestId('kpi-filed').textContent(), /立案/);
    assert.ok(await page.getByTestId('signin').isHidden(), 'the sign-in screen is gone');
  });
});

test('a report sent over HTTP appears on the map and in the counts at once, and opens from the search box', async (t) => {
  await withBrowser(gridd, { width: 1366, height: 768 }, async (browser) => {
    const { page } = browser;
    await signInOnPage(page, gridd, 'disp');
    const filedBefore = Number(await page.getByTestId('kpi-filed').getAttribute('data-today'));
    // Note in the page when each new case is first held and what colour its cell has then.
    await page.evaluate(() => {
      const known = new Set(window.__gridd.openTickets().map((tk) => tk.id));
      const seen = (window.__testSeen = {});
      window.__testWatch = setInterval(() => {
        for (const tk of window.__gridd.openTickets()) {
          if (known.has(tk.id) || seen[tk.id]) continue;
          seen[tk.id] = { at: Date.now(), colour: window.__gridd.cellColour(tk.cell && tk.cell.cellCode) };
        }
      }, 2);
    });

    // One report, then a few more of other categories at the same place, one at a time: each
    // delay runs from the intake call's answer to the case in __gridd.openTickets().
    const categories = ['E0102', 'E0104', 'E0504', 'E0507', 'C0102'];
    const samples = [];
    let receipt;
    let seen;
    for (const [i, category] of categories.entries()) {
      const sentAt = Date.now();
      const r = await gridd.hotlineCall(hotlineKey, { key: `live-${i}`, category, location: XINAN_POINTS[0] });
      const s = await waitOnPage(page, `case ${r.reference} on the map`, (ref) => window.__testSeen[ref], r.reference, 5000);
      samples.push({ category, fromAnswerMs: s.at - r.answeredAt, fromRequestMs: s.at - sentAt });
      if (i === 0) [receipt, seen] = [r, s];
    }
    await page.evaluate(() => clearInterval(window.__testWatch));
    const fromAnswer = samples.map((x) => x.fromAnswerMs).sort((a, b) => a - b);
    const fromRequest = samples.map((x) => x.fromRequestMs).sort((a, b) => a - b);
    const summary = (v) => `min ${v[0]} / median ${v[v.length >> 1]} / max ${v[v.length - 1]} ms`;
    t.diagnostic(`event-to-screen delay, intake answer -> case in __gridd.openTickets(): first ${samples[0].fromAnswerMs} ms; ${samples.length} reports: ${summary(fromAnswer)}${fromAnswer[0] < 0 ? ' (negative: the page held the case before the client had read its answer)' : ''}`);
    t.diagnostic(`event-to-screen delay, intake request sent -> case in __gridd.openTickets(): ${summary(fromRequest)}`);
    record('eventToScreen', { samples, fromAnswer: summary(fromAnswer), fromRequest: summary(fromRequest) });

    const tk = await page.evaluate(findOpenTicket, receipt.reference);
    assert.equal(tk.state, 'TICKET_STATE_DISPATCHED', 'routed and dispatched at once');
    assert.equal(tk.squadId, 'sq-1');
    assert.ok(tk.cell && tk.cell.cellCode, 'the case is placed in a cell');
    const colour = await page.evaluate((code) => window.__gridd.cellColour(code), tk.cell.cellCode);
    assert.ok(LIT.includes(colour), `the case's cell ${tk.cell.cellCode} is coloured (${colour})`);
    assert.ok(LIT.includes(seen.colour), `the cell was coloured as soon as the case was held (${seen.colour})`);

    // The KPI tiles count it without a reload.
    const filedNow = String(filedBefore + categories.length);
    await page.getByTestId('kpi-filed-today').filter({ hasText: new RegExp(`^\\s*${filedNow}\\s*$`) }).waitFor({ timeout: 10000 });

    await openCaseBySearch(page, receipt.reference);
    assert.equal(await waitForCaseState(page, 'TICKET_STATE_DISPATCHED'), '已派遣');
    assert.match(await page.getByTestId('case-squad').textContent(), /一中队|sq-1/);
    assert.ok((await page.getByTestId('case-report').count()) >= 1, 'its report is listed');
    await browser.screenshot('case-view');
  });
});

test('a failed check sends the case back as rework', async () => {
  // The squad's side over HTTP, as its terminal would: accept, start, resolve.
  const receipt = await gridd.hotlineCall(hotlineKey, { key: 'rework-1', location: XINAN_POINTS[1] });
  const ticket = await gridd.waitForTicket(hotlineKey, receipt.reference, (tk) => tk.state === 'TICKET_STATE_DISPATCHED');
  const member = await gridd.signIn('m1');
  const task = { squadId: 'sq-1', ticketId: ticket.id };
  await gridd.rpc('gridd.v1.SquadService', 'AcceptTask', task, member);
  await gridd.rpc('gridd.v1.SquadService', 'StartTask', task, member);
  const resolved = await gridd.rpc('gridd.v1.SquadService', 'ResolveTask', { task, note: '已处理' }, member);
  assert.equal(resolved.state, 'TICKET_STATE_CHECKING');

  await withBrowser(gridd, { width: 1366, height: 768 }, async (browser) => {
    const { page } = browser;
    await signInOnPage(page, gridd, 'disp');
    await openCaseBySearch(page, ticket.id);
    assert.equal(await waitForCaseState(page, 'TICKET_STATE_CHECKING'), '核查中');
    const fail = page.getByTestId('action-verify_fail');
    assert.equal((await fail.textContent()).trim(), '核查不通过');
    await fail.click();
    await page.getByTestId('form-note').fill('现场仍有垃圾，请重新处理');
    await page.getByTestId('form-submit').click();
    assert.equal(await waitForCaseState(page, 'TICKET_STATE_REWORK'), '返工');
    await page.getByTestId('case-ok').waitFor({ state: 'visible' });
    await waitOnPage(page, 'the case in rework among the open cases',
      (id) => window.__gridd.openTickets().some((x) => x.id === id && x.state === 'TICKET_STATE_REWORK'), ticket.id);
    await browser.screenshot('case-rework');
  });
});

test('a dispatched case nobody accepts goes overdue: its cell turns red and it is listed as overdue', async () => {
  await withBrowser(gridd, { width: 1366, height: 768 }, async (browser) => {
    const { page } = browser;
    await signInOnPage(page, gridd, 'disp');
    // E0201 (非法小广告) must be handled within 2 s in the test city.
    const receipt = await gridd.hotlineCall(hotlineKey, { key: 'overdue-1', category: 'E0201', location: XINAN_POINTS[2], description: '电线杆上贴满小广告' });
    const tk = await waitOnPage(page, `case ${receipt.reference}`, (ref) => {
      const t = window.__gridd.openTickets().find((x) => x.id === ref);
      return t && t.cell ? { id: t.id, cell: t.cell.cellCode, state: t.state } : null;
    }, receipt.reference);
    assert.equal(tk.state, 'TICKET_STATE_DISPATCHED');
    await waitOnPage(page, 'the cell red', (code) => window.__gridd.cellColour(code) === 'red', tk.cell, 20000);
    const item = page.locator(`[data-testid="overdue-item"][data-ticket-id="${tk.id}"]`);
    await item.waitFor({ state: 'visible', timeout: 10000 });
    await item.getByTestId('overdue-lateness').waitFor();
    const live = await page.evaluate(findOpenTicket, tk.id);
    assert.equal(live.overdue, true, 'the case is overdue');
    assert.equal(live.light, 'LIGHT_RED');
    await page.locator('[data-testid="kpi-overdue-open"]:not([data-value="0"])').waitFor({ timeout: 10000 });
    await browser.screenshot('overdue');
  });
});

test('the language switch turns headings and tiles into English and back', async () => {
  await withBrowser(gridd, { width: 1366, height: 768 }, async (browser) => {
    const { page } = browser;
    await signInOnPage(page, gridd, 'disp');
    const text = async (locator) => (await locator.textContent()).replace(/\s+/g, ' ').trim();
    const headings = async () => ({
      map: await text(page.locator('#map-title')),
      kpi: await text(page.locator('#kpi-title')),
      board: await text(page.locator('#board-title')),
      manual: await text(page.locator('#manual-title [data-i18n]')),
      overdue: await text(page.locator('#overdue-title [data-i18n]')),
      signOut: await text(page.getByTestId('sign-out')),
    });
    const tiles = async () => ({
      filed: await text(page.getByTestId('kpi-filed')),
      dispatched: await text(page.getByTestId('kpi-dispatched')),
      overdue: await text(page.getByTestId('kpi-overdue-open')),
    });
    const chinese = { map: '实时地图', kpi: '综合评价', board: '中队排行', manual: '人工派遣', overdue: '超期/督办', signOut: '退出' };
    const english = { map: 'Live map', kpi: 'Performance', board: 'Squad ranking', manual: 'Manual dispatch', overdue: 'Overdue / pressed', signOut: 'Sign out' };
    const assertTiles = (got, words, notWords) => {
      for (const [tile, word] of Object.entries(words)) assert.ok(got[tile].includes(word), `tile ${tile} reads "${word}": ${got[tile]}`);
      for (const [tile, word] of Object.entries(notWords)) assert.ok(!got[tile].includes(word), `tile ${tile} no longer reads "${word}": ${got[tile]}`);
    };
    const zhTiles = { filed: '立案', dispatched: '派遣', overdue: '当前超期' };
    const enTiles = { filed: 'Filed', dispatched: 'Dispatched', overdue: 'Overdue now' };
    assert.deepEqual(await headings(), chinese);
    assertTiles(await tiles(), zhTiles, enTiles);

    await page.getByTestId('lang-switch').click();
    await page.locator('html[lang="en"]').waitFor({ state: 'attached' });
    assert.deepEqual(await headings(), english);
    assertTiles(await tiles(), enTiles, zhTiles);
    assert.equal(await text(page.getByTestId('lang-switch')), '中文');
    await browser.screenshot('english');

    await page.getByTestId('lang-switch').click();
    await page.locator('html[lang="zh-CN"]').waitFor({ state: 'attached' });
    assert.deepEqual(await headings(), chinese);
    assertTiles(await tiles(), zhTiles, enTiles);
  });
});

for (const [width, height] of [[1920, 1080], [1366, 768]]) {
  test(`the whole city's cells render at ${width}×${height}`, async (t) => {
    await withBrowser(gridd, { width, height }, async (browser) => {
      const { page } = browser;
      await signInOnPage(page, gridd, 'disp');
      const render = await page.evaluate(() => ({ ms: window.__gridd.lastRenderMs, cells: window.__gridd.firstRenderCells }));
      assert.ok(Number.isFinite(render.ms) && render.ms > 0, `lastRenderMs is measured (${render.ms})`);
      const status = await page.getByTestId('map-status').textContent();
      const m = /(\d[\d,]*)\s*\/\s*(\d[\d,]*)/.exec(status);
      assert.ok(m, `the map says how many cells it shows (${status})`);
      assert.equal(Number(m[2].replace(/,/g, '')), 12767, 'the demo city has 12,767 cells');
      t.diagnostic(`first full render at ${width}x${height}: ${render.ms.toFixed(1)} ms for ${render.cells} cells (map status: ${status.trim()})`);
      record(`renderMs.${width}x${height}`, { ms: Number(render.ms.toFixed(1)), cells: render.cells, status: status.trim() });
      await browser.screenshot(`dashboard-${width}x${height}`);
    });
  });
}
