// The harness of the dashboard's browser tests: starts the real `gridd` binary on its own engine
// file and SQLite store in a temp dir (the test city, whose limits are seconds), creates accounts
// and machine keys with its command line, talks to it over the HTTP JSON routes as a client
// would, and opens Debian's Chromium (driven by playwright-core) on a fresh profile that records
// every error the page's console shows. Each test saves screenshots of what it saw in output/
// (not kept in git); screenshots/ holds a few of them, copied by hand, for the README.

import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, '../..');
export const GRIDD = process.env.GRIDD_BIN || path.join(REPO, 'target/debug/gridd');
export const TEST_CITY = path.join(REPO, 'tests/fixtures/city/city.toml');
/** The test city with verification before filing (核实) by `sup.xinan` in 新安街道, and replies (回访). */
export const VERIFY_CITY = path.join(REPO, 'tests/fixtures/city-verify/city.toml');
export const OUTPUT = path.join(here, 'output');
export const CHROMIUM = process.env.GRIDD_TEST_CHROMIUM || '/usr/bin/chromium';
export const PASSWORD = 'test-password-1';

/** Points of the test city: XINAN is in 新安街道 and routes to squad sq-1. */
export const XINAN = { lon: 118.35, lat: 34.372, crs: 'COORD_SYSTEM_WGS84' };

/**
 * More points of 新安街道 (each routed to sq-1), each in a cell of its own and more than 50 m from
 * the others, so that reports of the same category there never merge into one case.
 */
export const XINAN_POINTS = [
  XINAN,
  { lon: 118.353, lat: 34.372, crs: 'COORD_SYSTEM_WGS84' },
  { lon: 118.347, lat: 34.372, crs: 'COORD_SYSTEM_WGS84' },
  { lon: 118.35, lat: 34.375, crs: 'COORD_SYSTEM_WGS84' },
  { lon: 118.35, lat: 34.369, crs: 'COORD_SYSTEM_WGS84' },
  { lon: 118.353, lat: 34.375, crs: 'COORD_SYSTEM_WGS84' },
  { lon: 118.347, lat: 34.369, crs: 'COORD_SYSTEM_WGS84' },
];

fs.mkdirSync(OUTPUT, { recursive: true });

// Engines still running when this test process ends (a failed or timed-out test) end with it.
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A free TCP port on loopback (for an engine that must come back on the same ports). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Polls `check` (sync or async) until it answers a truthy value, or fails after `timeout` ms. */
export async function waitFor(what, check, { timeout = 10000, every = 50 } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`);
    }
    await sleep(every);
  }
}

function run(args, input) {
  return new Promise((resolve, reject) => {
    const child = execFile(GRIDD, args, { timeout: 60000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`gridd ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
    child.stdin.end(input ?? '');
  });
}

/** An error answered by gridd's HTTP routes. */
export class HttpError extends Error {
  constructor(status, body) {
    super(`HTTP ${status}: ${JSON.stringify(body)}`);
    this.status = status;
    this.body = body;
  }
}

/** One gridd process (and its restarts) on its own engine file and store. */
export class Gridd {
  /**
   * A new engine in a fresh temp dir, not started yet. `fixedPorts`: bind to chosen free ports
   * instead of port 0, so that a restarted engine comes back at the same address. `city`: the
   * city file (default the test city; VERIFY_CITY for the one that verifies reports first).
   * `retention`: lines of the engine file's [retention] section (none: the shipped retention).
   */
  static async create(name, { fixedPorts = false, city = TEST_CITY, retention = [] } = {}) {
    if (!fs.existsSync(GRIDD)) throw new Error(`${GRIDD} is missing: build it first (cargo build -p gridd --bins)`);
    const g = new Gridd();
    g.name = name;
    g.dir = fs.mkdtempSync(path.join(os.tmpdir(), `gridd-web-${name}-`));
    g.config = path.join(g.dir, 'gridd.toml');
    const grpc = fixedPorts ? `127.0.0.1:${await freePort()}` : '127.0.0.1:0';
    const http = fixedPorts ? `127.0.0.1:${await freePort()}` : '127.0.0.1:0';
    fs.writeFileSync(g.config, [
      '# Written by tests/web/harness.mjs: embedded mode on the test city.',
      `city = ${JSON.stringify(city)}`,
      '',
      '[server]',
      `grpc = ${JSON.stringify(grpc)}`,
      `http = ${JSON.stringify(http)}`,
      '',
      '[store]',
      `sqlite = ${JSON.stringify(path.join(g.dir, 'gridd.db'))}`,
      '',
      '[reload]',
      'poll = "1s"',
      '',
      ...(retention.length ? ['[retention]', ...retention, ''] : []),
    ].join('\n'));
    g.log = path.join(OUTPUT, `gridd-${name}.log`);
    fs.writeFileSync(g.log, '');
    g.child = null;
    g.starts = 0;
    return g;
  }

  /** `gridd user add NAME ROLE [--squad ID] [--name DISPLAY]` with the test password on stdin. */
  async addUser(username, role, { squad, displayName } = {}) {
    const args = ['--config', this.config, 'user', 'add', username, role];
    if (squad) args.push('--squad', squad);
    if (displayName) args.push('--name', displayName);
    await run(args, `${PASSWORD}\n`);
  }

  /** `gridd key create ROLE --name X`: the key it prints. */
  async createKey(role, name) {
    const out = await run(['--config', this.config, 'key', 'create', role, '--name', name]);
    const key = /gk_[0-9A-Za-z_]+/.exec(out);
    if (!key) throw new Error(`gridd key create printed no key: ${out}`);
    return key[0];
  }

  /** Starts the process and waits for its "gridd is running" line. */
  async start() {
    if (this.child) throw new Error('gridd is already running');
    this.starts += 1;
    const log = fs.openSync(this.log, 'a');
    fs.writeSync(log, `\n==== start ${this.starts} ====\n`);
    const child = spawn(GRIDD, ['--config', this.config, 'run'], {
      stdio: ['ignore', 'pipe', log],
      env: { ...process.env, NO_COLOR: '1', RUST_LOG: process.env.GRIDD_TEST_LOG || 'info' },
    });
    fs.closeSync(log);
    this.child = child;
    running.add(child);
    child.once('exit', () => running.delete(child));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    const line = await new Promise((resolve, reject) => {
      let buffer = '';
      const timer = setTimeout(() => reject(new Error(`gridd did not start within 60 s; see ${this.log}`)), 60000);
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk) => {
        fs.appendFileSync(this.log, chunk);
        buffer += chunk;
        const m = /gridd is running: gRPC on (\S+), metrics and health on http:\/\/(\S+)/.exec(buffer);
        if (m) {
          clearTimeout(timer);
          resolve(m);
        }
      });
      this.exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`gridd exited before it was running (code ${code}, signal ${signal}); see ${this.log}`));
      });
    });
    this.grpcAddr = line[1];
    this.httpAddr = line[2];
    this.base = `http://${this.httpAddr}`;
    return this;
  }

  /** SIGTERM, then waits for the process to end (SIGKILL after 15 s). */
  async stop() {
    const child = this.child;
    if (!child) return;
    this.child = null;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  /** Stops the engine and removes its temp dir. */
  async dispose() {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  get dashboardUrl() {
    return `${this.base}/dashboard/`;
  }

  get terminalUrl() {
    return `${this.base}/terminal/`;
  }

  get consoleUrl() {
    return `${this.base}/console/`;
  }

  async post(route, body, token) {
    const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    const res = await fetch(`${this.base}${route}`, { method: 'POST', headers, body: JSON.stringify(body ?? {}) });
    const text = await res.text();
    let json;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = { text };
    }
    if (!res.ok) throw new HttpError(res.status, json);
    return json;
  }

  /** POST /v1/rpc/<service>/<method> in the proto3 JSON mapping. */
  rpc(service, method, body, token) {
    return this.post(`/v1/rpc/${service}/${method}`, body, token);
  }

  /** POST /v1/auth/sign-in: the access token. */
  async signIn(username, password = PASSWORD) {
    const answer = await this.post('/v1/auth/sign-in', { username, password });
    return answer.accessToken;
  }

  /** LogHotlineCall: the receipt ({reference, receivedAt}) and the time its answer arrived. */
  async hotlineCall(token, { key, category = 'E0102', location = XINAN, address = '新安路', description = '路边有垃圾' }) {
    const body = {
      idempotencyKey: key,
      hotline: 'HOTLINE_12345',
      caller: { name: '张三', phone: '13812345678', replyRequired: true },
      category,
      address,
      description,
    };
    if (location) body.location = location;
    const receipt = await this.rpc('gridd.v1.IntakeService', 'LogHotlineCall', body, token);
    return { ...receipt, answeredAt: Date.now() };
  }

  /** GetTicket (the case of a reference once it is routed). */
  async ticket(token, id) {
    return this.rpc('gridd.v1.DispatchService', 'GetTicket', { id }, token);
  }

  /** Waits until the report `reference` is a case in a state `wanted` accepts. */
  async waitForTicket(token, reference, wanted = () => true, timeout = 10000) {
    return waitFor(`case ${reference}`, async () => {
      const r = await this.ticket(token, reference);
      return r.ticket && wanted(r.ticket) ? r.ticket : null;
    }, { timeout, every: 100 });
  }

  /** The last lines of the engine's log (for failure messages). */
  logTail(lines = 30) {
    try {
      return fs.readFileSync(this.log, 'utf8').trim().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }
}

/** The accounts of the browser tests, by user name: the role and what addUser takes besides. */
const ACCOUNTS = {
  op: ['hotline_operator', { displayName: '王芳' }],
  // The verifying city's file names sup.xinan as the supervisor who verifies reports in 新安街道.
  'sup.xinan': ['supervisor', { displayName: '赵监督' }],
  disp: ['dispatcher', { displayName: '王派遣' }],
  lead: ['shift_leader', { displayName: '陈值班' }],
  boss: ['leadership', { displayName: '刘主任' }],
  m1: ['squad_member', { squad: 'sq-1', displayName: '李强' }],
  m2: ['squad_member', { squad: 'sq-2', displayName: '王芳' }],
};

/**
 * A running engine for one test file (see Gridd.create for `opts`): the accounts `users` (names
 * of ACCOUNTS, all with the test password) and, with `hotlineKey`, a machine key of the 12345
 * platform (gridd.hotlineKey).
 */
export async function startGridd(name, { users = [], hotlineKey = false, ...opts } = {}) {
  const g = await Gridd.create(name, opts);
  for (const user of users) {
    const [role, more] = ACCOUNTS[user];
    await g.addUser(user, role, more);
  }
  if (hotlineKey) g.hotlineKey = await g.createKey('hotline_12345', '12345 平台');
  await g.start();
  return g;
}

/** The Chromium flags of this project's browser tests. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/**
 * Opens Chromium on a fresh profile with one page of `width`×`height`. Every console error and
 * uncaught exception of the page is recorded; `browser.allow(re)` accepts console errors whose
 * text matches `re` (for network failures a test causes on purpose, e.g. a refused password or a
 * stopped engine), and `browser.assertNoErrors()` fails on any other.
 */
export async function openBrowser({ width = 1366, height = 768, mobile = false } = {}) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'gridd-web-chromium-'));
  // `mobile`: a phone (touch, the page's viewport meta honoured, a sharp screen).
  const phone = mobile ? { isMobile: true, hasTouch: true, deviceScaleFactor: 2 } : {};
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width, height },
    locale: 'zh-CN',
    timezoneId: 'Asia/Shanghai',
    ...phone,
  });
  const page = context.pages()[0] || (await context.newPage());
  const errors = [];
  const allowed = [];
  const tolerated = [];
  const where = (m) => {
    const loc = m.location();
    return loc && loc.url ? ` (${loc.url}:${loc.lineNumber})` : '';
  };
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = `${m.text()}${where(m)}`;
    if (allowed.some((re) => re.test(text))) {
      tolerated.push(text);
      return;
    }
    errors.push(`console error: ${text}`);
  });
  page.on('pageerror', (err) => errors.push(`uncaught: ${err.stack || err.message}`));
  page.on('crash', () => errors.push('the page crashed'));
  page.setDefaultTimeout(15000);
  return {
    context,
    page,
    errors,
    /** The console errors that matched an allowed pattern. */
    tolerated,
    allow(re) {
      allowed.push(re);
    },
    disallow(re) {
      const i = allowed.indexOf(re);
      if (i >= 0) allowed.splice(i, 1);
    },
    async assertNoErrors() {
      // Errors the page hit while working but caught (e.g. a failing stream handler).
      const handled = await page.evaluate(() => (window.__gridd && window.__gridd.handlerErrors) || []).catch(() => []);
      const all = errors.concat(handled.map((e) => `handler error: ${e}`));
      if (all.length) throw new Error(`the browser reported errors:\n${all.join('\n')}`);
    },
    async screenshot(name) {
      const file = path.join(OUTPUT, `${name}.png`);
      await page.screenshot({ path: file });
      return file;
    },
    async close() {
      await context.close().catch(() => {});
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Runs `body(browser)` in a fresh browser (see openBrowser), then fails on any console error the
 * page showed. On failure it keeps a screenshot in output/ and adds the engine's last log lines.
 */
export async function withBrowser(gridd, opts, body) {
  const browser = await openBrowser(opts);
  try {
    await body(browser);
    await browser.assertNoErrors();
  } catch (err) {
    const shot = await browser.screenshot(`failed-${gridd.name}-${Date.now()}`).catch(() => null);
    err.message += `${shot ? `\n(screenshot: ${shot})` : ''}\n--- gridd log (${gridd.log}) ---\n${gridd.logTail(15)}`;
    throw err;
  } finally {
    await browser.close();
  }
}

/** Opens a case through the header's search box, as a dispatcher would with a case number. */
export async function openCaseBySearch(page, id) {
  await page.getByTestId('search-input').fill(id);
  await page.getByTestId('search-input').press('Enter');
  await page.getByTestId('case-view').waitFor({ state: 'visible' });
  await page.getByTestId('case-field-id').filter({ hasText: id }).waitFor();
}

/** Waits until the open case view shows `state` (e.g. TICKET_STATE_REWORK); answers its label. */
export async function waitForCaseState(page, state, timeout = 10000) {
  await page.locator(`[data-testid="case-state"][data-state="${state}"]`).waitFor({ timeout });
  return (await page.getByTestId('case-state').textContent()).trim();
}

/**
 * Opens an app at `url` (unless `navigate` is false: its sign-in screen is already shown), signs
 * in, and waits for the element `shown` and for the page's hooks (window[hooks]) to say ready.
 */
async function signInApp(page, url, shown, hooks, username, { password = PASSWORD, navigate = true } = {}) {
  if (navigate) await page.goto(url);
  await page.getByTestId('signin-username').fill(username);
  await page.getByTestId('signin-password').fill(password);
  await page.getByTestId('signin-submit').click();
  await page.getByTestId(shown).waitFor({ state: 'visible' });
  await page.waitForFunction((name) => window[name] && window[name].ready === true, hooks, { timeout: 30000 });
}

/** Signs in on the dashboard (see signInApp) and waits for its first full render (`__gridd.ready`). */
export function signInOnPage(page, gridd, username, opts) {
  return signInApp(page, gridd.dashboardUrl, 'dashboard', '__gridd', username, opts);
}

/** Signs in on the squad terminal (see signInApp) and waits until the app runs (`__terminal.ready`). */
export function signInTerminal(page, gridd, username, opts) {
  return signInApp(page, gridd.terminalUrl, 'terminal', '__terminal', username, opts);
}

/** Signs in on the hotline console (see signInApp) and waits until the catalogue and the map are loaded. */
export function signInConsole(page, gridd, username, opts) {
  return signInApp(page, gridd.consoleUrl, 'console', '__console', username, opts);
}

/**
 * Waits until `fn(arg)`, run in the page, answers a truthy value (polled every 50 ms), and
 * returns that value; fails naming `what` after `timeout` ms.
 */
export async function waitOnPage(page, what, fn, arg, timeout = 10000) {
  try {
    const handle = await page.waitForFunction(fn, arg, { timeout, polling: 50 });
    return await handle.jsonValue();
  } catch (err) {
    throw new Error(`the page did not show ${what} within ${timeout} ms: ${err.message.split('\n')[0]}`);
  }
}

/** In-page: the open case of a report reference or case number, as plain data (or null). */
export function findOpenTicket(ref) {
  const tk = window.__gridd.openTickets().find((t) => t.id === ref || (t.reports || []).some((r) => r.reference === ref));
  return tk ? JSON.parse(JSON.stringify(tk)) : null;
}

/** Adds a measurement to output/measurements.json, beside the screenshots of the run. */
export function record(name, value) {
  const file = path.join(OUTPUT, 'measurements.json');
  let all = {};
  try {
    all = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    all = {};
  }
  all[name] = value;
  fs.writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);
}
