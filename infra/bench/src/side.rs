//! The side-by-side run: Warden's local stack and node-oidc-provider, same load generator,
//! same concurrency, same run. Fixed requests go through wrk (`infra/bench/wrk/req.lua`);
//! operations where every request needs a fresh fixture (a new code, a new session) go
//! through a Rust driver that prepares the fixtures first (untimed) and then times only
//! the requests, with the same number of workers as wrk has connections.

use crate::util::{self, client, drive, location, measure, query_param, Jar, Measure};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use warden_core::store::schema::{ClientItem, CodeGrant, IdClaims, SessionItem, UserItem};
use warden_core::{App, Config, Store};

pub const REDIRECT: &str = "http://localhost:9000/callback";
pub const POST_LOGOUT: &str = "http://localhost:9000/";
const NODE: &str = "node-oidc-provider";

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Warden local stack base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    warden: String,
    /// The local stack's storage endpoint (printed by warden-local).
    #[arg(long)]
    dynamodb_endpoint: String,
    #[arg(long, default_value = "warden")]
    table: String,
    /// node-oidc-provider base URL.
    #[arg(long, default_value = "http://127.0.0.1:3001")]
    node: String,
    /// Ceiling server URL.
    #[arg(long, default_value = "http://127.0.0.1:9098/")]
    ceiling: String,
    /// Sink RP base URL (its /backchannel is every client's back-channel URI).
    #[arg(long, default_value = "http://127.0.0.1:9099")]
    sink: String,
    /// Connections (wrk) and workers (driver).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    #[arg(long, default_value_t = 1)]
    wrk_threads: usize,
    /// Seconds per wrk run.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    #[arg(long, default_value = "infra/bench/wrk/req.lua")]
    lua: PathBuf,
    /// Codes minted for each round of the code→token exchange (per provider).
    #[arg(long, default_value_t = 3000)]
    n_token: usize,
    /// Rounds of the exchange, alternating Warden and node-oidc-provider; the median round
    /// of each is reported.
    #[arg(long, default_value_t = 3)]
    token_rounds: usize,
    /// Sessions (with two apps) prepared for end_session (per provider).
    #[arg(long, default_value_t = 1000)]
    n_end_session: usize,
    /// Sessions prepared for "end one session".
    #[arg(long, default_value_t = 2000)]
    n_end_one: usize,
    /// Users with 50 sessions each prepared for "end all of a user's sessions".
    #[arg(long, default_value_t = 40)]
    n_end_all: usize,
    /// Back-to-back (ceiling, Warden) pairs for discovery and JWKS against the ceiling.
    #[arg(long, default_value_t = 3)]
    ceiling_rounds: usize,
    /// Only these operations (comma-separated); default all.
    #[arg(long)]
    only: Option<String>,
    #[arg(long, default_value = "infra/bench/results/side.json")]
    out: PathBuf,
}

fn e<E: std::fmt::Display>(ctx: &'static str) -> impl Fn(E) -> String {
    move |err| format!("{ctx}: {err}")
}

/// Warden fixtures: made in this process against the stack's own table (the same code
/// paths the functions use), then checked over HTTP.
struct WardenFx {
    base: String,
    app: App,
    user: UserItem,
    victim: UserItem,
    a: ClientItem,
    basic: String,
    cookie: String,
    token: String,
    tag: String,
}

struct NodeFx {
    base: String,
    jar: Jar,
    token: String,
    basic: String,
}

fn basic(id: &str, secret: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

fn session_cookie(s: &SessionItem, cookie: &str) -> String {
    format!(
        "{}={}; {}=bs-{}",
        warden_core::session::SESSION_COOKIE,
        cookie,
        warden_core::session::BROWSER_STATE_COOKIE,
        s.sid
    )
}

fn authz_url(base: &str, path: &str, client_id: &str, scope: &str, prompt_none: bool) -> String {
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", scope),
        ("state", "bench-state"),
    ];
    if prompt_none {
        pairs.push(("prompt", "none"));
    }
    warden_core::http::with_query(&format!("{base}{path}"), &pairs)
}

async fn warden_fixtures(a: &Args, http: &reqwest::Client) -> Result<WardenFx, String> {
    let tag = warden_core::platform::crypto::random_id()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(6)
        .collect::<String>()
        .to_lowercase();
    let ddb = warden_core::store::dynamodb_client(Some(&a.dynamodb_endpoint), None).await;
    let store = Store::new(ddb, &a.table);
    let mut config = Config::new(&a.warden, &a.table).map_err(e("config"))?;
    // The stack's key-encryption key (run.sh gives both processes the same one): the
    // fixtures open the stack's signing keys to sign ID-token hints.
    if let Some(kp) = warden_core::config::key_protection_from(
        None,
        std::env::var("WARDEN_KEY_ENCRYPTION_KEY").ok().as_deref(),
    )
    .map_err(e("WARDEN_KEY_ENCRYPTION_KEY"))?
    {
        config.key_protection = kp;
    }
    let app = App::new(
        config,
        store,
        Arc::new(warden_core::outbound::queue::NoQueue),
    );
    let sink = format!("{}/backchannel", a.sink);
    let scopes: Vec<String> = [
        "openid",
        "profile",
        "email",
        "internal_login",
        "internal_session_view",
        "internal_session_delete",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut made = Vec::new();
    for name in ["a", "b"] {
        let (c, secret) = warden_core::admin::create_client(
            &app.store,
            &warden_core::admin::ClientSpec {
                client_id: Some(format!("bench-{name}-{tag}")),
                name: format!("Bench {name}"),
                redirect_uris: vec![REDIRECT.into()],
                post_logout_redirect_uris: vec![POST_LOGOUT.into()],
                backchannel_logout_uri: Some(sink.clone()),
                backchannel_logout_session_required: true,
                scopes: scopes.clone(),
                token_binding: Some("sso-session".into()),
                ..Default::default()
            },
        )
        .await
        .map_err(e("create client"))?;
        made.push((c, secret.unwrap_or_default()));
    }
    let (ca, sa) = made.swap_remove(0);
    let roles: Vec<String> = scopes[3..].to_vec();
    let pw = warden_core::platform::crypto::random_id();
    let user = warden_core::admin::create_user(
        &app.store,
        &format!("bench-{tag}"),
        &pw,
        "Bench User",
        "bench@example.com",
        &roles,
    )
    .await
    .map_err(e("create user"))?;
    let victim = warden_core::admin::create_user(
        &app.store,
        &format!("victim-{tag}"),
        &pw,
        "Victim",
        "victim@example.com",
        &[],
    )
    .await
    .map_err(e("create user"))?;
    let (s, c) = warden_core::session::create(&app, &user, false, "bench", "127.0.0.1")
        .await
        .map_err(e("session"))?;
    let cookie = session_cookie(&s, &c);
    // The main token, through HTTP: prompt=none authorize, then the exchange.
    let url = authz_url(
        &a.warden,
        "/oauth2/authorize",
        &ca.client_id,
        "openid internal_login internal_session_view internal_session_delete",
        true,
    );
    let r = http
        .get(&url)
        .header("cookie", &cookie)
        .send()
        .await
        .map_err(e("authorize"))?;
    let loc = location(&r).unwrap_or_default();
    let code = query_param(&loc, "code").ok_or(format!("warden authorize gave no code: {loc}"))?;
    let b = basic(&ca.client_id, &sa);
    let tok = exchange(http, &format!("{}/oauth2/token", a.warden), &b, &code).await?;
    let token = tok["access_token"]
        .as_str()
        .ok_or("warden: no access_token")?
        .to_string();
    // Ten live sessions to list.
    for _ in 0..9 {
        warden_core::session::create(&app, &user, false, "bench", "127.0.0.1")
            .await
            .map_err(e("session"))?;
    }
    let fx = WardenFx {
        base: a.warden.clone(),
        app,
        user,
        victim,
        a: ca,
        basic: b,
        cookie,
        token,
        tag,
    };
    let _ = &fx.tag;
    Ok(fx)
}

async fn exchange(
    http: &reqwest::Client,
    url: &str,
    basic: &str,
    code: &str,
) -> Result<Value, String> {
    let r = http
        .post(url)
        .header("authorization", basic)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
        ])
        .send()
        .await
        .map_err(e("token"))?;
    let status = r.status();
    let v: Value = r.json().await.map_err(e("token json"))?;
    if !status.is_success() {
        return Err(format!("token exchange {status}: {v}"));
    }
    Ok(v)
}

/// Run node-oidc-provider's authorization (its interaction signs the bench user in and
/// grants consent) to a code, following redirects by hand with `jar`.
async fn node_code(
    http: &reqwest::Client,
    base: &str,
    jar: &mut Jar,
    client_id: &str,
    prompt_none: bool,
) -> Result<String, String> {
    let mut url = authz_url(base, "/auth", client_id, "openid", prompt_none);
    for _ in 0..8 {
        let r = http
            .get(&url)
            .header("cookie", jar.header())
            .send()
            .await
            .map_err(e("node authorize"))?;
        jar.update(r.headers());
        let loc = location(&r).ok_or(format!("node: no redirect from {url}: {}", r.status()))?;
        if loc.starts_with(REDIRECT) {
            return query_param(&loc, "code").ok_or(format!("node: no code in {loc}"));
        }
        url = if loc.starts_with('/') {
            format!("{base}{loc}")
        } else {
            loc
        };
    }
    Err("node: too many redirects".into())
}

async fn node_fixtures(a: &Args, http: &reqwest::Client) -> Result<NodeFx, String> {
    let mut jar = Jar::default();
    let code = node_code(http, &a.node, &mut jar, "bench-a", false).await?;
    let b = basic("bench-a", "secret-bench-a");
    let tok = exchange(http, &format!("{}/token", a.node), &b, &code).await?;
    let token = tok["access_token"]
        .as_str()
        .ok_or("node: no access_token")?
        .to_string();
    // prompt=none must now give a code.
    node_code(http, &a.node, &mut jar.clone(), "bench-a", true).await?;
    Ok(NodeFx {
        base: a.node.clone(),
        jar,
        token,
        basic: b,
    })
}

/// One wrk run; `headers` as (name, value).
fn wrk(
    a: &Args,
    op: &str,
    target: &str,
    url: &str,
    method: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> Result<Measure, String> {
    let hs: Vec<String> = headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    eprintln!("wrk {op} {target} (load {})", util::loadavg());
    let out = std::process::Command::new("wrk")
        .arg("-t")
        .arg(a.wrk_threads.to_string())
        .arg("-c")
        .arg(a.concurrency.to_string())
        .arg("-d")
        .arg(format!("{}s", a.duration))
        .arg("--timeout")
        .arg("5s")
        .arg("-s")
        .arg(&a.lua)
        .arg(url)
        .env("BENCH_METHOD", method)
        .env("BENCH_BODY", body)
        .env("BENCH_HEADERS", hs.join("\n"))
        .output()
        .map_err(e("wrk (apt-get install -y wrk)"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("BENCH_RESULT "))
        .ok_or(format!(
            "wrk gave no result: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        ))?;
    let v: Value = serde_json::from_str(line).map_err(e("wrk result"))?;
    let n = |k: &str| v[k].as_f64().unwrap_or(0.0);
    let secs = n("duration_us") / 1e6;
    let errors = (n("non2xx3xx") + n("connect") + n("read") + n("write") + n("timeout")) as u64;
    let requests = n("requests") as u64;
    Ok(Measure {
        op: op.into(),
        target: target.into(),
        tool: "wrk".into(),
        concurrency: a.concurrency,
        requests,
        errors,
        seconds: secs,
        rps: if secs > 0.0 {
            (requests.saturating_sub(errors)) as f64 / secs
        } else {
            0.0
        },
        p50_ms: n("p50_us") / 1000.0,
        p99_ms: n("p99_us") / 1000.0,
        note: String::new(),
    })
}

/// A session for `user` that `apps` joined (back-channel URIs set), and tokens for the
/// first app (as a code exchange would issue them). Returns (session, cookie, id_token).
async fn warden_session(
    app: &App,
    user: &UserItem,
    apps: &[&ClientItem],
    with_tokens: bool,
) -> Result<(SessionItem, String, Option<String>), String> {
    let (mut s, c) = warden_core::session::create(app, user, false, "bench", "127.0.0.1")
        .await
        .map_err(e("session"))?;
    for cl in apps {
        s = warden_core::session::touch(app, &s, Some((&cl.client_id, &cl.name, true)))
            .await
            .map_err(e("touch"))?
            .ok_or("session ended")?;
    }
    let mut idt = None;
    if with_tokens {
        if let Some(first) = apps.first() {
            let issued = warden_core::oauth::tokens::issue_for_code(
                app,
                first,
                &CodeGrant::for_session(
                    &s,
                    &first.client_id,
                    REDIRECT,
                    "openid",
                    IdClaims::default(),
                    warden_core::platform::time::now_s() + 60,
                ),
                None,
                &warden_core::platform::crypto::random_id(),
            )
            .await
            .map_err(|err| format!("issue: {err:?}"))?;
            idt = Some(
                warden_core::oauth::tokens::id_token(
                    app,
                    &first.client_id,
                    Some(user),
                    &issued,
                    None,
                )
                .await
                .map_err(e("id_token"))?,
            );
        }
    }
    Ok((s, c, idt))
}

async fn sink_count(http: &reqwest::Client, sink: &str) -> u64 {
    match http.get(format!("{sink}/count")).send().await {
        Ok(r) => r
            .text()
            .await
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0),
        Err(_) => 0,
    }
}

async fn wait_sink(http: &reqwest::Client, sink: &str, target: u64) -> (u64, Duration) {
    let t = std::time::Instant::now();
    loop {
        let n = sink_count(http, sink).await;
        if n >= target || t.elapsed() > Duration::from_secs(20) {
            return (n, t.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn run(a: Args) -> Result<(), String> {
    let want = |op: &str| {
        a.only
            .as_deref()
            .is_none_or(|o| o.split(',').any(|x| x.trim() == op))
    };
    let c = a.concurrency;
    let http = client(c * 2);
    let load_before = util::loadavg();
    eprintln!("fixtures…");
    let w = Arc::new(warden_fixtures(&a, &http).await?);
    let n = Arc::new(node_fixtures(&a, &http).await?);
    let mut out: Vec<Measure> = Vec::new();
    let form = [("content-type", "application/x-www-form-urlencoded")];

    if want("ceiling") {
        out.push(wrk(&a, "ceiling", "ceiling", &a.ceiling, "GET", "", &[])?);
    }
    if want("discovery") {
        out.push(wrk(
            &a,
            "discovery",
            "warden",
            &format!("{}/.well-known/openid-configuration", w.base),
            "GET",
            "",
            &[],
        )?);
        out.push(wrk(
            &a,
            "discovery",
            NODE,
            &format!("{}/.well-known/openid-configuration", n.base),
            "GET",
            "",
            &[],
        )?);
    }
    if want("jwks") {
        out.push(wrk(
            &a,
            "jwks",
            "warden",
            &format!("{}/oauth2/jwks", w.base),
            "GET",
            "",
            &[],
        )?);
        out.push(wrk(
            &a,
            "jwks",
            NODE,
            &format!("{}/jwks", n.base),
            "GET",
            "",
            &[],
        )?);
    }
    if want("introspect") {
        for (target, url, basic, token) in [
            (
                "warden",
                format!("{}/oauth2/introspect", w.base),
                &w.basic,
                &w.token,
            ),
            (
                NODE,
                format!("{}/token/introspection", n.base),
                &n.basic,
                &n.token,
            ),
        ] {
            let r = http
                .post(&url)
                .header("authorization", basic.as_str())
                .form(&[("token", token.as_str())])
                .send()
                .await
                .map_err(e("introspect"))?;
            let v: Value = r.json().await.map_err(e("introspect json"))?;
            if v["active"] != json!(true) {
                return Err(format!("{target}: token not active: {v}"));
            }
            let body = format!("token={token}");
            out.push(wrk(
                &a,
                "introspect",
                target,
                &url,
                "POST",
                &body,
                &[form[0], ("authorization", basic.as_str())],
            )?);
        }
    }
    if want("authorize") {
        let wurl = authz_url(&w.base, "/oauth2/authorize", &w.a.client_id, "openid", true);
        let r = http
            .get(&wurl)
            .header("cookie", &w.cookie)
            .send()
            .await
            .map_err(e("authorize"))?;
        let loc = location(&r).unwrap_or_default();
        if query_param(&loc, "code").is_none() {
            return Err(format!("warden prompt=none gave no code: {loc}"));
        }
        out.push(wrk(
            &a,
            "authorize",
            "warden",
            &wurl,
            "GET",
            "",
            &[("cookie", &w.cookie)],
        )?);
        let nurl = authz_url(&n.base, "/auth", "bench-a", "openid", true);
        let ncookie = n.jar.header();
        out.push(wrk(
            &a,
            "authorize",
            NODE,
            &nurl,
            "GET",
            "",
            &[("cookie", &ncookie)],
        )?);
    }
    if want("token") {
        // Rounds alternating the providers; each mints fresh codes (untimed), then times the
        // exchanges. One short run per provider swings with whatever else the two cores do.
        let mut rounds: Vec<Measure> = Vec::new();
        for (round, target) in (0..a.token_rounds.max(1)).flat_map(|r| [(r, "warden"), (r, NODE)]) {
            eprintln!("token {target}: round {round}, minting {} codes", a.n_token);
            let (url, cookie, tok_url, basic) = if target == "warden" {
                (
                    authz_url(&w.base, "/oauth2/authorize", &w.a.client_id, "openid", true),
                    w.cookie.clone(),
                    format!("{}/oauth2/token", w.base),
                    w.basic.clone(),
                )
            } else {
                (
                    authz_url(&n.base, "/auth", "bench-a", "openid", true),
                    n.jar.header(),
                    format!("{}/token", n.base),
                    n.basic.clone(),
                )
            };
            let codes = Arc::new(std::sync::Mutex::new(Vec::new()));
            let (h, cs, u, ck) = (http.clone(), codes.clone(), url.clone(), cookie.clone());
            let (_, errs, _, first) = drive((0..a.n_token).collect(), c, move |_| {
                let (h, cs, u, ck) = (h.clone(), cs.clone(), u.clone(), ck.clone());
                async move {
                    let r = h
                        .get(&u)
                        .header("cookie", ck)
                        .send()
                        .await
                        .map_err(|x| x.to_string())?;
                    let loc = location(&r).unwrap_or_default();
                    let code = query_param(&loc, "code").ok_or(format!("no code: {loc}"))?;
                    if let Ok(mut v) = cs.lock() {
                        v.push(code);
                    }
                    Ok(())
                }
            })
            .await;
            if errs > 0 {
                return Err(format!("{target}: minting codes failed {errs}×: {first:?}"));
            }
            let codes: Vec<String> = codes.lock().map(|v| v.clone()).unwrap_or_default();
            eprintln!("token {target}: exchanging (load {})", util::loadavg());
            let h = http.clone();
            let (lat, errs, wall, first) = drive(codes, c, move |code| {
                let (h, tu, b) = (h.clone(), tok_url.clone(), basic.clone());
                async move {
                    let v = exchange(&h, &tu, &b, &code).await?;
                    // Equal work on both sides: every answer carries all three tokens.
                    if ["id_token", "access_token", "refresh_token"]
                        .iter()
                        .all(|k| v[*k].is_string())
                    {
                        Ok(())
                    } else {
                        Err(format!("an ID, access and refresh token expected: {v}"))
                    }
                }
            })
            .await;
            let note = if errs > 0 {
                format!("errors e.g. {first:?}")
            } else {
                String::new()
            };
            rounds.push(measure("token", target, c, &lat, errs, wall, &note));
        }
        for target in ["warden", NODE] {
            let mut mine: Vec<Measure> = rounds
                .iter()
                .filter(|m| m.target == target)
                .cloned()
                .collect();
            mine.sort_by(|x, y| x.rps.total_cmp(&y.rps));
            let each: Vec<String> = rounds
                .iter()
                .filter(|m| m.target == target)
                .map(|m| format!("{:.0}", m.rps))
                .collect();
            let Some(mut median) = mine.get(mine.len() / 2).cloned() else {
                continue;
            };
            if median.errors == 0 {
                median.note = format!(
                    "median of {} rounds of {} codes, alternating with the other provider (req/s per round: {}); every answer carries an ID token (RS256), an access token and a refresh token",
                    mine.len(),
                    a.n_token,
                    each.join(", ")
                );
            }
            out.push(median);
        }
    }
    if want("end_session") {
        // Warden: sessions with two apps and an ID token, made in-process (untimed).
        let b_client = w
            .app
            .store
            .get_client(&w.a.client_id.replace("bench-a-", "bench-b-"))
            .await
            .map_err(e("client b"))?
            .ok_or("client b missing")?;
        eprintln!("end_session warden: preparing {} sessions", a.n_end_session);
        let prepared = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (w2, p2, bc) = (w.clone(), prepared.clone(), Arc::new(b_client));
        let (_, errs, _, first) = drive((0..a.n_end_session).collect(), 16, move |_| {
            let (w2, p2, bc) = (w2.clone(), p2.clone(), bc.clone());
            async move {
                let (s, ck, idt) = warden_session(&w2.app, &w2.user, &[&w2.a, &bc], true).await?;
                if let Ok(mut v) = p2.lock() {
                    v.push((session_cookie(&s, &ck), idt.unwrap_or_default()));
                }
                Ok(())
            }
        })
        .await;
        if errs > 0 {
            return Err(format!("warden end_session setup: {first:?}"));
        }
        let items: Vec<(String, String)> = prepared.lock().map(|v| v.clone()).unwrap_or_default();
        let before = sink_count(&http, &a.sink).await;
        let (h, base) = (http.clone(), w.base.clone());
        let (lat, errs, wall, first) = drive(items, c, move |(cookie, idt)| {
            let (h, base) = (h.clone(), base.clone());
            async move {
                let url = warden_core::http::with_query(
                    &format!("{base}/oidc/logout"),
                    &[
                        ("id_token_hint", idt.as_str()),
                        ("post_logout_redirect_uri", POST_LOGOUT),
                        ("state", "s"),
                    ],
                );
                let r = h
                    .get(&url)
                    .header("cookie", cookie)
                    .send()
                    .await
                    .map_err(|x| x.to_string())?;
                util::redirected_to(&r, POST_LOGOUT)
            }
        })
        .await;
        let expect = before + 2 * lat.len() as u64;
        let (got, waited) = wait_sink(&http, &a.sink, expect).await;
        let mut note = format!(
            "1 request (GET with id_token_hint, no confirmation); {} of {} back-channel POSTs reached the sink, the last {:.0} ms after the run (sent by the dispatcher, asynchronously)",
            got - before,
            expect - before,
            waited.as_secs_f64() * 1000.0
        );
        if errs > 0 {
            note.push_str(&format!("; errors e.g. {first:?}"));
        }
        out.push(measure("end_session", "warden", c, &lat, errs, wall, &note));

        // node-oidc-provider: each session made over HTTP (two apps, an ID token).
        eprintln!("end_session node: preparing {} sessions", a.n_end_session);
        let prepared = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (h, p2, base) = (http.clone(), prepared.clone(), n.base.clone());
        let (_, errs, _, first) = drive((0..a.n_end_session).collect(), 16, move |_| {
            let (h, p2, base) = (h.clone(), p2.clone(), base.clone());
            async move {
                let mut jar = Jar::default();
                let code = node_code(&h, &base, &mut jar, "bench-a", false).await?;
                node_code(&h, &base, &mut jar, "bench-b", false).await?;
                let v = exchange(
                    &h,
                    &format!("{base}/token"),
                    &basic("bench-a", "secret-bench-a"),
                    &code,
                )
                .await?;
                let idt = v["id_token"].as_str().unwrap_or_default().to_string();
                if let Ok(mut p) = p2.lock() {
                    p.push((jar, idt));
                }
                Ok(())
            }
        })
        .await;
        if errs > 0 {
            return Err(format!("node end_session setup: {first:?}"));
        }
        let items: Vec<(Jar, String)> = prepared.lock().map(|v| v.clone()).unwrap_or_default();
        let before = sink_count(&http, &a.sink).await;
        let (h, base) = (http.clone(), n.base.clone());
        let (lat, errs, wall, first) = drive(items, c, move |(mut jar, idt)| {
            let (h, base) = (h.clone(), base.clone());
            async move {
                let url = warden_core::http::with_query(
                    &format!("{base}/session/end"),
                    &[
                        ("id_token_hint", idt.as_str()),
                        ("post_logout_redirect_uri", POST_LOGOUT),
                        ("state", "s"),
                    ],
                );
                let r = h
                    .get(&url)
                    .header("cookie", jar.header())
                    .send()
                    .await
                    .map_err(|x| x.to_string())?;
                jar.update(r.headers());
                let html = r.text().await.map_err(|x| x.to_string())?;
                let xsrf =
                    util::hidden_input(&html, "xsrf").ok_or("no xsrf in the confirmation form")?;
                let r = h
                    .post(format!("{base}/session/end/confirm"))
                    .header("cookie", jar.header())
                    .form(&[("xsrf", xsrf.as_str()), ("logout", "yes")])
                    .send()
                    .await
                    .map_err(|x| x.to_string())?;
                util::redirected_to(&r, POST_LOGOUT)
            }
        })
        .await;
        let expect = before + 2 * lat.len() as u64;
        let (got, _) = wait_sink(&http, &a.sink, expect).await;
        let mut note = format!(
            "2 requests (GET /session/end → confirmation form, POST /session/end/confirm); {} of {} back-channel POSTs reached the sink (sent inline, before the answer)",
            got - before,
            expect - before
        );
        if errs > 0 {
            note.push_str(&format!("; errors e.g. {first:?}"));
        }
        out.push(measure("end_session", NODE, c, &lat, errs, wall, &note));
    }
    if want("list_sessions") {
        let bearer = format!("Bearer {}", w.token);
        out.push(wrk(
            &a,
            "list_sessions",
            "warden",
            &format!("{}/api/users/v1/me/sessions", w.base),
            "GET",
            "",
            &[("authorization", &bearer)],
        )?);
        if let Some(m) = out.last_mut() {
            m.note = "Me API, a user with 10 live sessions".into();
        }
    }
    if want("end_one") {
        eprintln!("end_one: preparing {} sessions", a.n_end_one);
        let prepared = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (w2, p2) = (w.clone(), prepared.clone());
        let (_, errs, _, first) = drive((0..a.n_end_one).collect(), 16, move |_| {
            let (w2, p2) = (w2.clone(), p2.clone());
            async move {
                let (s, _, _) = warden_session(&w2.app, &w2.victim, &[&w2.a], true).await?;
                if let Ok(mut v) = p2.lock() {
                    v.push(s.sid);
                }
                Ok(())
            }
        })
        .await;
        if errs > 0 {
            return Err(format!("end_one setup: {first:?}"));
        }
        let sids: Vec<String> = prepared.lock().map(|v| v.clone()).unwrap_or_default();
        let before = sink_count(&http, &a.sink).await;
        let (h, base, uid, bearer) = (
            http.clone(),
            w.base.clone(),
            w.victim.user_id.clone(),
            format!("Bearer {}", w.token),
        );
        let (lat, errs, wall, first) = drive(sids, c, move |sid| {
            let (h, base, uid, bearer) = (h.clone(), base.clone(), uid.clone(), bearer.clone());
            async move {
                let r = h
                    .delete(format!("{base}/api/users/v1/{uid}/sessions/{sid}"))
                    .header("authorization", bearer)
                    .send()
                    .await
                    .map_err(|x| x.to_string())?;
                if r.status().is_success() {
                    Ok(())
                } else {
                    Err(r.status().to_string())
                }
            }
        })
        .await;
        let expect = before + lat.len() as u64;
        let (got, _) = wait_sink(&http, &a.sink, expect).await;
        let mut note = format!(
            "Admin API DELETE …/{{user-id}}/sessions/{{id}}; each session has 1 app with a back-channel URI and 1 access+refresh token; {} of {} deliveries reached the sink",
            got - before,
            expect - before
        );
        if errs > 0 {
            note.push_str(&format!("; errors e.g. {first:?}"));
        }
        out.push(measure("end_one", "warden", c, &lat, errs, wall, &note));
    }
    if want("end_all") {
        eprintln!("end_all: preparing {} users × 50 sessions", a.n_end_all);
        let mut users = Vec::new();
        for i in 0..a.n_end_all {
            let u = warden_core::admin::create_user(
                &w.app.store,
                &format!("all-{}-{i}", w.tag),
                "not-used-password",
                "All",
                "all@example.com",
                &[],
            )
            .await
            .map_err(e("create user"))?;
            users.push(u);
        }
        let mut jobs = Vec::new();
        for u in &users {
            for _ in 0..50 {
                jobs.push(u.clone());
            }
        }
        let w2 = w.clone();
        let (_, errs, _, first) = drive(jobs, 16, move |u| {
            let w2 = w2.clone();
            async move {
                warden_session(&w2.app, &u, &[&w2.a], false).await?;
                Ok(())
            }
        })
        .await;
        if errs > 0 {
            return Err(format!("end_all setup: {first:?}"));
        }
        let before = sink_count(&http, &a.sink).await;
        let (h, base, bearer) = (http.clone(), w.base.clone(), format!("Bearer {}", w.token));
        let conc = c.min(a.n_end_all).max(1);
        let uids: Vec<String> = users.iter().map(|u| u.user_id.clone()).collect();
        let (lat, errs, wall, first) = drive(uids, conc, move |uid| {
            let (h, base, bearer) = (h.clone(), base.clone(), bearer.clone());
            async move {
                let r = h
                    .delete(format!("{base}/api/users/v1/{uid}/sessions"))
                    .header("authorization", bearer)
                    .send()
                    .await
                    .map_err(|x| x.to_string())?;
                if r.status().is_success() {
                    Ok(())
                } else {
                    Err(r.status().to_string())
                }
            }
        })
        .await;
        let expect = before + 50 * lat.len() as u64;
        let (got, _) = wait_sink(&http, &a.sink, expect).await;
        let mut note = format!(
            "Admin API DELETE …/{{user-id}}/sessions, 50 sessions each with 1 app with a back-channel URI; {} of {} deliveries reached the sink",
            got - before,
            expect - before
        );
        if errs > 0 {
            note.push_str(&format!("; errors e.g. {first:?}"));
        }
        out.push(measure(
            "end_all_50",
            "warden",
            conc,
            &lat,
            errs,
            wall,
            &note,
        ));
    }

    // Against the ceiling: back-to-back pairs (ceiling, then Warden), so both see the same
    // machine; the median of the pairs' ratios is reported.
    let mut ceiling_pairs = Vec::new();
    if want("ceiling") {
        for (op, path) in [
            ("discovery", "/.well-known/openid-configuration"),
            ("jwks", "/oauth2/jwks"),
        ] {
            if !want(op) {
                continue;
            }
            // The same number of bytes from the ceiling, to tell server overhead from payload.
            let size = http
                .get(format!("{}{path}", w.base))
                .send()
                .await
                .map_err(e("document size"))?
                .bytes()
                .await
                .map_err(e("document size"))?
                .len();
            let sized_url = format!("{}?bytes={size}", a.ceiling.trim_end_matches('/'));
            let mut ratios = Vec::new();
            for _ in 0..a.ceiling_rounds {
                let c = wrk(&a, "ceiling", "ceiling", &a.ceiling, "GET", "", &[])?;
                let cs = wrk(
                    &a,
                    "ceiling",
                    "ceiling (same size)",
                    &sized_url,
                    "GET",
                    "",
                    &[],
                )?;
                let w = wrk(
                    &a,
                    op,
                    "warden",
                    &format!("{}{path}", w.base),
                    "GET",
                    "",
                    &[],
                )?;
                ratios.push(json!({
                    "ceiling_rps": c.rps,
                    "ceiling_same_size_rps": cs.rps,
                    "warden_rps": w.rps,
                    "ratio": w.rps / c.rps.max(1e-9),
                    "ratio_same_size": w.rps / cs.rps.max(1e-9),
                }));
            }
            let median_of = |k: &str| {
                let mut rs: Vec<f64> = ratios.iter().filter_map(|r| r[k].as_f64()).collect();
                rs.sort_by(|x, y| x.total_cmp(y));
                rs.get(rs.len() / 2).copied().unwrap_or(0.0)
            };
            let median = median_of("ratio");
            let median_same = median_of("ratio_same_size");
            ceiling_pairs.push(json!({
                "op": op,
                "bytes": size,
                "pairs": ratios,
                "median_ratio": median,
                "median_ratio_same_size": median_same,
            }));
        }
    }

    let node_version = std::process::Command::new("node")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let provider_version =
        std::fs::read_to_string("infra/bench/node/node_modules/oidc-provider/package.json")
            .ok()
            .and_then(|s| serde_json::from_str::<Value>(&s).ok())
            .and_then(|v| v["version"].as_str().map(str::to_string))
            .unwrap_or_default();
    let doc = json!({
        "date": warden_core::platform::time::now_s(),
        "load_before": load_before,
        "build_profile": std::env::var("WARDEN_BENCH_PROFILE").unwrap_or_else(|_| "?".into()),
        "load_after": util::loadavg(),
        "concurrency": c,
        "wrk_threads": a.wrk_threads,
        "duration_s": a.duration,
        "node": node_version,
        "oidc_provider": provider_version,
        "measures": out,
        "ceiling_pairs": ceiling_pairs,
    });
    let text = serde_json::to_string_pretty(&doc).map_err(e("json"))?;
    util::write_out(&a.out, &text)?;
    Ok(())
}
