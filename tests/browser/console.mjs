// The sessions console in headless Chromium (issue 20).
//
// MODE=denied: the full sign-in through the login page (which names the console: "Sign in
//   to Sessions console", and shows a wrong password inline) as USERNAME/PASSWORD, a user
//   without the session scopes → the "Not allowed" panel, never a broken page.
// MODE=operate: TOKEN (+ SCOPE) put into sessionStorage before the page loads; find the
//   session by IP, check the XSS probes (user agent UA_PROBE, app name PROBE) are text, end
//   it, see its deliveries, wait until DOWN_CLIENT's is dead and replay it.
//
// Env: BASE, MODE, SHOTS, and USERNAME + PASSWORD (denied) or TOKEN, SCOPE, IP, VICTIM_SID,
// UA_PROBE, PROBE, DOWN_CLIENT (operate).
import { launch, need, check } from './lib.mjs';

const base = need('BASE');
const mode = need('MODE');
const shots = need('SHOTS');

const browser = await launch();
try {
  const ctx = await browser.newContext({ viewport: { width: 360, height: 800 } });
  const page = await ctx.newPage();
  const cspErrors = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
  });
  page.on('dialog', (d) => { console.error(`FAILED: a dialog opened: ${d.message()}`); process.exit(1); });
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  const narrow = async (what) => {
    const w = await page.evaluate(() => document.documentElement.scrollWidth);
    check(w <= 360, `${what} readable at 360 px (scrollWidth ${w})`);
  };

  if (mode === 'denied') {
    await page.goto(`${base}/console`);
    await page.waitForURL((u) => u.pathname === '/login', { timeout: 15000 });
    const h1 = await page.textContent('h1');
    check(h1 === 'Sign in to Sessions console', `the login page names the app: ${h1}`);
    const resp = await page.reload();
    const h = resp.headers();
    check(h['x-frame-options'] === 'DENY' && (h['content-security-policy'] || '').includes("frame-ancestors 'none'"),
      'the login page keeps its anti-clickjacking headers');
    await page.fill('input[name=username]', need('USERNAME'));
    await page.fill('input[name=password]', 'wrong password');
    await Promise.all([page.waitForLoadState('load'), page.click('form [type=submit]')]);
    await page.waitForSelector('#login-error');
    check((await page.textContent('#login-error')).includes('incorrect'), 'a wrong password is shown inline');
    check((await page.textContent('h1')) === 'Sign in to Sessions console', 'still named after the error');
    await narrow('the login page');
    await page.screenshot({ path: `${shots}/login-inline-error.png`, fullPage: true });
    await page.fill('input[name=password]', need('PASSWORD'));
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/console', { timeout: 15000 }),
      page.click('form [type=submit]'),
    ]);
    await page.waitForSelector('#denied:not([hidden])', { timeout: 15000 });
    const text = await page.textContent('#denied');
    check(text.includes('Not allowed') && text.includes('internal_session_view'), 'a clear "not allowed" page');
    check(await page.isHidden('#search-section'), 'no broken console behind it');
    await page.screenshot({ path: `${shots}/console-not-allowed.png`, fullPage: true });
    // "Sign in as someone else": Warden asks to confirm the sign-out, then the console
    // starts a new sign-in (the login page again).
    await Promise.all([page.waitForURL((u) => u.pathname === '/oidc/logout'), page.click('#signin-again')]);
    await page.waitForSelector('button[value=yes]');
    await page.screenshot({ path: `${shots}/logout-confirmation.png`, fullPage: true });
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/login', { timeout: 15000 }),
      page.click('button[value=yes]'),
    ]);
    check(true, 'signed out and back to the login page');
    check(cspErrors.length === 0, 'no CSP violations');
    console.log('CONSOLE DENIED OK');
  } else {
    const [token, scope] = [need('TOKEN'), need('SCOPE')];
    await ctx.addInitScript(([t, s]) => {
      if (location.pathname === '/console' && !sessionStorage.getItem('test.injected')) {
        sessionStorage.setItem('test.injected', '1');
        sessionStorage.setItem('warden.console.token', t);
        sessionStorage.setItem('warden.console.scope', s);
      }
    }, [token, scope]);
    const resp = await page.goto(`${base}/console`);
    const csp = resp.headers()['content-security-policy'] || '';
    check(/script-src 'sha256-/.test(csp) && !csp.includes('unsafe-inline'), `strict CSP: ${csp}`);
    await page.waitForSelector('#search-section:not([hidden])', { timeout: 15000 });
    await page.waitForSelector('#results tr', { timeout: 15000 });
    const before = await page.$$eval('#results tr[data-session-id]', (x) => x.length);
    check(before >= 3, `the console opens on every live session (${before})`);
    // Keyboard only: the IP filter, then Enter submits the search.
    await page.focus('#f-ip');
    await page.keyboard.type(need('IP'));
    await page.keyboard.press('Enter');
    const victim = need('VICTIM_SID');
    const row = `#results tr[data-session-id="${victim}"]`;
    await page.waitForFunction((r) => document.querySelectorAll('#results tr[data-session-id]').length === 1
      && document.querySelector(r), row, { timeout: 15000 }).catch(() => {});
    const n = await page.$$eval('#results tr[data-session-id]', (x) => x.length);
    check(n === 1, `the IP filter finds exactly the session (${n})`);
    const cells = await page.$$eval(`${row} td`, (tds) => tds.map((t) => t.textContent));
    check(cells[2] === need('UA_PROBE'), `the user agent probe is text: ${cells[2]}`);
    check(cells[3].includes(need('PROBE')), `the app name probe is text: ${cells[3]}`);
    check(await page.$$eval('main img, main script', (x) => x.length) === 0, 'no markup from the probes');
    await narrow('the console');
    await page.screenshot({ path: `${shots}/console-search.png`, fullPage: true });
    await page.click(`${row} button.end`);
    await page.waitForSelector('dialog#confirm[open]');
    await page.keyboard.press('Tab');
    await page.click('#confirm-ok');
    await page.waitForSelector('#deliveries-section:not([hidden])', { timeout: 15000 });
    await page.waitForFunction((sid) => !document.querySelector(`#results tr[data-session-id="${sid}"]`), victim);
    check(true, 'the ended session left the live list');
    const down = need('DOWN_CLIENT');
    const deadRow = `#deliveries tr[data-client-id="${down}"][data-status="dead"]`;
    for (let i = 0; i < 50 && !(await page.$(deadRow)); i++) {
      await page.waitForTimeout(200);
      await page.click('#refresh-deliveries');
    }
    check(await page.$(deadRow) !== null, 'the down app\'s delivery is dead');
    const d = await page.$$eval(`${deadRow} td`, (tds) => tds.map((t) => t.textContent));
    check(d[2] === '1' && d[3] === '503', `attempts and last HTTP status shown: ${d}`);
    check((await page.textContent('#deliveries-hint')).includes('admin'), 'the end reason is shown');
    await page.screenshot({ path: `${shots}/console-deliveries.png`, fullPage: true });
    await page.click(`${deadRow} button.replay`);
    await page.waitForFunction(() => document.getElementById('status').textContent.includes('queued again'));
    check(true, 'the dead delivery was replayed');
    await page.screenshot({ path: `${shots}/console-replayed.png`, fullPage: true });
    check(cspErrors.length === 0, 'no CSP violations');
    console.log('CONSOLE OPERATE OK');
  }
} finally {
  await browser.close();
}
