// End_session's bounded wait in headless Chromium (issue 20).
//
// 1. FAST_URL (a session whose two apps answer at once): the browser goes straight to the
//    RP's BYE page with its state — no Warden page is ever shown.
// 2. SLOW_URL (a session with one app down): the page lists that app as still trying,
//    shows the app names as text (an XSS probe is in one), and Continue reaches BYE with
//    its state.
//
// Env: BASE, SESSION_COOKIE (name), FAST_COOKIE, SLOW_COOKIE (values), FAST_URL, SLOW_URL,
// BYE, STATE, DOWN_CLIENT, PROBE (the app name with markup), SHOTS (screenshot directory).
import { launch, need, check } from './lib.mjs';

const base = need('BASE');
const cookieName = need('SESSION_COOKIE');
const bye = need('BYE');
const state = need('STATE');
const down = need('DOWN_CLIENT');
const probe = need('PROBE');
const shots = need('SHOTS');

const browser = await launch();
try {
  async function signedIn(value) {
    const ctx = await browser.newContext();
    await ctx.addCookies([{ name: cookieName, value, url: base }]);
    const page = await ctx.newPage();
    page.on('dialog', (d) => { console.error(`FAILED: a dialog opened: ${d.message()}`); process.exit(1); });
    page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
    return page;
  }
  const isBye = (u) => u.startsWith(bye) && new URL(u).searchParams.get('state') === state;

  // 1. Two fast apps: redirect without a page.
  {
    const page = await signedIn(need('FAST_COOKIE'));
    const shown = [];
    page.on('response', (r) => {
      if (r.request().isNavigationRequest() && r.url().startsWith(base)) shown.push(r.status());
    });
    await page.goto(need('FAST_URL'));
    await page.waitForURL((u) => isBye(u.toString()), { timeout: 15000 });
    check(isBye(page.url()), `reached the RP with its state: ${page.url()}`);
    check(shown.length === 1 && shown[0] === 302, `Warden answered only a redirect (${shown})`);
    await page.screenshot({ path: `${shots}/logout-fast-redirect.png`, fullPage: true });
  }

  // 2. One app down: the page lists it as still trying; Continue reaches the RP.
  {
    const page = await signedIn(need('SLOW_COOKIE'));
    const resp = await page.goto(need('SLOW_URL'));
    check(resp.status() === 200, 'the receipts page is shown');
    const csp = resp.headers()['content-security-policy'] || '';
    check(!csp.includes('unsafe-inline') && csp.includes("frame-ancestors 'none'"), `CSP kept: ${csp}`);
    await page.setViewportSize({ width: 360, height: 740 });
    const rows = await page.$$eval('#receipts li', (ls) => ls.map((l) => ({
      id: l.dataset.clientId, state: l.dataset.state, name: l.querySelector('.app-name').textContent, text: l.textContent,
    })));
    console.log(JSON.stringify(rows));
    const d = rows.find((r) => r.id === down);
    check(d && d.state === 'trying' && d.text.includes('Still trying'), 'the app that is down is still being tried');
    check(rows.some((r) => r.state === 'signed-out' && r.text.includes('Signed out')), 'the app that answered is signed out');
    check(rows.some((r) => r.name === probe), 'the probe app name is shown as text');
    check(await page.$$eval('#receipts img, #receipts script', (x) => x.length) === 0, 'no markup from the app name');
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    check(wide <= 360, `readable at 360 px (scrollWidth ${wide})`);
    await page.screenshot({ path: `${shots}/logout-receipts-page.png`, fullPage: true });
    await page.focus('#continue');
    await Promise.all([
      page.waitForURL((u) => isBye(u.toString()), { timeout: 15000 }),
      page.keyboard.press('Enter'),
    ]);
    check(isBye(page.url()), `Continue (keyboard) reached the RP with its state: ${page.url()}`);
    await page.screenshot({ path: `${shots}/logout-continued.png`, fullPage: true });
  }
  console.log('LOGOUT WAIT OK');
} finally {
  await browser.close();
}
