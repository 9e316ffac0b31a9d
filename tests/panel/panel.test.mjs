// The admin panel in a real browser: Debian's Chromium, driven by playwright-core, against a live
// `crmsync serve` (throwaway SQLite store, fresh master key) and crmsim, both started here on free
// loopback ports. Run by ctest (tests/panel/CMakeLists.txt), which passes the binaries through
// CRMSYNC_BINARY, CRMSIM_BINARY, CRMSYNC_PLUGIN_DIR and CRMSYNC_PANEL_SCREENSHOTS.
import assert from 'node:assert/strict';
import {spawn, spawnSync} from 'node:child_process';
import {randomBytes} from 'node:crypto';
import fs from 'node:fs';
import {createRequire} from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {after, before, test} from 'node:test';
import {fileURLToPath} from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// What the test needs from outside, or a failure that says what to install.
function prerequisites() {
  const missing = [];
  for (const name of ['CRMSYNC_BINARY', 'CRMSIM_BINARY', 'CRMSYNC_PLUGIN_DIR', 'CRMSYNC_PANEL_SCREENSHOTS']) {
    if (!process.env[name]) missing.push(`${name} is not set (run this test through ctest)`);
  }
  if (!fs.existsSync(path.join(here, 'node_modules', 'playwright-core', 'package.json'))) {
    missing.push('playwright-core is not installed: run tests/panel/setup (npm ci in tests/panel)');
  }
  if (!fs.existsSync(CHROMIUM)) missing.push(`${CHROMIUM} is missing: apt-get install chromium (scripts/deps)`);
  if (missing.length) throw new Error(`cannot run the browser test:\n  ${missing.join('\n  ')}`);
  return createRequire(path.join(here, 'package.json'))('playwright-core');
}

// A free loopback port (bound for a moment, then released).
function free_port() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resume) => setTimeout(resume, ms));

// Waits for a child's exit after a signal; kills it if it takes longer than timeout_ms.
function stop(child, timeout_ms = 20000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout_ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

const state = {};
const shots = [];

// Saves a screenshot of the page into the build directory.
async function screenshot(name) {
  const file = path.join(process.env.CRMSYNC_PANEL_SCREENSHOTS, `${name}.png`);
  await state.page.screenshot({path: file, fullPage: true});
  shots.push(file);
}

// The admin API as the test sees it (to compare what the panel shows with what the API says).
async function api(method, route, key = state.keys.mindal, body) {
  const response = await fetch(`${state.base}/api/v1${route}`, {method,
    headers: {Authorization: `Bearer ${key}`, 'Content-Type': 'application/json'},
    body: body === undefined ? undefined : JSON.stringify(body)});
  const text = await response.text();
  return {status: response.status, body: text ? JSON.parse(text) : null};
}

// Runs the crmsync CLI on the test's config; its parsed --json output.
function crmsync_json(...args) {
  const run = spawnSync(process.env.CRMSYNC_BINARY, ['--config', state.config, ...args, '--json'],
    {cwd: state.dir, env: state.env, encoding: 'utf8'});
  assert.equal(run.status, 0, `crmsync ${args.join(' ')}: ${run.stderr}`);
  return JSON.parse(run.stdout);
}

// The text of the elements a control's aria-describedby names (its hint and its error).
function described_by(locator) {
  return locator.evaluate((element) => (element.getAttribute('aria-describedby') || '').split(' ')
    .map((id) => document.getElementById(id)?.textContent || '').join(' | '));
}

// Navigates inside the panel and waits for the screen's heading.
async function open(hash, heading) {
  const url = `${state.base}/admin/${hash}`;
  // The same URL again changes no hash, so nothing would be drawn anew: reload instead.
  if (state.page.url() === url) await state.page.reload(); else await state.page.goto(url);
  await state.page.locator('h1', {hasText: heading}).waitFor();
}

async function sign_in(key, heading) {
  await state.page.goto(`${state.base}/admin/`);
  await state.page.waitForURL(/#\/login$/);
  await state.page.getByLabel('API-ключ').fill(key);
  await state.page.getByRole('button', {name: 'Войти'}).click();
  await state.page.locator('h1', {hasText: heading}).waitFor();
}

before(async () => {
  const playwright = prerequisites();
  fs.mkdirSync(process.env.CRMSYNC_PANEL_SCREENSHOTS, {recursive: true});
  state.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crmsync-panel-'));
  state.env = {...process.env, CRMSYNC_PANEL_MASTER_KEY: randomBytes(32).toString('hex')};

  state.sim = spawn(process.env.CRMSIM_BINARY,
    ['--port', '0', '--companies', '1', '--records', '12', '--new-per-hour', '0'],
    {stdio: ['ignore', 'pipe', 'inherit']});
  const sim_port = await new Promise((resolve, reject) => {
    let seen = '';
    state.sim.stdout.on('data', (chunk) => {
      seen += chunk;
      const found = /crmsim listening on 127\.0\.0\.1:(\d+)/.exec(seen);
      if (found) resolve(Number(found[1]));
    });
    state.sim.once('exit', (code) => reject(new Error(`crmsim exited (${code}) before listening`)));
  });
  state.sim_url = `http://127.0.0.1:${sim_port}`;

  const port = await free_port();
  state.base = `http://127.0.0.1:${port}`;
  state.config = path.join(state.dir, 'crmsync.yaml');
  fs.writeFileSync(state.config, [
    `storage: {backend: sqlite, path: ${JSON.stringify(path.join(state.dir, 'crmsync.db'))}}`,
    `plugins: {dir: ${JSON.stringify(process.env.CRMSYNC_PLUGIN_DIR)}, enabled: [yclients, csv, custom]}`,
    'secrets: {master_key_env: CRMSYNC_PANEL_MASTER_KEY}',
    'http: {allow_private: [127.0.0.0/8]}',
    'scheduler: {interval: 3600}',
    `server: {listen: 127.0.0.1, port: ${port}}`,
    'businesses:',
    '  - {id: mindal, name: Миндаль}',
    '  - {id: other, name: Другой салон}',
    ''].join('\n'));
  state.keys = {
    mindal: crmsync_json('api-key', 'create', '--role', 'owner', '--business', 'mindal').key,
    other: crmsync_json('api-key', 'create', '--role', 'owner', '--business', 'other').key,
    admin: crmsync_json('api-key', 'create', '--role', 'admin').key,
  };
  state.serve_log = path.join(state.dir, 'serve.log');
  const log = fs.openSync(state.serve_log, 'w');
  state.serve = spawn(process.env.CRMSYNC_BINARY, ['--config', state.config, 'serve'],
    {cwd: state.dir, env: state.env, stdio: ['ignore', log, log]});
  fs.closeSync(log);
  for (let i = 0; ; ++i) {
    const ready = await fetch(`${state.base}/readyz`).then((r) => r.ok, () => false);
    if (ready) break;
    if (i > 600 || state.serve.exitCode !== null) {
      throw new Error(`crmsync serve did not become ready:\n${fs.readFileSync(state.serve_log, 'utf8')}`);
    }
    await sleep(100);
  }

  state.profile = fs.mkdtempSync(path.join(os.tmpdir(), 'crmsync-chromium-'));
  state.context = await playwright.chromium.launchPersistentContext(state.profile, {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS,
    viewport: {width: 1280, height: 900}, locale: 'ru-RU', timezoneId: 'Europe/Moscow'});
  state.page = state.context.pages()[0] || await state.context.newPage();
  state.page.setDefaultTimeout(30000);
  state.problems = [];
  state.page.on('pageerror', (error) => state.problems.push(`page error: ${error.message}`));
  state.page.on('console', (message) => {
    if (/Content Security Policy|Refused to/.test(message.text())) {
      state.problems.push(`console: ${message.text()}`);
    }
  });
});

after(async () => {
  if (state.context) await state.context.close();
  await stop(state.serve);
  await stop(state.sim);
  for (const dir of [state.dir, state.profile]) {
    if (dir) fs.rmSync(dir, {recursive: true, force: true});
  }
  if (shots.length) console.log(`screenshots:\n  ${shots.join('\n  ')}`);
});

test('sign-in refuses a wrong key next to the field, then an owner lands on their integrations', async () => {
  const {page} = state;
  await page.goto(`${state.base}/admin/`);
  await page.waitForURL(/#\/login$/);
  const key = page.getByLabel('API-ключ');
  await key.fill('csk_not-a-key');
  await page.getByRole('button', {name: 'Войти'}).click();
  await page.locator('.field-error', {hasText: 'Ключ не принят'}).waitFor();
  assert.match(await described_by(key), /Ключ не принят/);
  assert.equal(await key.getAttribute('aria-invalid'), 'true');
  await screenshot('login');
  await key.fill(state.keys.mindal);
  await page.getByRole('button', {name: 'Войти'}).click();
  await page.locator('h1', {hasText: 'Интеграции — Миндаль'}).waitFor();
  assert.match(page.url(), /#\/b\/mindal$/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('crmsync.api_key')), state.keys.mindal);
});

test('configure a YCLIENTS integration through the schema form: 422 field errors, then saved with write-only secrets', async () => {
  const {page} = state;
  await page.getByRole('link', {name: 'Добавить интеграцию'}).click();
  await page.locator('h1', {hasText: 'Новая интеграция — Миндаль'}).waitFor();
  await page.getByLabel('CRM', {exact: true}).selectOption('yclients');
  const company = page.getByLabel('company_id', {exact: true});
  await company.fill('abc');
  await page.getByLabel('partner_token', {exact: true}).fill('partner-secret');
  await page.getByRole('button', {name: 'Save Settings'}).click();
  await page.locator('.field-error:not([hidden])').first().waitFor();
  assert.match(await described_by(company), /type/);
  assert.equal(await company.getAttribute('aria-invalid'), 'true');
  await screenshot('settings-errors');

  await company.fill('4564');
  await page.getByLabel('user_token', {exact: true}).fill('user-secret');
  await page.getByLabel('base_url', {exact: true}).fill(`${state.sim_url}/yclients`);
  await page.getByRole('button', {name: 'Save Settings'}).click();
  await page.locator('h1', {hasText: 'YCLIENTS: mindal-yclients'}).waitFor();
  await page.getByText('✅ Настройки сохранены').waitFor();
  // Secrets come back only as "set": the inputs are empty.
  const partner = page.getByLabel('partner_token', {exact: true});
  assert.equal(await partner.inputValue(), '');
  assert.equal(await partner.getAttribute('placeholder'), 'set');
  assert.match(await described_by(partner), /Задан \(set\)/);
  assert.equal(await page.getByLabel('password', {exact: true}).getAttribute('placeholder'), null);
  assert.equal(await page.getByLabel('company_id', {exact: true}).inputValue(), '4564');
  const stored = await api('GET', '/integrations/mindal-yclients');
  assert.deepEqual(stored.body.secrets, {partner_token: true, user_token: true, password: false});
  assert.equal(stored.body.settings.company_id, 4564);
  assert.equal(stored.body.active, true);

  // A change without retyping the secrets keeps them.
  const saved = await page.getByText('✅ Настройки сохранены').elementHandle();
  await page.getByLabel('page_size', {exact: true}).fill('50');
  await page.getByRole('button', {name: 'Save Settings'}).click();
  await saved.waitForElementState('hidden');
  await page.getByText('✅ Настройки сохранены').waitFor();
  const changed = await api('GET', '/integrations/mindal-yclients');
  assert.equal(changed.body.settings.page_size, 50);
  assert.deepEqual(changed.body.secrets, {partner_token: true, user_token: true, password: false});
  await screenshot('settings');
});

test('Test Connection runs the health check of the saved settings', async () => {
  const {page} = state;
  await page.getByRole('button', {name: 'Test Connection'}).click();
  const line = page.locator('form [role="status"]');
  await line.filter({hasText: '✅'}).waitFor();
  assert.match(await line.textContent(), /✅ Connected to YCLIENTS/);
});

test('Синхронизировать сейчас shows the spinner, then the run summary with its count', async () => {
  const {page} = state;
  await open('#/b/mindal', 'Интеграции — Миндаль');
  const line = page.getByRole('row', {name: /mindal-yclients/}).getByRole('status');
  // Every text the status line takes, however fast the run.
  await line.evaluate((element) => {
    window.seen_status = [];
    new MutationObserver(() => window.seen_status.push(element.textContent))
      .observe(element, {childList: true, subtree: true, characterData: true});
  });
  await page.getByRole('button', {name: 'Синхронизировать сейчас'}).click();
  await line.filter({hasNotText: 'Синхронизация…'}).filter({hasText: /\S/}).waitFor();
  assert.match(await line.textContent(), /✅ Синхронизировано \d+ транзакц/);
  const seen = await page.evaluate(() => window.seen_status);
  assert.equal(seen[0], 'Синхронизация…');
  assert.equal(await line.getAttribute('aria-live'), 'polite');
  const {body} = await api('GET', '/integrations/mindal-yclients/runs?limit=1');
  assert.equal(body.runs[0].status, 'success');
  assert.ok(body.runs[0].inserted > 0);
  assert.equal((await line.textContent()).trim(), body.runs[0].summary);
  assert.notEqual(await page.locator('td[data-label="Последняя синхронизация"] time').count(), 0);
  await screenshot('integrations-synced');
});

test('logs: last 100 newest first, filter by type, raw data on demand, older pages', async () => {
  const {page} = state;
  // 130 more lines (every third an error with its raw data), written to the store directly so
  // that there is more than one page.
  const now = Date.now();
  const rows = Array.from({length: 130}, (_, i) => {
    const type = i % 3 === 0 ? 'error' : 'success';
    const raw = type === 'error' ? `'{"record":${i},"phone":"12345"}'` : 'NULL';
    return `('mindal','mindal-yclients','${type}',${type === 'error' ? "'ParseError'" : 'NULL'},` +
           `'line ${i + 1}',${raw},${now + i})`;
  });
  const seeded = spawnSync('sqlite3', [path.join(state.dir, 'crmsync.db')], {encoding: 'utf8',
    input: 'PRAGMA busy_timeout = 5000;\nINSERT INTO integration_logs (business_id, integration_id, ' +
      `log_type, error_type, message, raw_data, created_at) VALUES ${rows.join(',\n')};\n`});
  assert.equal(seeded.status, 0, seeded.stderr);
  const total = (await api('GET', '/integrations/mindal-yclients/logs?limit=1000')).body.logs.length;
  assert.ok(total >= 130);

  await open('#/i/mindal-yclients/logs', 'Логи: mindal-yclients');
  const items = page.locator('ol.logs > li');
  assert.equal(await items.count(), 100);
  assert.match(await items.first().textContent(), /line 130/);
  assert.match(await items.nth(1).textContent(), /SUCCESS.*line 129/);
  const times = await page.locator('ol.logs time').evaluateAll((all) => all.map((t) => t.dateTime));
  assert.deepEqual([...times].sort().reverse(), times);

  // Raw data on demand.
  const error_line = items.filter({hasText: 'line 130'});
  const toggle = error_line.locator('button[aria-controls]');
  assert.equal(await toggle.textContent(), 'Показать данные');
  assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
  assert.equal(await error_line.locator('pre').isVisible(), false);
  await toggle.click();
  assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
  assert.equal(await toggle.textContent(), 'Скрыть данные');
  assert.equal(await error_line.locator('pre').isVisible(), true);
  assert.match(await error_line.locator('pre').textContent(), /"record": 129/);
  await screenshot('logs');

  // Older pages until none is left.
  const older = page.getByRole('button', {name: 'Более старые'});
  await older.click();
  await page.locator('[role="status"]', {hasText: `Показано записей: ${total}`}).waitFor();
  assert.equal(await items.count(), total);
  assert.equal(await older.isVisible(), false);

  // Errors only.
  const errors = (await api('GET', '/integrations/mindal-yclients/logs?type=error&limit=1000')).body.logs.length;
  assert.ok(errors >= 44);
  await page.getByLabel('Тип записей').selectOption('error');
  await page.locator('[role="status"]', {hasText: `Показано записей: ${errors}`}).waitFor();
  const types = await page.locator('ol.logs .log-type').allTextContents();
  assert.ok(types.every((t) => t === 'ERROR'));
});

test('a failed sync shows ❌ with the reason and the count of failures in a row', async () => {
  const {page} = state;
  // YCLIENTS answers 401 (an expired token) to every request of the next run.
  const fault = await fetch(`${state.sim_url}/_admin/faults`, {method: 'POST',
    body: JSON.stringify({provider: 'yclients', endpoint: '*', kind: 'expired_token', count: 100})});
  assert.equal(fault.ok, true);
  await open('#/b/mindal', 'Интеграции — Миндаль');
  const line = page.getByRole('row', {name: /mindal-yclients/}).getByRole('status');
  await page.getByRole('row', {name: /mindal-yclients/}).getByRole('button', {name: 'Синхронизировать сейчас'}).click();
  await line.filter({hasNotText: 'Синхронизация…'}).filter({hasText: /\S/}).waitFor();
  const {body} = await api('GET', '/integrations/mindal-yclients/runs?limit=1');
  assert.equal(body.runs[0].status, 'failed');
  assert.equal((await line.textContent()).trim(), body.runs[0].summary);
  assert.match(body.runs[0].summary, /^❌ /);
  assert.equal(await fetch(`${state.sim_url}/_admin/faults`, {method: 'DELETE'}).then((r) => r.ok), true);
  const failures = (await api('GET', '/integrations/mindal-yclients')).body.consecutive_failures;
  assert.ok(failures >= 1);
  await open('#/b/mindal', 'Интеграции — Миндаль');
  await page.getByText(`ошибок подряд: ${failures}`).waitFor();
  await screenshot('integrations-failed');
});

test('statistics: the five figures and the 30-day chart of synced transactions and failed runs', async () => {
  const {page} = state;
  const {body: stats} = await api('GET', '/integrations/mindal-yclients/stats');
  await open('#/i/mindal-yclients/stats', 'Статистика интеграции: mindal-yclients');
  const value = (label) => page.locator('.figure', {has: page.locator('dt', {hasText: label})}).locator('dd').textContent();
  assert.ok(stats.total_transactions > 0);
  assert.equal((await value('Всего синхронизировано транзакций')).replace(/\s/g, ''), String(stats.total_transactions));
  assert.match(await value('Последняя успешная синхронизация'), /назад|сейчас/);
  assert.equal(await value('Успешность (30 дней)'), '50,0%');
  assert.equal(await value('Неудачных синхронизаций (30 дней)'), '1');
  assert.match(await value('Среднее время синхронизации'), /^\d+,\d с$/);

  assert.equal(stats.daily.length, 30);
  const synced = page.locator('svg.chart rect.bar.synced');
  const failed = page.locator('svg.chart rect.bar.failed');
  assert.equal(await synced.count(), 30);
  assert.equal(await failed.count(), 30);
  const today = stats.daily[29];
  assert.equal(today.failed_runs, 1);
  assert.equal(today.synced, stats.total_transactions);
  assert.equal(await synced.last().locator('title').textContent(),
    `${today.date}: ${today.synced} транзакций, неудачных запусков: 1`);
  // Today's bars are full height (the maxima); the days before have none.
  assert.equal(Number(await synced.last().getAttribute('height')), 120);
  assert.equal(Number(await failed.last().getAttribute('height')), 40);
  assert.equal(Number(await synced.first().getAttribute('height')), 0);
  const rows = page.locator('figure table tbody tr');
  assert.equal(await rows.count(), 30);
  assert.equal(await rows.last().textContent(), `${today.date}${today.synced}1`);
  await screenshot('stats');
});

test('CSV upload: progress, the summary and the row error report', async () => {
  const {page} = state;
  await open('#/b/mindal/upload', 'Загрузить транзакции — Миндаль');
  await page.getByRole('button', {name: 'Загрузить'}).click();
  const file = page.getByLabel('CSV-файл');
  assert.match(await described_by(file), /Выберите CSV-файл/);
  const csv = 'date,customer_phone,amount,description\n' +
    '2025-11-17 14:30:00,+79991234567,5000,Стрижка\n' +
    '2025-11-17 15:00:00,12345,100,\n' +
    '2025-11-17 16:00:00,+79991234568,abc,\n';
  await file.setInputFiles({name: 'sales.csv', mimeType: 'text/csv', buffer: Buffer.from(csv)});
  await page.getByRole('button', {name: 'Загрузить'}).click();
  await page.getByText('Imported 1 transactions, 2 errors').waitFor();
  const errors = await page.locator('ul.errors li').allTextContents();
  assert.equal(errors.length, 2);
  assert.ok(errors[0].startsWith('Row 3: Invalid phone format (expected +7XXXXXXXXXX)'), errors[0]);
  assert.ok(errors[1].startsWith('Row 4: Amount is not a number'), errors[1]);
  const bars = await page.locator('progress').evaluateAll((all) => all.map((p) => p.value));
  assert.deepEqual(bars, [1, 1]);
  assert.equal(await page.getByLabel('Загрузка файла').count(), 1);
  await screenshot('upload');
});

test('custom connector sandbox: YAML settings and a sample give a per-record report', async () => {
  const {page} = state;
  await open('#/sandbox', 'Песочница коннектора');
  const settings = page.getByLabel('Настройки (YAML или JSON)');
  await settings.fill('name: [unclosed');
  await page.getByRole('button', {name: 'Проверить'}).click();
  assert.match(await described_by(settings), /не YAML\/JSON/);
  await settings.fill([
    'name: In-house',
    'request: {url: "https://crm.example.com/orders"}',
    'auth: {type: none}',
    'mapping:',
    '  external_id: $.id',
    '  amount: $.total',
    '  occurred_at: $.created_at',
    '  customer_phone: $.client.phone',
    ''].join('\n'));
  await page.getByLabel('Пример ответа CRM').fill(JSON.stringify([
    {id: 7, total: '1500.50', created_at: '2025-11-17T14:30:00+03:00', client: {phone: '8 (912) 345-67-89'}},
    {id: 8, total: 'много', created_at: '2025-11-17T15:30:00+03:00', client: {phone: '+79123456780'}}]));
  await page.getByRole('button', {name: 'Проверить'}).click();
  await page.locator('[role="status"]', {hasText: 'Проверка не пройдена'}).waitFor();
  const rows = page.locator('table tbody tr');
  assert.equal(await rows.count(), 2);
  assert.match(await rows.nth(0).textContent(), /ok.*1500\.50 RUB.*\+79123456789/);
  assert.match(await rows.nth(1).textContent(), /error/);
  await screenshot('sandbox');
});

test('an owner of another business sees only their own; a direct URL to another business\'s integration is not found', async () => {
  const {page} = state;
  await page.getByRole('button', {name: 'Выйти'}).click();
  await page.waitForURL(/#\/login$/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('crmsync.api_key')), null);
  await sign_in(state.keys.other, 'Интеграции — Другой салон');
  assert.equal(await page.getByText('mindal-yclients').count(), 0);
  await open('#/i/mindal-yclients', 'Не найдено');
  assert.match(await page.locator('main').textContent(), /not found/);
  await screenshot('not-found');
  await open('#/b/mindal', 'Не найдено');
  await open('#/i/mindal-yclients/logs', 'Не найдено');
  await open('#/', 'Интеграции — Другой салон');
});

test('a platform admin sees every business and opens any of them', async () => {
  const {page} = state;
  await page.getByRole('button', {name: 'Выйти'}).click();
  await sign_in(state.keys.admin, 'Бизнесы');
  const names = await page.locator('main h2').allTextContents();
  assert.deepEqual(names.sort(), ['Другой салон', 'Миндаль']);
  await screenshot('admin-businesses');
  await page.getByRole('link', {name: 'Миндаль'}).click();
  await page.locator('h1', {hasText: 'Интеграции — Миндаль'}).waitFor();
  assert.equal(await page.getByRole('row', {name: /mindal-yclients/}).count(), 1);
});

test('phone width (375 px): no horizontal scroll on any screen', async () => {
  const {page} = state;
  await page.setViewportSize({width: 375, height: 800});
  await page.getByRole('button', {name: 'Выйти'}).click();
  await sign_in(state.keys.mindal, 'Интеграции — Миндаль');
  const screens = [
    ['#/b/mindal', 'Интеграции — Миндаль', 'phone-integrations'],
    ['#/i/mindal-yclients', 'YCLIENTS: mindal-yclients', 'phone-settings'],
    ['#/i/mindal-yclients/logs', 'Логи: mindal-yclients', 'phone-logs'],
    ['#/i/mindal-yclients/stats', 'Статистика интеграции', 'phone-stats'],
    ['#/b/mindal/upload', 'Загрузить транзакции', 'phone-upload'],
    ['#/sandbox', 'Песочница коннектора', 'phone-sandbox'],
    ['#/b/mindal/new', 'Новая интеграция', 'phone-new'],
  ];
  for (const [hash, heading, name] of screens) {
    await open(hash, heading);
    if (name === 'phone-logs') {
      await page.getByRole('button', {name: 'Показать данные'}).first().click();
    }
    const width = await page.evaluate(() => document.scrollingElement.scrollWidth);
    assert.ok(width <= 375, `${hash}: scrollWidth ${width} > 375`);
    await screenshot(name);
  }
  await page.setViewportSize({width: 1280, height: 900});
});

test('keyboard only: Tab to Синхронизировать сейчас, Enter syncs, focus stays visible', async () => {
  const {page} = state;
  await open('#/b/mindal', 'Интеграции — Миндаль');
  let found = false;
  for (let i = 0; i < 40 && !found; ++i) {
    await page.keyboard.press('Tab');
    found = await page.evaluate(() => document.activeElement?.textContent === 'Синхронизировать сейчас' &&
      document.activeElement.dataset.integration === 'mindal-yclients');
  }
  assert.ok(found, 'Tab never reached the sync button');
  assert.ok(await page.evaluate(() => document.activeElement.matches(':focus-visible')));
  const before_runs = (await api('GET', '/integrations/mindal-yclients/runs')).body.runs.length;
  await page.keyboard.press('Enter');
  const line = page.getByRole('row', {name: /mindal-yclients/}).getByRole('status');
  await line.filter({hasNotText: 'Синхронизация…'}).filter({hasText: /\S/}).waitFor();
  assert.match(await line.textContent(), /✅ Синхронизировано \d+ транзакц/);
  assert.equal((await api('GET', '/integrations/mindal-yclients/runs')).body.runs.length, before_runs + 1);
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Синхронизировать сейчас');
  await screenshot('keyboard-sync');
});

test('no script error and no Content-Security-Policy violation on any screen', () => {
  assert.deepEqual(state.problems, []);
});

test('crmsync serve stops cleanly after the session (exit 0, no sanitizer report)', async () => {
  await stop(state.serve);
  const log = fs.readFileSync(state.serve_log, 'utf8');
  assert.equal(state.serve.exitCode, 0, log.slice(-4000));
  assert.doesNotMatch(log, /AddressSanitizer|LeakSanitizer|runtime error:/);
});
