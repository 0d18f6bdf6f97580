//! `template.yaml` against the code: one source of truth for the table, the routes and the
//! functions. Fails when the template's table differs from `warden_core::store::schema::table_def()`,
//! when a route of the local stack (`warden_local::routes::ROUTES`) is missing from the
//! template or the reverse (method, path and function), when a `functions/*` crate has no
//! template entry or its `Binary` differs from the crate's `[[bin]]` name, and when the
//! deployment wiring (queue, DLQ, schedule, policies, environment) drifts from what the
//! functions need.

use serde_norway::{Mapping, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// (index name, key schema, projection).
type Gsi = (String, Vec<(String, String)>, String);

fn template() -> Value {
    let text = std::fs::read_to_string(root().join("template.yaml")).expect("read template.yaml");
    serde_norway::from_str(&text).expect("template.yaml is valid YAML")
}

/// `v[k1][k2]...`, `Null` when absent.
fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    static NULL: Value = Value::Null;
    let mut cur = v;
    for k in path {
        cur = match cur.get(*k) {
            Some(x) => x,
            None => return &NULL,
        };
    }
    cur
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn resources(t: &Value) -> &Mapping {
    t.get("Resources")
        .and_then(Value::as_mapping)
        .expect("Resources")
}

/// Logical ids of the resources of one type.
fn of_type<'a>(t: &'a Value, ty: &str) -> Vec<(&'a str, &'a Value)> {
    resources(t)
        .iter()
        .filter(|(_, r)| s(at(r, &["Type"])) == ty)
        .map(|(k, r)| (s(k), r))
        .collect()
}

fn resource<'a>(t: &'a Value, id: &str) -> &'a Value {
    resources(t)
        .get(id)
        .unwrap_or_else(|| panic!("no resource {id}"))
}

/// A function property, falling back to `Globals.Function`.
fn fn_prop<'a>(t: &'a Value, f: &'a Value, key: &str) -> &'a Value {
    match at(f, &["Properties", key]) {
        Value::Null => at(t, &["Globals", "Function", key]),
        v => v,
    }
}

/// `Fn::GetAtt: [X, Attr]` or `Fn::GetAtt: X.Attr` → `X`.
fn getatt_target(v: &Value) -> Option<&str> {
    match v.get("Fn::GetAtt")? {
        Value::Sequence(xs) => xs.first().and_then(Value::as_str),
        Value::String(x) => x.split('.').next(),
        _ => None,
    }
}

fn is_getatt(v: &Value, id: &str, attr: &str) -> bool {
    match v.get("Fn::GetAtt") {
        Some(Value::Sequence(xs)) => {
            xs.len() == 2 && xs[0].as_str() == Some(id) && xs[1].as_str() == Some(attr)
        }
        Some(Value::String(x)) => x == &format!("{id}.{attr}"),
        _ => false,
    }
}

fn is_ref(v: &Value, id: &str) -> bool {
    v.get("Ref").and_then(Value::as_str) == Some(id)
}

/// The `[[bin]]` name of a function crate (simple scan: the manifests are ours).
fn bin_name(manifest: &Path) -> String {
    let text = std::fs::read_to_string(manifest).expect("read Cargo.toml");
    let mut in_bin = false;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with('[') {
            in_bin = l == "[[bin]]";
            continue;
        }
        if in_bin {
            if let Some(rest) = l.strip_prefix("name") {
                let v = rest.trim_start().trim_start_matches('=').trim();
                return v.trim_matches('"').to_string();
            }
        }
    }
    panic!("{} has no [[bin]] name", manifest.display())
}

/// Function crates: folder name → `[[bin]]` name.
fn crates() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(root().join("functions")).expect("functions/") {
        let e = e.expect("dir entry");
        let manifest = e.path().join("Cargo.toml");
        if manifest.exists() {
            out.insert(
                e.file_name().to_string_lossy().into_owned(),
                bin_name(&manifest),
            );
        }
    }
    out
}

/// Template functions: logical id → `Binary`.
fn template_functions(t: &Value) -> BTreeMap<String, String> {
    of_type(t, "AWS::Serverless::Function")
        .into_iter()
        .map(|(id, f)| {
            (
                id.to_string(),
                s(at(f, &["Metadata", "BuildProperties", "Binary"])).to_string(),
            )
        })
        .collect()
}

/// The logical id of the function whose binary is `warden-<name>`.
fn function_id(t: &Value, name: &str) -> String {
    let bin = format!("warden-{name}");
    template_functions(t)
        .into_iter()
        .find(|(_, b)| *b == bin)
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("no template function with Binary {bin}"))
}

fn find_tags(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Tagged(t) => out.push(format!("{path}: {}", t.tag)),
        Value::Mapping(m) => {
            for (k, x) in m {
                find_tags(x, &format!("{path}.{}", s(k)), out);
            }
        }
        Value::Sequence(xs) => {
            for (i, x) in xs.iter().enumerate() {
                find_tags(x, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn uses_long_form_intrinsics_only() {
    let mut tags = Vec::new();
    find_tags(&template(), "", &mut tags);
    assert!(tags.is_empty(), "short-form (!Tag) intrinsics: {tags:?}");
}

#[test]
fn table_matches_schema() {
    let t = template();
    let def = warden_core::store::schema::table_def();
    let tables = of_type(&t, "AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 1, "exactly one table");
    let p = at(tables[0].1, &["Properties"]);

    assert_eq!(s(at(p, &["BillingMode"])), def.billing_mode);
    let keys = |ks: &Value| -> Vec<(String, String)> {
        ks.as_sequence()
            .expect("KeySchema")
            .iter()
            .map(|k| {
                (
                    s(at(k, &["AttributeName"])).to_string(),
                    s(at(k, &["KeyType"])).to_string(),
                )
            })
            .collect()
    };
    let pair = |pk: &str, sk: &str| vec![(pk.into(), "HASH".into()), (sk.into(), "RANGE".into())];
    assert_eq!(keys(at(p, &["KeySchema"])), pair(def.pk, def.sk));

    // Every key attribute is a string; no attribute is defined that no key uses.
    let attrs: BTreeMap<String, String> = at(p, &["AttributeDefinitions"])
        .as_sequence()
        .expect("AttributeDefinitions")
        .iter()
        .map(|a| {
            (
                s(at(a, &["AttributeName"])).to_string(),
                s(at(a, &["AttributeType"])).to_string(),
            )
        })
        .collect();
    let mut want: BTreeMap<String, String> = BTreeMap::new();
    for k in [def.pk, def.sk] {
        want.insert(k.into(), "S".into());
    }
    for g in &def.gsis {
        want.insert(g.pk.into(), "S".into());
        want.insert(g.sk.into(), "S".into());
    }
    assert_eq!(attrs, want, "AttributeDefinitions");

    let gsis: Vec<Gsi> = at(p, &["GlobalSecondaryIndexes"])
        .as_sequence()
        .expect("GlobalSecondaryIndexes")
        .iter()
        .map(|g| {
            (
                s(at(g, &["IndexName"])).to_string(),
                keys(at(g, &["KeySchema"])),
                s(at(g, &["Projection", "ProjectionType"])).to_string(),
            )
        })
        .collect();
    let want_gsis: Vec<Gsi> = def
        .gsis
        .iter()
        .map(|g| (g.name.into(), pair(g.pk, g.sk), g.projection.into()))
        .collect();
    assert_eq!(gsis, want_gsis, "GlobalSecondaryIndexes");
    assert!(
        at(p, &["LocalSecondaryIndexes"]).is_null(),
        "no LSIs in the schema"
    );

    assert_eq!(
        s(at(p, &["TimeToLiveSpecification", "AttributeName"])),
        def.ttl_attribute
    );
    assert_eq!(
        at(p, &["TimeToLiveSpecification", "Enabled"]),
        &Value::Bool(true)
    );
    assert_eq!(
        at(
            p,
            &[
                "PointInTimeRecoverySpecification",
                "PointInTimeRecoveryEnabled"
            ]
        ),
        &Value::Bool(true)
    );
    let dp = at(p, &["DeletionProtectionEnabled"]);
    assert!(
        dp.get("Fn::If").is_some(),
        "DeletionProtectionEnabled follows the DeletionProtection parameter"
    );
    assert!(at(&t, &["Parameters", "DeletionProtection"]).is_mapping());
}

/// (method, path) → function folder name, from the template's HTTP API.
fn template_routes(t: &Value) -> BTreeMap<(String, String), String> {
    let apis = of_type(t, "AWS::ApiGatewayV2::Api");
    assert_eq!(apis.len(), 1, "exactly one HTTP API");
    let (api_id, api) = apis[0];
    assert_eq!(s(at(api, &["Properties", "ProtocolType"])), "HTTP");

    let functions = template_functions(t);
    let mut out = BTreeMap::new();
    for (rid, r) in of_type(t, "AWS::ApiGatewayV2::Route") {
        let p = at(r, &["Properties"]);
        assert!(is_ref(at(p, &["ApiId"]), api_id), "{rid}: ApiId");
        let key = s(at(p, &["RouteKey"]));
        let (method, path) = key
            .split_once(' ')
            .unwrap_or_else(|| panic!("{rid}: RouteKey {key:?}"));
        let target = s(at(p, &["Target", "Fn::Sub"]));
        let integration = target
            .strip_prefix("integrations/${")
            .and_then(|x| x.strip_suffix('}'))
            .unwrap_or_else(|| panic!("{rid}: Target {target:?}"));
        let ip = at(resource(t, integration), &["Properties"]);
        assert!(is_ref(at(ip, &["ApiId"]), api_id), "{integration}: ApiId");
        assert_eq!(s(at(ip, &["IntegrationType"])), "AWS_PROXY");
        assert_eq!(
            s(at(ip, &["PayloadFormatVersion"])),
            "2.0",
            "{integration}: payload v2"
        );
        let fid = getatt_target(at(ip, &["IntegrationUri"]))
            .unwrap_or_else(|| panic!("{integration}: IntegrationUri is not a function ARN"));
        let bin = functions
            .get(fid)
            .unwrap_or_else(|| panic!("{integration}: {fid} is not a function"));
        let name = bin
            .strip_prefix("warden-")
            .unwrap_or_else(|| panic!("{fid}: Binary {bin:?}"));
        let prev = out.insert((method.to_string(), path.to_string()), name.to_string());
        assert!(prev.is_none(), "duplicate route {key}");
    }
    out
}

#[test]
fn routes_match_the_local_stack() {
    let t = template();
    let tpl = template_routes(&t);
    let local: BTreeMap<(String, String), String> = warden_local::routes::ROUTES
        .iter()
        .map(|r| {
            (
                (r.method.to_string(), r.path.to_string()),
                r.function.to_string(),
            )
        })
        .collect();
    assert_eq!(
        local.len(),
        warden_local::routes::ROUTES.len(),
        "duplicate local routes"
    );
    let missing: Vec<_> = local
        .iter()
        .filter(|(k, f)| tpl.get(*k) != Some(*f))
        .collect();
    let extra: Vec<_> = tpl
        .iter()
        .filter(|(k, f)| local.get(*k) != Some(*f))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "routes differ.\n  local stack only (or other function): {missing:?}\n  template only (or other function): {extra:?}"
    );

    // Every function behind the API may be invoked by it.
    let api = of_type(&t, "AWS::ApiGatewayV2::Api")[0].0;
    let permitted: BTreeSet<String> = of_type(&t, "AWS::Lambda::Permission")
        .into_iter()
        .filter(|(_, p)| s(at(p, &["Properties", "Principal"])) == "apigateway.amazonaws.com")
        .filter(|(_, p)| {
            s(at(p, &["Properties", "SourceArn", "Fn::Sub"])).contains(&format!("${{{api}}}"))
        })
        .filter_map(|(_, p)| {
            at(p, &["Properties", "FunctionName", "Ref"])
                .as_str()
                .map(str::to_string)
        })
        .collect();
    for f in tpl.values().collect::<BTreeSet<_>>() {
        let id = function_id(&t, f);
        assert!(
            permitted.contains(&id),
            "{id} lacks an API Gateway permission"
        );
    }
    // The stage serves the routes without a deployment step.
    let stages = of_type(&t, "AWS::ApiGatewayV2::Stage");
    assert_eq!(stages.len(), 1);
    assert_eq!(s(at(stages[0].1, &["Properties", "StageName"])), "$default");
    assert_eq!(
        at(stages[0].1, &["Properties", "AutoDeploy"]),
        &Value::Bool(true)
    );
}

#[test]
fn every_function_crate_is_deployed() {
    let t = template();
    let crates = crates();
    assert_eq!(crates.len(), 18, "function crates: {crates:?}");
    let tpl = template_functions(&t);
    let tpl_bins: BTreeSet<&String> = tpl.values().collect();
    for (dir, bin) in &crates {
        assert_eq!(
            bin,
            &format!("warden-{dir}"),
            "functions/{dir}: [[bin]] name"
        );
        assert!(
            tpl_bins.contains(bin),
            "functions/{dir} ({bin}) has no template function"
        );
    }
    let crate_bins: BTreeSet<&String> = crates.values().collect();
    for (id, bin) in &tpl {
        assert!(
            crate_bins.contains(bin),
            "{id}: Binary {bin:?} is no functions/* crate"
        );
    }
    assert_eq!(tpl.len(), crates.len(), "one template function per crate");

    for (id, f) in of_type(&t, "AWS::Serverless::Function") {
        assert_eq!(
            s(at(f, &["Metadata", "BuildMethod"])),
            "rust-cargolambda",
            "{id}"
        );
        assert_eq!(s(fn_prop(&t, f, "Runtime")), "provided.al2023", "{id}");
        assert_eq!(
            fn_prop(&t, f, "Architectures"),
            &Value::Sequence(vec![Value::String("arm64".into())]),
            "{id}"
        );
        assert_eq!(s(fn_prop(&t, f, "Handler")), "bootstrap", "{id}");
        assert_eq!(s(fn_prop(&t, f, "CodeUri")), ".", "{id}");
        assert_eq!(s(fn_prop(&t, f, "Tracing")), "Active", "{id}");
        // HttpApi/Api events would put the function's ARN into the API, while the function's
        // WARDEN_ISSUER refers to the API: a circular dependency. Routes are plain resources.
        if let Some(evs) = at(f, &["Properties", "Events"]).as_mapping() {
            for (name, ev) in evs {
                let ty = s(at(ev, &["Type"]));
                assert!(
                    ty != "HttpApi" && ty != "Api",
                    "{id}.{}: {ty} events create a dependency cycle",
                    s(name)
                );
            }
        }
    }
}

/// Every function logs to a group of its own with a retention period: Lambda's default
/// group keeps logs forever.
#[test]
fn every_function_logs_to_a_group_with_retention() {
    let t = template();
    let mut used = BTreeSet::new();
    for (id, f) in of_type(&t, "AWS::Serverless::Function") {
        let group = at(f, &["Properties", "LoggingConfig", "LogGroup"]);
        let gid = group
            .get("Ref")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{id}: LoggingConfig.LogGroup is no Ref"));
        assert!(used.insert(gid.to_string()), "{id}: {gid} is shared");
        let g = resource(&t, gid);
        assert_eq!(s(at(g, &["Type"])), "AWS::Logs::LogGroup", "{gid}");
        assert!(
            is_ref(
                at(g, &["Properties", "RetentionInDays"]),
                "LogRetentionDays"
            ),
            "{gid}: RetentionInDays"
        );
    }
    let groups = of_type(&t, "AWS::Logs::LogGroup");
    assert_eq!(groups.len(), used.len(), "a log group no function uses");
    let p = at(&t, &["Parameters", "LogRetentionDays"]);
    assert!(p
        .get("Default")
        .and_then(Value::as_u64)
        .is_some_and(|d| d > 0));
}

#[test]
fn environment_covers_the_configuration() {
    let t = template();
    let env = at(&t, &["Globals", "Function", "Environment", "Variables"]);
    for var in [
        "WARDEN_ISSUER",
        "WARDEN_TABLE",
        "WARDEN_QUEUE_URL",
        "WARDEN_SESSION_IDLE_SECONDS",
        "WARDEN_SESSION_ABSOLUTE_SECONDS",
        "WARDEN_REMEMBER_ME_SECONDS",
        "WARDEN_DELIVERY_MAX_ATTEMPTS",
    ] {
        assert!(
            !at(env, &[var]).is_null(),
            "Globals environment lacks {var}"
        );
    }
    assert!(is_ref(at(env, &["WARDEN_TABLE"]), "Table"));
    assert!(
        is_getatt(at(env, &["WARDEN_KMS_KEY_ID"]), "SigningKeyWrapKey", "Arn"),
        "signing keys are wrapped with the stack's KMS key"
    );
    let key = resource(&t, "SigningKeyWrapKey");
    assert_eq!(s(at(key, &["Type"])), "AWS::KMS::Key");
    assert_eq!(
        s(at(key, &["DeletionPolicy"])),
        "Retain",
        "deleting the key would lose the signing keys"
    );
    assert!(is_ref(at(env, &["WARDEN_QUEUE_URL"]), "LogoutQueue"));
    assert!(is_ref(at(env, &["WARDEN_LOGOUT_WAIT_MS"]), "LogoutWaitMs"));
    assert_eq!(
        at(&t, &["Parameters", "LogoutWaitMs", "Default"]).as_u64(),
        Some(warden_core::config::DEFAULT_LOGOUT_WAIT_MS),
        "the template's default wait is the core's"
    );
    assert_eq!(
        at(&t, &["Parameters", "LogoutWaitMs", "MaxValue"]).as_u64(),
        Some(warden_core::config::MAX_LOGOUT_WAIT_MS)
    );
    assert!(is_ref(
        at(env, &["WARDEN_DELIVERY_MAX_ATTEMPTS"]),
        "MaxReceiveCount"
    ));
    // Every setting the configuration reads reaches the functions from the template (a
    // parameter, or a value the stack gives), except those that only make sense outside
    // AWS or whose default is right for a deployed stack.
    let local_only = [
        "WARDEN_KEY_ENCRYPTION_KEY",
        "WARDEN_KMS_ENDPOINT",
        "WARDEN_DYNAMODB_ENDPOINT",
        "WARDEN_SQS_ENDPOINT",
        "WARDEN_COOKIE_SECURE",
    ];
    let config = std::fs::read_to_string(root().join("shared/src/config.rs")).unwrap();
    let read: std::collections::BTreeSet<&str> = config
        .split('"')
        .filter(|w| {
            w.starts_with("WARDEN_") && w[7..].chars().all(|c| c.is_ascii_uppercase() || c == '_')
        })
        .collect();
    assert!(read.len() > 10, "found the settings in config.rs: {read:?}");
    for var in read.iter().filter(|v| !local_only.contains(v)) {
        assert!(
            !at(env, &[var]).is_null(),
            "config.rs reads {var}, which template.yaml's Globals environment does not set"
        );
    }
    // Empty IssuerUrl: the API's own URL is the issuer.
    let iss = at(env, &["WARDEN_ISSUER", "Fn::If"]);
    assert_eq!(s(&iss[0]), "HasIssuerUrl");
    assert!(is_ref(&iss[1], "IssuerUrl"));
    assert!(s(at(&iss[2], &["Fn::Sub"])).starts_with("https://${HttpApi}.execute-api."));
    for out in ["ApiUrl", "Issuer", "DiscoveryUrl"] {
        assert!(!at(&t, &["Outputs", out]).is_null(), "output {out}");
    }
    // The shard counts: the template's defaults and bounds are the core's.
    let shards = warden_core::store::schema::Shards::DEFAULT;
    for (var, param, default) in [
        ("WARDEN_LIVE_SHARDS", "LiveShards", shards.live),
        ("WARDEN_DUE_SHARDS", "DueShards", shards.due),
    ] {
        assert!(is_ref(at(env, &[var]), param), "{var}");
        let p = at(&t, &["Parameters", param]);
        assert_eq!(
            at(p, &["Default"]).as_u64(),
            Some(default.into()),
            "{param}"
        );
        assert_eq!(
            at(p, &["MaxValue"]).as_u64(),
            Some(warden_core::store::schema::MAX_SHARDS.into()),
            "{param}"
        );
    }
}

#[test]
fn logout_queue_dispatcher_and_relay_are_wired() {
    let t = template();
    let q = at(resource(&t, "LogoutQueue"), &["Properties"]);
    let dlq = at(resource(&t, "LogoutDeadLetterQueue"), &["Properties"]);
    let dispatcher = resource(&t, &function_id(&t, "logout-dispatcher"));
    let timeout = fn_prop(&t, dispatcher, "Timeout")
        .as_u64()
        .expect("dispatcher Timeout");
    let visibility = at(q, &["VisibilityTimeout"])
        .as_u64()
        .expect("VisibilityTimeout");
    assert!(
        visibility >= 6 * timeout,
        "visibility {visibility} < 6 x {timeout}"
    );
    assert!(is_getatt(
        at(q, &["RedrivePolicy", "deadLetterTargetArn"]),
        "LogoutDeadLetterQueue",
        "Arn"
    ));
    assert!(is_ref(
        at(q, &["RedrivePolicy", "maxReceiveCount"]),
        "MaxReceiveCount"
    ));
    let max_receive = warden_core::config::DEFAULT_DELIVERY_MAX_ATTEMPTS;
    assert_eq!(
        at(&t, &["Parameters", "MaxReceiveCount", "Default"]).as_u64(),
        Some(u64::from(max_receive)),
        "the queue's default maxReceiveCount is the core's default attempts"
    );
    // The queue keeps a message longer than its retries can last (top of the ±10 % spread).
    let window = warden_core::logout::backchannel::retry_window(max_receive).mul_f64(1.1);
    assert!(
        at(q, &["MessageRetentionPeriod"]).as_u64() > Some(window.as_secs()),
        "the queue's retention must exceed the {window:?} retry window"
    );
    assert_eq!(
        at(dlq, &["MessageRetentionPeriod"]).as_u64(),
        Some(14 * 86400)
    );

    let evs = at(dispatcher, &["Properties", "Events"])
        .as_mapping()
        .expect("dispatcher events");
    let sqs: Vec<&Value> = evs
        .values()
        .filter(|e| s(at(e, &["Type"])) == "SQS")
        .collect();
    assert_eq!(sqs.len(), 1, "one SQS event");
    let p = at(sqs[0], &["Properties"]);
    assert!(is_getatt(at(p, &["Queue"]), "LogoutQueue", "Arn"));
    assert_eq!(
        at(p, &["FunctionResponseTypes"]),
        &Value::Sequence(vec![Value::String("ReportBatchItemFailures".into())])
    );

    let relay = resource(&t, &function_id(&t, "logout-relay"));
    let evs = at(relay, &["Properties", "Events"])
        .as_mapping()
        .expect("relay events");
    assert!(
        evs.values().any(|e| s(at(e, &["Type"])) == "Schedule"
            && s(at(e, &["Properties", "Schedule"])) == "rate(1 minute)"),
        "relay runs every minute"
    );

    for alarm in ["LogoutDeadLetterAlarm", "DispatcherErrorsAlarm"] {
        let a = at(resource(&t, alarm), &["Properties"]);
        assert!(at(a, &["AlarmActions", "Fn::If"]).is_sequence(), "{alarm}");
    }
}

/// The actions a function's inline policies allow: (action, resources as YAML text).
fn allowed(f: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Some(policies) = at(f, &["Properties", "Policies"]).as_sequence() else {
        return out;
    };
    for p in policies {
        let stmts = at(p, &["Statement"])
            .as_sequence()
            .expect("policies are explicit statement lists (no SAM policy templates)");
        for st in stmts {
            assert_eq!(s(at(st, &["Effect"])), "Allow");
            let res = serde_norway::to_string(at(st, &["Resource"])).unwrap_or_default();
            for a in at(st, &["Action"]).as_sequence().expect("Action list") {
                out.push((s(a).to_string(), res.clone()));
            }
        }
    }
    out
}

#[test]
fn policies_are_least_privilege() {
    let t = template();
    // Functions that end sessions (termination: a session update, an issued-counter check
    // and delivery puts in one transaction, the ended markers by BatchWriteItem, the queue).
    // Login ends the session of a user switch and a session-limit eviction.
    let terminators = [
        "me-sessions",
        "admin-sessions",
        "end-session",
        "logout-relay",
        "login",
    ];
    // Functions that delete: a user's delete, an offline grant's registration (a password
    // change, refresh-token reuse, a refresh token's revocation), SSF streams and subjects.
    let deleters = ["admin-sessions", "me-sessions", "token", "revoke", "ssf"];
    // Functions whose code calls `App::keys` (sign, seal codes, verify hints, publish keys):
    // they open the wrapped signing keys, and may create (wrap) the first one.
    let key_users = [
        "jwks",
        "authorize",
        "token",
        "end-session",
        "logout-dispatcher",
    ];
    // Functions that seal a secret Warden sends later (an SSF push stream's authorization
    // header): KMS Encrypt only, never Decrypt.
    let sealers = ["ssf"];
    for (dir, _) in crates() {
        let id = function_id(&t, &dir);
        let f = resource(&t, &id);
        let acts = allowed(f);
        for (a, res) in &acts {
            assert!(!a.contains('*'), "{id}: wildcard action {a}");
            if let Some(op) = a.strip_prefix("dynamodb:") {
                assert!(
                    [
                        "GetItem",
                        "BatchGetItem",
                        "Query",
                        "PutItem",
                        "UpdateItem",
                        "TransactWriteItems",
                        "ConditionCheckItem",
                        "BatchWriteItem",
                        "DeleteItem"
                    ]
                    .contains(&op),
                    "{id}: {a} is not needed by any function"
                );
                assert!(res.contains("Table"), "{id}: {a} on {res}");
                if res.contains("/index/") {
                    assert_eq!(op, "Query", "{id}: only Query reads indexes");
                }
            } else if a.starts_with("sqs:") {
                assert!(res.contains("LogoutQueue"), "{id}: {a} on {res}");
            } else if a == "kms:Decrypt" || a == "kms:Encrypt" {
                assert!(res.contains("SigningKeyWrapKey"), "{id}: {a} on {res}");
                assert!(
                    key_users.contains(&dir.as_str())
                        || (a == "kms:Encrypt" && sealers.contains(&dir.as_str())),
                    "{id}: {a}, but its code never opens a signing key"
                );
            } else {
                panic!("{id}: unexpected action {a}");
            }
        }
        let has = |a: &str| acts.iter().any(|(x, _)| x == a);
        assert_eq!(
            has("dynamodb:DeleteItem"),
            deleters.contains(&dir.as_str()),
            "{id}: DeleteItem only where items are deleted"
        );
        // The SSF events: written by the dispatcher's fan-out, moved to receipts by a push
        // (dispatcher) or a poll's acknowledgements (ssf).
        let event_writers = ["logout-dispatcher", "ssf"];
        assert_eq!(
            has("dynamodb:BatchWriteItem"),
            terminators.contains(&dir.as_str()) || event_writers.contains(&dir.as_str()),
            "{id}: BatchWriteItem only for the ended-session markers of terminations and SSF events"
        );
        assert_eq!(
            has("kms:Decrypt"),
            key_users.contains(&dir.as_str()),
            "{id}: kms:Decrypt exactly for the functions that use signing keys"
        );
        assert_eq!(
            has("kms:Encrypt"),
            key_users.contains(&dir.as_str()) || sealers.contains(&dir.as_str()),
            "{id}: kms:Encrypt exactly for the functions that use signing keys or seal secrets"
        );
        assert_eq!(
            has("sqs:SendMessage"),
            terminators.contains(&dir.as_str()) || event_writers.contains(&dir.as_str()),
            "{id}: sqs:SendMessage only for functions that end sessions or queue SSF work"
        );
        assert_eq!(
            has("sqs:ChangeMessageVisibility"),
            dir == "logout-dispatcher",
            "{id}: ChangeMessageVisibility"
        );
        if ["discovery", "api-docs", "myaccount", "console"].contains(&dir.as_str()) {
            assert!(acts.is_empty(), "{id} needs no table or queue access");
        }
        // Sufficiency: what each function's code path calls (read from the handlers and the
        // warden-core modules they use). IAM authorises each action inside a
        // TransactWriteItems as its own item action — Put as PutItem, Update as UpdateItem,
        // Delete as DeleteItem, ConditionCheck as ConditionCheckItem ("Using IAM with
        // DynamoDB transactions", DynamoDB Developer Guide) — so those are listed too.
        // Signing keys are created on first use by whichever function needs them first
        // (Query + a TransactWriteItems of a Put and an Update).
        // A bearer token or a held token is read with its link and session in one
        // BatchGetItem (`Store::find_token`).
        const TERMINATE: &[&str] = &[
            "GetItem",
            "Query",
            "TransactWriteItems",
            "UpdateItem",
            "PutItem",
            "ConditionCheckItem",
            "BatchWriteItem",
        ];
        let needs: Vec<&str> = match dir.as_str() {
            "jwks" => vec!["Query", "TransactWriteItems", "PutItem", "UpdateItem"],
            "login" => [&["BatchGetItem"][..], TERMINATE].concat(),
            "authorize" => vec![
                "BatchGetItem",
                "GetItem",
                "PutItem",
                "UpdateItem",
                "Query",
                "TransactWriteItems",
                "ConditionCheckItem",
            ],
            "token" => vec![
                "BatchGetItem",
                "GetItem",
                "PutItem",
                "UpdateItem",
                "Query",
                "TransactWriteItems",
                "ConditionCheckItem",
                "DeleteItem",
            ],
            "userinfo" | "introspect" => vec!["GetItem", "BatchGetItem"],
            "check-session" => vec!["GetItem"],
            "revoke" => vec![
                "BatchGetItem",
                "GetItem",
                "Query",
                "TransactWriteItems",
                "UpdateItem",
                "DeleteItem",
            ],
            "logout-relay" => TERMINATE.to_vec(),
            // + the receipts a bounded logout waits for (BatchGetItem of the deliveries).
            "end-session" => [TERMINATE, &["BatchGetItem"][..]].concat(),
            // + the bearer token, recently ended sessions, an offline grant's registration
            // dropped by a password change.
            "me-sessions" => [TERMINATE, &["BatchGetItem", "DeleteItem"][..]].concat(),
            // + the bearer token, a user's delete (Deletes inside a TransactWriteItems).
            "admin-sessions" => [TERMINATE, &["BatchGetItem", "DeleteItem"][..]].concat(),
            // + the duplicate check of a batch (BatchGetItem of its deliveries).
            // + a fan-out's events and push receipts (BatchWriteItem).
            "logout-dispatcher" => vec![
                "BatchGetItem",
                "GetItem",
                "UpdateItem",
                "PutItem",
                "Query",
                "TransactWriteItems",
                "BatchWriteItem",
            ],
            "ssf" => vec![
                "BatchWriteItem",
                "BatchGetItem",
                "GetItem",
                "PutItem",
                "UpdateItem",
                "DeleteItem",
                "ConditionCheckItem",
                "Query",
                "TransactWriteItems",
            ],
            _ => vec![],
        };
        for op in &needs {
            assert!(
                has(&format!("dynamodb:{op}")),
                "{id}: its code calls dynamodb:{op} but the template does not grant it"
            );
        }
    }
}

/// Ref / GetAtt / Sub / DependsOn edges between resources of the raw template.
fn deps(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Mapping(m) => {
            for (k, x) in m {
                match s(k) {
                    "Ref" => {
                        out.insert(s(x).to_string());
                    }
                    "Fn::GetAtt" => {
                        let id = match x {
                            Value::Sequence(xs) => xs.first().map(s).unwrap_or(""),
                            other => s(other).split('.').next().unwrap_or(""),
                        };
                        out.insert(id.to_string());
                    }
                    "Fn::Sub" => {
                        let (text, vars) = match x {
                            Value::Sequence(xs) => (s(&xs[0]), xs.get(1)),
                            other => (s(other), None),
                        };
                        for part in text.split("${").skip(1) {
                            let name = part.split('}').next().unwrap_or("");
                            out.insert(name.split('.').next().unwrap_or("").to_string());
                        }
                        if let Some(vars) = vars {
                            deps(vars, out);
                        }
                    }
                    _ => deps(x, out),
                }
            }
        }
        Value::Sequence(xs) => {
            for x in xs {
                deps(x, out);
            }
        }
        _ => {}
    }
}

#[test]
fn no_dependency_cycles() {
    let t = template();
    let ids: BTreeSet<String> = resources(&t).keys().map(|k| s(k).to_string()).collect();
    let globals_env = {
        let mut d = BTreeSet::new();
        deps(at(&t, &["Globals", "Function"]), &mut d);
        d
    };
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (k, r) in resources(&t) {
        let id = s(k).to_string();
        let mut d = BTreeSet::new();
        deps(at(r, &["Properties"]), &mut d);
        match at(r, &["DependsOn"]) {
            Value::String(x) => {
                d.insert(x.clone());
            }
            Value::Sequence(xs) => d.extend(xs.iter().map(|x| s(x).to_string())),
            _ => {}
        }
        if s(at(r, &["Type"])) == "AWS::Serverless::Function" {
            d.extend(globals_env.iter().cloned());
        }
        d.retain(|x| ids.contains(x));
        graph.insert(id, d);
    }
    // Depth-first search for a back edge.
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) {
        match state.get(n) {
            Some(2) => return,
            Some(1) => panic!("dependency cycle: {} -> {n}", stack.join(" -> ")),
            _ => {}
        }
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in g.get(n).into_iter().flatten() {
            visit(m, g, state, stack);
        }
        stack.pop();
        state.insert(n.to_string(), 2);
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        visit(n, &graph, &mut state, &mut Vec::new());
    }
}
