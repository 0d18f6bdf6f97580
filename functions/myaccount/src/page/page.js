// My Account: signs in to Warden as the public client `myaccount` (authorization code +
// PKCE S256; state and verifier in sessionStorage), keeps the access token in
// sessionStorage, lists the person's sessions through the Me API and ends one, all, or all
// others. Any 401 drops the token and restarts the sign-in (after ending its own session the
// page's token is revoked, so it signs itself out).
(() => {
  'use strict';
  const issuer = document.body.dataset.issuer;
  const CLIENT_ID = 'myaccount';
  const REDIRECT_URI = issuer + '/myaccount';
  const SCOPE = 'openid profile internal_login';
  const API = issuer + '/api/users/v1/me/sessions';
  const K = {
    token: 'warden.myaccount.token',
    state: 'warden.myaccount.state',
    verifier: 'warden.myaccount.verifier',
    tries: 'warden.myaccount.signin-tries',
  };
  const $ = (id) => document.getElementById(id);
  const SIGNED_OUT = new Error('signed out');

  function setStatus(text) { $('status').textContent = text; }

  function b64url(bytes) {
    let s = '';
    for (const b of bytes) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function random(n) {
    const a = new Uint8Array(n);
    crypto.getRandomValues(a);
    return b64url(a);
  }

  function showSignIn(message) {
    $('sessions-section').hidden = true;
    $('signin').hidden = false;
    $('signin-msg').textContent = message;
    setStatus('Signed out.');
  }

  // Start the authorization code flow with PKCE S256.
  async function signIn() {
    sessionStorage.removeItem(K.token);
    const tries = Number(sessionStorage.getItem(K.tries) || '0') + 1;
    if (tries > 3) {
      sessionStorage.removeItem(K.tries);
      showSignIn('Signing in did not work. Try again.');
      return;
    }
    sessionStorage.setItem(K.tries, String(tries));
    const verifier = random(32);
    const state = random(16);
    const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
    sessionStorage.setItem(K.verifier, verifier);
    sessionStorage.setItem(K.state, state);
    const u = new URL(issuer + '/oauth2/authorize');
    u.search = new URLSearchParams({
      response_type: 'code',
      client_id: CLIENT_ID,
      redirect_uri: REDIRECT_URI,
      scope: SCOPE,
      state,
      code_challenge: b64url(new Uint8Array(digest)),
      code_challenge_method: 'S256',
    }).toString();
    setStatus('Signing in…');
    location.assign(u.toString());
  }

  // Back from /oauth2/authorize with a code: check state, exchange the code.
  async function finishSignIn(params) {
    const state = sessionStorage.getItem(K.state);
    const verifier = sessionStorage.getItem(K.verifier);
    sessionStorage.removeItem(K.state);
    sessionStorage.removeItem(K.verifier);
    history.replaceState(null, '', location.pathname);
    if (!state || !verifier || params.get('state') !== state) {
      showSignIn('The sign-in answer does not belong to this page. Sign in again.');
      return false;
    }
    setStatus('Signing in…');
    let r;
    try {
      r = await fetch(issuer + '/oauth2/token', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: params.get('code'),
          redirect_uri: REDIRECT_URI,
          client_id: CLIENT_ID,
          code_verifier: verifier,
        }),
        credentials: 'omit',
        cache: 'no-store',
      });
    } catch (e) {
      showSignIn('Warden could not be reached. Try again.');
      return false;
    }
    const t = r.ok ? await r.json().catch(() => ({})) : {};
    if (!t.access_token) {
      showSignIn('Signing in failed. Try again.');
      return false;
    }
    sessionStorage.setItem(K.token, t.access_token);
    return true;
  }

  // A Me API call. 401 → drop the token and sign in again.
  async function api(method, url) {
    const token = sessionStorage.getItem(K.token);
    if (!token) { await signIn(); throw SIGNED_OUT; }
    const r = await fetch(url, {
      method,
      headers: { Authorization: 'Bearer ' + token, Accept: 'application/json' },
      credentials: 'omit',
      cache: 'no-store',
    });
    if (r.status === 401) {
      sessionStorage.removeItem(K.token);
      setStatus('Your session has ended. Signing in again…');
      await signIn();
      throw SIGNED_OUT;
    }
    if (!r.ok) {
      const e = await r.json().catch(() => ({}));
      throw new Error(e.description || e.message || ('HTTP ' + r.status));
    }
    return r;
  }

  function fmtTime(ms) {
    const n = Number(ms);
    return Number.isFinite(n) && n > 0 ? new Date(n).toLocaleString() : 'Unknown';
  }

  function label(s) {
    const d = s.device || {};
    return (d.browser || 'Unknown browser') + ' on ' + (d.os || 'an unknown system');
  }

  function row(dl, term, value) {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = value;
    dl.append(dt, dd);
  }

  function render(sessions) {
    const list = $('sessions');
    list.replaceChildren();
    for (const s of sessions) {
      const li = document.createElement('li');
      li.className = 'session' + (s.current ? ' current' : '');
      li.dataset.sessionId = s.id;
      const h = document.createElement('h3');
      h.textContent = label(s);
      if (s.current) {
        const b = document.createElement('span');
        b.className = 'badge';
        b.textContent = 'This device';
        h.append(b);
      }
      const dl = document.createElement('dl');
      const d = s.device || {};
      row(dl, 'Device', (d.type || 'unknown') + ' · ' + (d.os || 'Unknown'));
      row(dl, 'Browser', d.browser || 'Unknown');
      row(dl, 'IP address', s.ip || 'Unknown');
      row(dl, 'Signed in', fmtTime(s.loginTime));
      row(dl, 'Last active', fmtTime(s.lastAccessTime));
      const apps = (s.applications || []).map((a) => a.appName || a.appId);
      row(dl, 'Apps', apps.length ? apps.join(', ') : 'None');
      const end = document.createElement('button');
      end.type = 'button';
      end.className = 'end danger';
      end.textContent = s.current ? 'Sign out here' : 'Sign out';
      end.addEventListener('click', () => endOne(s));
      li.append(h, end, dl);
      list.append(li);
    }
    $('end-others').hidden = !sessions.some((s) => !s.current);
    $('signin').hidden = true;
    $('sessions-section').hidden = false;
    setStatus(sessions.length === 1 ? 'You are signed in on 1 device.'
      : 'You are signed in on ' + sessions.length + ' devices.');
    // ended.js lists the recently ended sessions (issue 20).
    document.dispatchEvent(new CustomEvent('warden:sessions-loaded'));
  }

  async function load() {
    const all = [];
    let url = API + '?limit=100';
    for (let page = 0; url && page < 50; page++) {
      const r = await api('GET', url);
      const body = await r.json();
      all.push(...(body.sessions || []));
      url = body.next || null;
    }
    sessionStorage.removeItem(K.tries);
    render(all);
  }

  function confirmDialog(text, ok) {
    const dlg = $('confirm');
    $('confirm-text').textContent = text;
    $('confirm-ok').textContent = ok;
    return new Promise((resolve) => {
      const done = (v) => {
        $('confirm-ok').removeEventListener('click', yes);
        $('confirm-cancel').removeEventListener('click', no);
        dlg.removeEventListener('cancel', no);
        dlg.close();
        resolve(v);
      };
      const yes = () => done(true);
      const no = (e) => { if (e) e.preventDefault(); done(false); };
      $('confirm-ok').addEventListener('click', yes);
      $('confirm-cancel').addEventListener('click', no);
      dlg.addEventListener('cancel', no);
      dlg.showModal();
    });
  }

  async function act(text, ok, method, url) {
    if (!(await confirmDialog(text, ok))) return;
    const buttons = document.querySelectorAll('button');
    buttons.forEach((b) => { b.disabled = true; });
    setStatus('Signing out…');
    try {
      await api(method, url);
      await load();
    } catch (e) {
      if (e !== SIGNED_OUT) setStatus('Something went wrong: ' + e.message);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  function endOne(s) {
    const text = s.current
      ? 'Sign out of ' + label(s) + '? This is the device you are using now: you will be signed out here.'
      : 'Sign out of ' + label(s) + '?';
    return act(text, 'Sign out', 'DELETE', API + '/' + encodeURIComponent(s.id));
  }

  $('end-others').addEventListener('click', () => act(
    'Sign out of every other session? You stay signed in on this device.',
    'Sign out others', 'DELETE', API + '?exclude=current'));
  $('end-all').addEventListener('click', () => act(
    'Sign out everywhere, including this device?', 'Sign out everywhere', 'DELETE', API));
  $('signin-btn').addEventListener('click', () => {
    sessionStorage.removeItem(K.tries);
    signIn();
  });

  // BEGIN change-password (issue 19 part 1): current + new + confirm; the Me API checks the
  // current password (throttled like a login) and the policy; errors go next to their field.
  const PW_API = issuer + '/api/users/v1/me/password';
  const PW_FIELD_OF = {
    'ACC-40002': 'pw-new-err', 'ACC-40003': 'pw-new-err', 'ACC-40004': 'pw-new-err',
    'ACC-40301': 'pw-current-err',
  };

  function pwErrors(errs) {
    for (const id of ['pw-current-err', 'pw-new-err', 'pw-confirm-err']) {
      $(id).textContent = errs[id] || '';
    }
  }

  async function changePassword(ev) {
    ev.preventDefault();
    const current = $('pw-current').value;
    const next = $('pw-new').value;
    const errs = {};
    if (!current) errs['pw-current-err'] = 'Enter your current password.';
    if (!next) errs['pw-new-err'] = 'Enter a new password.';
    if (next !== $('pw-confirm').value) errs['pw-confirm-err'] = 'The two new passwords differ.';
    pwErrors(errs);
    $('pw-result').textContent = '';
    if (Object.keys(errs).length) return;
    const token = sessionStorage.getItem(K.token);
    if (!token) { await signIn(); return; }
    const here = $('pw-here').checked;
    $('pw-submit').disabled = true;
    let r;
    try {
      r = await fetch(PW_API, {
        method: 'POST',
        headers: {
          Authorization: 'Bearer ' + token,
          Accept: 'application/json',
          'Content-Type': 'application/json',
        },
        body: JSON.stringify({
          currentPassword: current,
          newPassword: next,
          signOutOtherSessions: $('pw-others').checked,
          signOutThisSession: here,
        }),
        credentials: 'omit',
        cache: 'no-store',
      });
    } catch (e) {
      $('pw-result').textContent = 'Warden could not be reached. Try again.';
      $('pw-submit').disabled = false;
      return;
    }
    $('pw-submit').disabled = false;
    if (r.status === 401) {
      sessionStorage.removeItem(K.token);
      await signIn();
      return;
    }
    const body = await r.json().catch(() => ({}));
    if (!r.ok) {
      const field = PW_FIELD_OF[body.code];
      if (field) {
        pwErrors({ [field]: body.code === 'ACC-40301'
          ? 'The current password is not right.' : (body.description || body.message) });
      } else if (r.status === 429) {
        const secs = Number(r.headers.get('Retry-After')) || 60;
        $('pw-result').textContent = 'Too many attempts. Try again in '
          + Math.ceil(secs / 60) + ' minute(s).';
      } else {
        $('pw-result').textContent = 'Something went wrong: '
          + (body.description || body.message || ('HTTP ' + r.status));
      }
      return;
    }
    $('pw-form').reset();
    $('pw-others').checked = true;
    const n = Number(body.sessionsEnded) || 0;
    $('pw-result').textContent = 'Your password was changed. '
      + (n === 1 ? '1 session was' : n + ' sessions were') + ' signed out.';
    if (here) {
      sessionStorage.removeItem(K.token);
      showSignIn('Your password was changed and you were signed out here. Sign in with the new password.');
      return;
    }
    try { await load(); } catch (e) { if (e !== SIGNED_OUT) setStatus(e.message); }
  }

  $('pw-form').addEventListener('submit', changePassword);
  // END change-password

  async function main() {
    const p = new URLSearchParams(location.search);
    if (p.has('error')) {
      history.replaceState(null, '', location.pathname);
      sessionStorage.removeItem(K.state);
      sessionStorage.removeItem(K.verifier);
      showSignIn('Sign-in was not completed (' + p.get('error') + ').');
      return;
    }
    if (p.has('code')) {
      if (!(await finishSignIn(p))) return;
    }
    if (!sessionStorage.getItem(K.token)) {
      await signIn();
      return;
    }
    try {
      await load();
    } catch (e) {
      if (e !== SIGNED_OUT) setStatus('Could not load your sessions: ' + e.message);
    }
  }

  main();
})();
