// My Account, "Recently ended" (issue 20): after the session list loads (page.js sends
// `warden:sessions-loaded`), lists the person's recently ended sessions through the Me API
// (GET /api/users/v1/me/ended-sessions) with when, why and by whom each ended, and per app
// whether it was told (its back-channel receipt). While an app is still being tried the list
// is read again every second, for a while. Everything is set as text (never as HTML).
(() => {
  'use strict';
  const issuer = document.body.dataset.issuer;
  const URL_ENDED = issuer + '/api/users/v1/me/ended-sessions?limit=10';
  const TOKEN_KEY = 'warden.myaccount.token';
  const $ = (id) => document.getElementById(id);
  const WHY = {
    user: 'You signed out of it',
    user_all: 'You signed out everywhere',
    admin: 'An administrator ended it',
    rp_logout: 'You signed out through an app',
    expired: 'It timed out',
    idle_timeout: 'It was unused too long',
    absolute_timeout: 'It reached its maximum lifetime',
    credential_change: 'Your password changed',
    session_limit: 'Too many sessions at once',
    user_disabled: 'Your account was disabled',
    user_switch: 'Someone else signed in on that browser',
    code_replay: 'A sign-in code was used twice',
    refresh_reuse: 'A token was used twice',
    revoked: 'An app revoked it',
  };
  const BY = { you: 'you', administrator: 'an administrator', app: 'the app', timeout: 'timeout', system: 'Warden' };
  const TOLD = {
    'signed-out': 'Signed out \u2713',
    trying: 'Still trying',
    failed: 'Failed',
    'not-needed': 'Not notified (no back-channel logout)',
  };
  let polls = 0;
  let timer = null;

  function fmt(ms) {
    const n = Number(ms);
    return Number.isFinite(n) && n > 0 ? new Date(n).toLocaleString() : 'Unknown';
  }

  function text(tag, cls, value) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    e.textContent = value;
    return e;
  }

  function render(sessions) {
    const list = $('ended');
    list.replaceChildren();
    for (const s of sessions) {
      const li = document.createElement('li');
      li.className = 'card ended';
      li.dataset.sessionId = s.id;
      const d = s.device || {};
      li.append(text('h3', '', (d.browser || 'Unknown browser') + ' on ' + (d.os || 'an unknown system')));
      const why = WHY[s.endedReason] || s.endedReason || 'Ended';
      const meta = text('p', 'hint', 'Ended ' + fmt(s.endedAt) + ' \u00b7 ' + why + ' \u00b7 by ' + (BY[s.endedBy] || s.endedBy));
      meta.dataset.reason = s.endedReason || '';
      meta.dataset.by = s.endedBy || '';
      li.append(meta);
      const ul = document.createElement('ul');
      ul.className = 'receipts';
      for (const a of s.applications || []) {
        const r = document.createElement('li');
        r.dataset.appId = a.appId;
        r.dataset.told = a.told;
        r.append(text('span', 'app-name', a.appName || a.appId),
          text('span', 'state state-' + a.told, TOLD[a.told] || a.told));
        ul.append(r);
      }
      if (!ul.children.length) ul.append(text('li', 'hint', 'No apps were signed in.'));
      li.append(ul);
      list.append(li);
    }
    $('ended-section').hidden = sessions.length === 0;
  }

  async function load() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) return;
    let body;
    try {
      const r = await fetch(URL_ENDED, {
        headers: { Authorization: 'Bearer ' + token, Accept: 'application/json' },
        credentials: 'omit',
        cache: 'no-store',
      });
      if (!r.ok) return;
      body = await r.json();
    } catch (e) {
      return;
    }
    const sessions = body.sessions || [];
    render(sessions);
    const trying = sessions.some((s) => (s.applications || []).some((a) => a.told === 'trying'));
    clearTimeout(timer);
    if (trying && polls < 15) {
      polls += 1;
      timer = setTimeout(load, 1000);
    }
  }

  document.addEventListener('warden:sessions-loaded', () => { polls = 0; load(); });
})();
