//! Shared pieces: result records, latency statistics, a tiny cookie jar, load average.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// One measured operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Measure {
    /// Operation key (e.g. `discovery`).
    pub op: String,
    /// `warden`, `node-oidc-provider` or `ceiling`.
    pub target: String,
    /// `wrk` or `driver`.
    pub tool: String,
    pub concurrency: usize,
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    #[serde(default)]
    pub note: String,
}

/// p-th percentile (0..=100) of sorted durations, in ms.
pub fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[idx.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// `/proc/loadavg`'s first three fields.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// A minimal cookie jar: name → value, every cookie sent on every request (loopback,
/// one host; attributes ignored, cleared cookies removed).
#[derive(Debug, Clone, Default)]
pub struct Jar(pub BTreeMap<String, String>);

impl Jar {
    pub fn update(&mut self, headers: &reqwest::header::HeaderMap) {
        for v in headers.get_all(reqwest::header::SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            let first = v.split(';').next().unwrap_or("");
            let Some((n, val)) = first.split_once('=') else {
                continue;
            };
            let lower = v.to_ascii_lowercase();
            let expired = val.is_empty()
                || lower.contains("max-age=0")
                || lower.contains("expires=thu, 01 jan 1970");
            if expired {
                self.0.remove(n.trim());
            } else {
                self.0.insert(n.trim().to_string(), val.trim().to_string());
            }
        }
    }
    pub fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// An HTTP client that does not follow redirects.
pub fn client(pool: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(pool)
        .build()
        .unwrap_or_default()
}

/// Write a results or report file, creating its folder; says where it wrote.
pub fn write_out(path: &std::path::Path, text: &str) -> Result<(), String> {
    if let Some(p) = path.parent() {
        let _ = std::fs::create_dir_all(p);
    }
    std::fs::write(path, text).map_err(|e| format!("write {}: {e}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// `Ok` if the response redirects to a URL starting with `prefix`, else what it did.
pub fn redirected_to(r: &reqwest::Response, prefix: &str) -> Result<(), String> {
    let loc = location(r).unwrap_or_default();
    if r.status().is_redirection() && loc.starts_with(prefix) {
        Ok(())
    } else {
        Err(format!("{} {loc}", r.status()))
    }
}

/// `Location` header of a response.
pub fn location(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A query parameter of an absolute or relative URL.
pub fn query_param(loc: &str, name: &str) -> Option<String> {
    let u = url::Url::parse(loc)
        .or_else(|_| url::Url::parse(&format!("http://x{loc}")))
        .ok()?;
    u.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The value of hidden input `name` in an HTML page.
pub fn hidden_input(html: &str, name: &str) -> Option<String> {
    for needle in [
        format!(r#"name="{name}" value=""#),
        format!(r#"name="{name}"  value=""#),
    ] {
        if let Some(i) = html.find(&needle) {
            let start = i + needle.len();
            let end = html[start..].find('"')?;
            return Some(html[start..start + end].to_string());
        }
    }
    // Attributes in another order: find the input tag carrying the name.
    let i = html.find(&format!(r#"name="{name}""#))?;
    let tag_start = html[..i].rfind('<')?;
    let tag_end = i + html[i..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let v = tag.find("value=\"")? + 7;
    let e = tag[v..].find('"')?;
    Some(tag[v..v + e].to_string())
}

/// Run `f` over `items` with `concurrency` workers; returns per-item latencies of the items
/// for which `f` returned `Ok(true)`, the number of failures, and the wall time.
pub async fn drive<T, F, Fut>(
    items: Vec<T>,
    concurrency: usize,
    f: F,
) -> (Vec<Duration>, u64, Duration, Vec<String>)
where
    T: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    use std::sync::{Arc, Mutex};
    let queue = Arc::new(Mutex::new(items.into_iter()));
    let f = Arc::new(f);
    let start = std::time::Instant::now();
    let mut handles = Vec::new();
    for _ in 0..concurrency.max(1) {
        let q = queue.clone();
        let f = f.clone();
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = Vec::new();
            loop {
                let next = q.lock().ok().and_then(|mut it| it.next());
                let Some(item) = next else { break };
                let t = std::time::Instant::now();
                match f(item).await {
                    Ok(()) => lat.push(t.elapsed()),
                    Err(e) => errors.push(e),
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errs = Vec::new();
    for h in handles {
        if let Ok((l, e)) = h.await {
            all.extend(l);
            errs.extend(e);
        }
    }
    let wall = start.elapsed();
    all.sort();
    let n_err = errs.len() as u64;
    errs.truncate(3);
    (all, n_err, wall, errs)
}

/// A measurement from driver latencies.
pub fn measure(
    op: &str,
    target: &str,
    concurrency: usize,
    lat: &[Duration],
    errors: u64,
    wall: Duration,
    note: &str,
) -> Measure {
    let secs = wall.as_secs_f64();
    Measure {
        op: op.into(),
        target: target.into(),
        tool: "driver".into(),
        concurrency,
        requests: lat.len() as u64 + errors,
        errors,
        seconds: secs,
        rps: if secs > 0.0 {
            lat.len() as f64 / secs
        } else {
            0.0
        },
        p50_ms: pct(lat, 50.0),
        p99_ms: pct(lat, 99.0),
        note: note.into(),
    }
}
