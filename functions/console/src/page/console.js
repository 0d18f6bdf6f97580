// Sessions console: signs in to Warden as the public client `warden-console` (authorization code +
// PKCE S256; state and verifier in sessionStorage), keeps the access token in
// sessionStorage, and calls only the Admin API: the global search (filters, keyset paging),
// a user's sessions, ending one or all, a session's logout deliveries and replaying a dead or
// rejected one. Without `internal_session_view` it shows "Not allowed"; without
// `internal_session_delete` it is read-only. Every value is set as text, never as HTML.
(() => {
  'use strict';
  const issuer = document.body.dataset.issuer;
  const CLIENT_ID = 'warden-console';
  const REDIRECT_URI = issuer + '/console';
  const SCOPE = 'openid profile internal_session_view internal_session_delete';
  const API = issuer + '/api/users/v1';
  const K = {
    token: 'warden.console.token',
    scope: 'warden.console.scope',
    state: 'warden.console.state',
    verifier: 'warden.console.verifier',
    tries: 'warden.console.signin-tries',
  };
  const $ = (id) => document.getElementById(id);
  const SIGNED_OUT = new Error('signed out');
  const DENIED = new Error('not allowed');
  let nextUrl = null;
  let view = { kind: 'search', url: null, user: null };
  let shownDeliveries = null;

  function setStatus(text) { $('status').textContent = text; }
  function canDelete() { return (sessionStorage.getItem(K.scope) || '').split(' ').includes('internal_session_delete'); }
  function canView() { return (sessionStorage.getItem(K.scope) || '').split(' ').includes('internal_session_view'); }

  function b64url(bytes) {
    let s = '';
    for (const b of bytes) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function random(n) { const a = new Uint8Array(n); crypto.getRandomValues(a); return b64url(a); }

  function only(id) {
    for (const s of ['denied', 'signin', 'search-section', 'results-section', 'deliveries-section', 'lookup-section']) {
      $(s).hidden = !id.includes(s);
    }
  }

  function showSignIn(message) {
    only(['signin']);
    $('signin-msg').textContent = message;
    setStatus('Signed out.');
  }

  function showDenied(message) {
    only(['denied']);
    if (message) $('denied-msg').textContent = message;
    setStatus('Not allowed.');
  }

  async function signIn() {
    sessionStorage.removeItem(K.token);
    sessionStorage.removeItem(K.scope);
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
      response_type: 'code', client_id: CLIENT_ID, redirect_uri: REDIRECT_URI, scope: SCOPE, state,
      code_challenge: b64url(new Uint8Array(digest)), code_challenge_method: 'S256',
    }).toString();
    setStatus('Signing in…');
    location.assign(u.toString());
  }

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
    let r;
    try {
      r = await fetch(issuer + '/oauth2/token', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code', code: params.get('code'), redirect_uri: REDIRECT_URI,
          client_id: CLIENT_ID, code_verifier: verifier,
        }),
        credentials: 'omit', cache: 'no-store',
      });
    } catch (e) {
      showSignIn('Warden could not be reached. Try again.');
      return false;
    }
    const t = r.ok ? await r.json().catch(() => ({})) : {};
    if (!t.access_token) { showSignIn('Signing in failed. Try again.'); return false; }
    sessionStorage.setItem(K.token, t.access_token);
    sessionStorage.setItem(K.scope, t.scope || '');
    return true;
  }

  // An Admin API call. 401 → sign in again; 403 → "not allowed".
  async function api(method, url) {
    const token = sessionStorage.getItem(K.token);
    if (!token) { await signIn(); throw SIGNED_OUT; }
    const r = await fetch(url, {
      method, headers: { Authorization: 'Bearer ' + token, Accept: 'application/json' },
      credentials: 'omit', cache: 'no-store',
    });
    if (r.status === 401) { sessionStorage.removeItem(K.token); await signIn(); throw SIGNED_OUT; }
    const body = r.status === 204 || r.status === 202 ? {} : await r.json().catch(() => ({}));
    if (r.status === 403) {
      if (method === 'GET') { showDenied(); throw DENIED; }
      throw new Error('Not allowed: ' + (body.description || 'your account may not end sessions.'));
    }
    if (!r.ok) throw new Error(body.description || body.message || ('HTTP ' + r.status));
    return body;
  }

  function fmt(ms) {
    const n = Number(ms);
    return Number.isFinite(n) && n > 0 ? new Date(n).toLocaleString() : '—';
  }
  function cell(tr, value, cls) {
    const td = document.createElement('td');
    if (cls) td.className = cls;
    td.textContent = value == null || value === '' ? '—' : String(value);
    tr.append(td);
    return td;
  }
  function button(text, cls, onClick) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = text;
    if (cls) b.className = cls;
    b.addEventListener('click', onClick);
    return b;
  }

  function renderSessions(sessions, append) {
    const body = $('results');
    if (!append) body.replaceChildren();
    for (const s of sessions) {
      const tr = document.createElement('tr');
      tr.dataset.sessionId = s.id;
      tr.dataset.userId = s.userId;
      cell(tr, s.userId);
      cell(tr, s.ip);
      cell(tr, s.userAgent, 'ua');
      cell(tr, (s.applications || []).map((a) => a.appName || a.appId).join(', '));
      cell(tr, fmt(s.loginTime));
      cell(tr, fmt(s.lastAccessTime));
      const td = document.createElement('td');
      const acts = document.createElement('div');
      acts.className = 'actions';
      if (view.kind !== 'user') acts.append(button('User\u2019s sessions', 'open-user', () => openUser(s.userId)));
      if (canDelete()) acts.append(button('End', 'end danger', () => endOne(s)));
      td.append(acts);
      tr.append(td);
      body.append(tr);
    }
    if (!body.children.length && !append) {
      const tr = document.createElement('tr');
      const td = cell(tr, 'No live session matches.');
      td.colSpan = 7;
      body.append(tr);
    }
  }

  async function loadList(url, append) {
    setStatus('Loading…');
    const body = await api('GET', url);
    renderSessions(body.sessions || [], append);
    nextUrl = body.next || null;
    $('next').hidden = !nextUrl;
    only(['search-section', 'results-section', 'lookup-section'].concat(shownDeliveries ? ['deliveries-section'] : []));
    $('user-actions').hidden = view.kind !== 'user';
    $('end-user').hidden = !canDelete();
    const n = document.querySelectorAll('#results tr[data-session-id]').length;
    setStatus(n === 1 ? '1 session shown.' : n + ' sessions shown.');
  }

  function localToMs(v) {
    if (!v) return null;
    const t = new Date(v).getTime();
    return Number.isFinite(t) ? String(t) : null;
  }

  async function search() {
    const f = new FormData($('search'));
    const q = new URLSearchParams({ limit: '20' });
    for (const k of ['userId', 'appId', 'ip', 'userAgent']) {
      const v = (f.get(k) || '').trim();
      if (v) q.set(k, v);
    }
    for (const k of ['loginTimeFrom', 'loginTimeTo', 'lastAccessTimeFrom', 'lastAccessTimeTo']) {
      const v = localToMs(f.get(k));
      if (v) q.set(k, v);
    }
    view = { kind: 'search', url: API + '/sessions?' + q.toString(), user: null };
    $('results-hint').textContent = 'Live sessions matching the filters, most recently active first.';
    await loadList(view.url, false);
  }

  async function openUser(uid) {
    view = { kind: 'user', url: API + '/' + encodeURIComponent(uid) + '/sessions?limit=50', user: uid };
    $('results-hint').textContent = 'Live sessions of user ' + uid + '.';
    await loadList(view.url, false);
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

  async function guarded(fn) {
    try { await fn(); } catch (e) {
      if (e !== SIGNED_OUT && e !== DENIED) setStatus('Something went wrong: ' + e.message);
    }
  }

  async function endOne(s) {
    if (!(await confirmDialog('End session ' + s.id + ' of user ' + s.userId + '? Its tokens are revoked and its apps told.', 'End session'))) return;
    await guarded(async () => {
      await api('DELETE', API + '/' + encodeURIComponent(s.userId) + '/sessions/' + encodeURIComponent(s.id));
      await showDeliveries(s.userId, s.id);
      await loadList(view.url, false);
      setStatus('Session ' + s.id + ' ended.');
    });
  }

  async function endUser() {
    const uid = view.user;
    if (!uid || !(await confirmDialog('End every live session of user ' + uid + '?', 'End all'))) return;
    await guarded(async () => {
      await api('DELETE', API + '/' + encodeURIComponent(uid) + '/sessions');
      await loadList(view.url, false);
      setStatus('Every session of ' + uid + ' ended.');
    });
  }

  async function showDeliveries(uid, sid) {
    const base = API + '/' + encodeURIComponent(uid) + '/sessions/' + encodeURIComponent(sid) + '/logout-deliveries';
    const body = await api('GET', base);
    shownDeliveries = { uid, sid };
    const rows = $('deliveries');
    rows.replaceChildren();
    for (const d of body.deliveries || []) {
      const tr = document.createElement('tr');
      tr.dataset.clientId = d.clientId;
      tr.dataset.status = d.status;
      cell(tr, d.clientId);
      const st = cell(tr, d.status);
      st.className = 'state state-' + d.status;
      cell(tr, d.attempts);
      cell(tr, d.lastHttpStatus);
      cell(tr, fmt(d.createdAt));
      cell(tr, fmt(d.updatedAt));
      cell(tr, fmt(d.deliveredAt));
      const td = document.createElement('td');
      if (canDelete() && (d.status === 'dead' || d.status === 'rejected')) {
        td.append(button('Replay', 'replay', () => guarded(async () => {
          await api('POST', base + '/' + encodeURIComponent(d.clientId) + '/replay');
          setStatus('Delivery to ' + d.clientId + ' queued again.');
          await showDeliveries(uid, sid);
        })));
      }
      tr.append(td);
      rows.append(tr);
    }
    if (!rows.children.length) {
      const tr = document.createElement('tr');
      const td = cell(tr, 'No app of this session has a back-channel logout URI.');
      td.colSpan = 8;
      rows.append(tr);
    }
    const why = body.endedReason ? ' Ended: ' + body.endedReason + ' at ' + fmt(body.endedAt) + '.' : ' Still live.';
    $('deliveries-hint').textContent = 'Session ' + sid + ' of user ' + uid + '.' + why;
    $('deliveries-section').hidden = false;
  }

  $('search').addEventListener('submit', (e) => { e.preventDefault(); guarded(search); });
  $('next').addEventListener('click', () => guarded(() => loadList(nextUrl, true)));
  $('end-user').addEventListener('click', () => endUser());
  $('back-to-search').addEventListener('click', () => guarded(search));
  $('refresh-deliveries').addEventListener('click', () => shownDeliveries
    && guarded(() => showDeliveries(shownDeliveries.uid, shownDeliveries.sid)));
  $('lookup').addEventListener('submit', (e) => {
    e.preventDefault();
    const f = new FormData($('lookup'));
    guarded(() => showDeliveries(String(f.get('user')).trim(), String(f.get('session')).trim()));
  });
  $('signin-btn').addEventListener('click', () => { sessionStorage.removeItem(K.tries); signIn(); });
  $('signin-again').addEventListener('click', () => {
    // Sign out of Warden (it asks to confirm), then back here to sign in again.
    sessionStorage.removeItem(K.tries);
    sessionStorage.removeItem(K.token);
    sessionStorage.removeItem(K.scope);
    location.assign(issuer + '/oidc/logout?' + new URLSearchParams({
      client_id: CLIENT_ID, post_logout_redirect_uri: REDIRECT_URI,
    }).toString());
  });

  async function main() {
    const p = new URLSearchParams(location.search);
    if (p.has('error')) {
      history.replaceState(null, '', location.pathname);
      showSignIn('Sign-in was not completed (' + p.get('error') + ').');
      return;
    }
    if (p.has('code') && !(await finishSignIn(p))) return;
    if (!sessionStorage.getItem(K.token)) { await signIn(); return; }
    sessionStorage.removeItem(K.tries);
    if (!canView()) { showDenied(); return; }
    await guarded(search);
  }

  main();
})();
