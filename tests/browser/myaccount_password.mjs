// My Account's "Change password" section in headless Chromium (issue 19 part 1).
//
// TOKEN is put into sessionStorage once before the page loads (as after signing in). Then:
// mismatched confirmation → inline error, no request; a wrong current password → inline
// error next to it; a too-short new password → inline error next to it; a good change with
// "Sign out of my other devices" checked (the default) → the result says how many
// sessions ended and the list shows only this device.
//
// Env: BASE, TOKEN, CURRENT (the password now), NEW (the one to set), OTHER_SID, SCREENSHOT.
import { launch, need, check } from './lib.mjs';

const base = need('BASE');
const token = need('TOKEN');
const current = need('CURRENT');
const next = need('NEW');
const otherSid = need('OTHER_SID');
const shot = need('SCREENSHOT');
const TOKEN_KEY = 'warden.myaccount.token';

const browser = await launch();
try {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const cspErrors = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
  });
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  await ctx.addInitScript(([key, t]) => {
    if (location.pathname === '/myaccount' && !sessionStorage.getItem('test.injected')) {
      sessionStorage.setItem('test.injected', '1');
      sessionStorage.setItem(key, t);
    }
  }, [TOKEN_KEY, token]);
  await page.goto(`${base}/myaccount`);
  await page.waitForFunction(() => document.querySelectorAll('#sessions li.session').length === 2,
    null, { timeout: 15000 });
  check(await page.isVisible('#pw-form'), 'the Change password form is shown');
  check(await page.isChecked('#pw-others'), '"Sign out of my other devices" is checked by default');
  check(!(await page.isChecked('#pw-here')), '"Also sign out here" is not');

  const text = (sel) => page.$eval(sel, (e) => e.textContent.trim());
  const submit = async (cur, nw, confirm) => {
    await page.fill('#pw-current', cur);
    await page.fill('#pw-new', nw);
    await page.fill('#pw-confirm', confirm);
    await page.click('#pw-submit');
  };

  await submit(current, next, next + 'x');
  check((await text('#pw-confirm-err')).length > 0, 'a mismatched confirmation is an inline error');

  await submit('not my password', next, next);
  await page.waitForFunction(() => document.getElementById('pw-current-err').textContent.trim() !== '');
  check((await text('#pw-current-err')).includes('not right'), 'a wrong current password: inline error');
  check((await text('#pw-confirm-err')) === '', 'the earlier error is cleared');

  await submit(current, 'short', 'short');
  await page.waitForFunction(() => document.getElementById('pw-new-err').textContent.trim() !== '');
  check((await text('#pw-new-err')).includes('at least 8'), 'a short password: inline error');

  await submit(current, next, next);
  try {
    await page.waitForFunction(() => document.getElementById('pw-result').textContent.includes('changed'),
      null, { timeout: 15000 });
  } catch (e) {
    console.error(`result: ${await text('#pw-result')} / ${await text('#pw-new-err')} / ${await text('#pw-current-err')}`);
    throw e;
  }
  const result = await text('#pw-result');
  check(result.includes('1 session was signed out'), `the result says how many ended: ${result}`);
  await page.waitForFunction((sid) => !document.querySelector(`li.session[data-session-id="${sid}"]`)
    && document.querySelectorAll('#sessions li.session').length === 1, otherSid, { timeout: 10000 });
  check(true, 'the other session is gone; this device stays');
  check(cspErrors.length === 0, 'no CSP violations');
  await page.screenshot({ path: shot, fullPage: true });
  console.log('PASSWORD OK');
} finally {
  await browser.close();
}
