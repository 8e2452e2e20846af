// A case a place's callers repeat hundreds of times, in the dashboard's case view, in a real
// browser against the real engine on the test city: 510 calls about one spot merge into one
// case. The view lists the opening report and the newest 99 and says how many there are; the
// history shows its first 500 entries and fetches the rest when asked, in order, once.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startGridd, withBrowser, signInOnPage, openCaseBySearch, XINAN_POINTS } from './harness.mjs';

const DASHBOARD = { width: 1366, height: 768 };
const CALLS = 510;

let gridd;

before(async () => {
  gridd = await startGridd('storm', { users: ['disp'], hotlineKey: true });
});

after(async () => {
  if (gridd) await gridd.dispose();
});

test('a case of 510 reports lists the newest with the count and pages its history', async () => {
  const key = gridd.hotlineKey;
  const call = async (i) => {
    // One key sends them all: past the per-key burst the engine asks it to slow down (429).
    for (;;) {
      try {
        return await gridd.hotlineCall(key, { key: `storm-${i}`, location: XINAN_POINTS[4], address: '新安路 40 号', description: '垃圾桶满溢' });
      } catch (err) {
        if (err.status !== 429) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  };
  const first = await call(0);
  const id = (await gridd.waitForTicket(key, first.reference, (tk) => Boolean(tk.id))).id;
  const refs = [first.reference];
  for (let i = 1; i < CALLS; i += 1) refs.push((await call(i)).reference);
  const merged = await gridd.waitForTicket(key, first.reference, (tk) => Number(tk.reportCount) === CALLS, 60000);
  assert.equal(merged.id, id, 'every call joined the first case');
  const disp = await gridd.signIn('disp');
  const page1 = await gridd.rpc('gridd.v1.DispatchService', 'GetTicket', { id, includeHistory: true }, disp);
  assert.equal(page1.history.length, 500, 'the first page of the history');
  assert.ok(page1.historyNextPageToken, 'and a token for the rest');

  await withBrowser(gridd, DASHBOARD, async (browser) => {
    const { page } = browser;
    await signInOnPage(page, gridd, 'disp');
    await openCaseBySearch(page, id);
    const listed = await page.getByTestId('case-report').evaluateAll((els) => els.map((el) => el.dataset.reference));
    assert.equal(listed.length, 100, 'the opening report and the newest 99');
    assert.equal(listed[0], refs[0]);
    assert.equal(listed[99], refs[CALLS - 1]);
    assert.match((await page.getByTestId('case-reports-shown').textContent()).trim(), /共 510 条报告/);

    const entries = page.getByTestId('timeline-entry');
    assert.equal(await entries.count(), 500, 'the history\'s first page');
    const more = page.getByTestId('history-more');
    assert.equal((await more.textContent()).trim(), '加载更多记录');
    await browser.screenshot('storm-history-first-page');
    await more.click();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="timeline-entry"]').length > 500);
    const seqs = await entries.evaluateAll((els) => els.map((el) => Number(el.dataset.seq)));
    const whole = [...page1.history.map((e) => Number(e.seq))];
    let token = page1.historyNextPageToken;
    while (token) {
      const next = await gridd.rpc('gridd.v1.DispatchService', 'GetTicket', { id, includeHistory: true, historyPage: { pageToken: token } }, disp);
      whole.push(...next.history.map((e) => Number(e.seq)));
      token = next.historyNextPageToken;
    }
    assert.deepEqual(seqs, whole, 'the whole history, in order, each entry once');
    assert.equal(await more.count(), 0, 'nothing more to fetch');
  });
});
