//! The capacity model (`docs/scale.md`): DynamoDB's size rules for capacity units, and a
//! partition-heat simulation that replays a synthetic workload through the real key
//! builders ([`keys`]) and reports the writes and reads per second each partition key value
//! of the table and of each index receives. No I/O: `warden-bench heat` prints it, and a
//! unit test keeps the default shard counts ([`Shards::DEFAULT`]) below the per-partition
//! limits at [`TARGET`].
//!
//! Size rules (DynamoDB Developer Guide, "Item sizes and formats" and "Read/write capacity
//! mode"): an item's size is the sum of its attribute names' and values' lengths; a write
//! costs 1 write unit per started 1 KB of the item, a strongly consistent read 1 read unit per
//! started 4 KB (an eventually consistent one half that), a transactional request twice; a
//! Query is sized on the sum of the items it returns. Each index an item is projected into
//! costs one more write for that copy, sized by its projection; an update that changes an
//! index's sort key costs that index a delete and a put.

use crate::store::schema::{
    keys, table_def, to_item, DeliveryItem, IssuedCounter, SessionApp, SessionItem, SessionStatus,
    Shards, ThrottleItem, UserItem, GSI_DUE, GSI_LIVE, GSI_USER,
};
use crate::store::Item;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{BTreeMap, HashMap};

/// Write units one partition (so one partition key value) sustains per second (DynamoDB
/// Developer Guide, "Partitions and data distribution" / "Service quotas": 1,000 WCU).
pub const PARTITION_WRITE_UNITS: f64 = 1000.0;
/// Read units one partition sustains per second (3,000 RCU).
pub const PARTITION_READ_UNITS: f64 = 3000.0;

/// The size of an item by DynamoDB's rules: attribute names plus values (strings and binary
/// by their length, numbers about one byte per two significant digits plus one, booleans
/// and nulls one byte, lists and maps 3 bytes plus their elements (and a map's names), one
/// byte per element of overhead).
pub fn item_bytes(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + value_bytes(v)).sum()
}

fn value_bytes(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_bytes(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| number_bytes(n)).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(l) => 3 + l.iter().map(|x| 1 + value_bytes(x)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, x)| 1 + k.len() + value_bytes(x))
                .sum::<usize>()
        }
        _ => 0,
    }
}

fn number_bytes(n: &str) -> usize {
    let digits: String = n.chars().filter(char::is_ascii_digit).collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.div_ceil(2) + 1
}

/// Write units of writing an item of `bytes` (1 per started KB, at least 1).
pub fn write_units(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

/// Read units of reading `bytes` (1 per started 4 KB, at least 1; half when eventually
/// consistent, as index reads always are).
pub fn read_units(bytes: usize, consistent: bool) -> f64 {
    let u = bytes.div_ceil(4096).max(1) as f64;
    if consistent {
        u
    } else {
        u / 2.0
    }
}

/// Where a partition key value lives: the table or one of its indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Space {
    /// The table's own partitions (`pk`).
    Table,
    /// `gsi1`, a user's sessions (`USER#<uid>`).
    UserIndex,
    /// `gsi2`, the due index (`DUE#SESSION#<shard>`, `DUE#LOGOUT#<shard>`).
    DueIndex,
    /// `gsi3`, the live-session search index (`LIVE#<shard>`).
    LiveIndex,
}

impl Space {
    /// The table's or the index's name.
    pub fn name(self) -> &'static str {
        match self {
            Space::Table => "table",
            Space::UserIndex => GSI_USER,
            Space::DueIndex => GSI_DUE,
            Space::LiveIndex => GSI_LIVE,
        }
    }
    /// Every space, table first.
    pub const ALL: [Space; 4] = [
        Space::Table,
        Space::UserIndex,
        Space::DueIndex,
        Space::LiveIndex,
    ];
}

/// The synthetic workload of a simulation: rates per second at peak and the shape of the
/// population. Every request is sent to the key functions the handlers use.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Successful sign-ins per second.
    pub logins_per_s: u32,
    /// Authorization requests per second (each by a signed-in browser).
    pub authorizes_per_s: u32,
    /// The share of authorizes that write the session (an app joins, or the session was
    /// last touched over a minute ago); 1.0 is the bound.
    pub authorize_write_share: f64,
    /// Code exchanges per second.
    pub exchanges_per_s: u32,
    /// Refresh-token grants per second.
    pub refreshes_per_s: u32,
    /// Introspections per second.
    pub introspections_per_s: u32,
    /// Userinfo calls per second.
    pub userinfo_per_s: u32,
    /// Sessions ended per second (logout, admin, expiry); in a steady state, the login rate.
    pub terminations_per_s: u32,
    /// Apps with a back-channel logout URI per ended session (one delivery each).
    pub backchannel_apps: u32,
    /// Live sessions the requests are spread over (a sample suffices: what matters is
    /// which shard and which user each falls on).
    pub live_sessions: u32,
    /// Users the sessions belong to.
    pub users: u32,
    /// The share of sign-ins and of session use by the busiest user (a shared account, a
    /// load-test user).
    pub busiest_user_share: f64,
    /// The share of sign-ins from the busiest address (an office or carrier NAT).
    pub busiest_address_share: f64,
    /// Function cold starts per second (each reads the signing keys once).
    pub cold_starts_per_s: u32,
    /// Concurrent function instances (each re-reads a client it uses every 30 s).
    pub instances: u32,
    /// Registered clients the requests are spread over.
    pub clients: u32,
    /// Seconds simulated; the report is the peak second.
    pub seconds: u32,
}

/// The stated target the default shard counts are sized for: 3,000 logins/s and 20,000
/// authorizes/s at peak, every authorize writing the session (the bound), each authorize
/// followed by a code exchange, sessions ending as fast as they start with two back-channel
/// apps each, 1 % of the traffic from one user and 1 % of sign-ins from one address.
pub const TARGET: Workload = Workload {
    logins_per_s: 3000,
    authorizes_per_s: 20_000,
    authorize_write_share: 1.0,
    exchanges_per_s: 20_000,
    refreshes_per_s: 5000,
    introspections_per_s: 20_000,
    userinfo_per_s: 10_000,
    terminations_per_s: 3000,
    backchannel_apps: 2,
    live_sessions: 100_000,
    users: 1_000_000,
    busiest_user_share: 0.01,
    busiest_address_share: 0.01,
    cold_starts_per_s: 50,
    instances: 3000,
    clients: 50,
    seconds: 3,
};

impl Workload {
    /// The same workload with every rate scaled by `f` (the population unchanged).
    pub fn scaled(&self, f: f64) -> Workload {
        let r = |x: u32| (f64::from(x) * f).round() as u32;
        Workload {
            logins_per_s: r(self.logins_per_s),
            authorizes_per_s: r(self.authorizes_per_s),
            exchanges_per_s: r(self.exchanges_per_s),
            refreshes_per_s: r(self.refreshes_per_s),
            introspections_per_s: r(self.introspections_per_s),
            userinfo_per_s: r(self.userinfo_per_s),
            terminations_per_s: r(self.terminations_per_s),
            cold_starts_per_s: r(self.cold_starts_per_s),
            ..self.clone()
        }
    }
}

/// The peak load one partition key value received.
#[derive(Debug, Clone, PartialEq)]
pub struct Heat {
    /// The table or index.
    pub space: Space,
    /// The partition key value (e.g. `LIVE#3`).
    pub key: String,
    /// Its busiest second's write units.
    pub writes_per_s: f64,
    /// Its busiest second's read units.
    pub reads_per_s: f64,
}

impl Heat {
    /// Above a per-partition limit.
    pub fn over_limit(&self) -> bool {
        self.writes_per_s > PARTITION_WRITE_UNITS || self.reads_per_s > PARTITION_READ_UNITS
    }
    /// The share of the tighter per-partition limit this key uses (1.0: saturated); the
    /// workload saturates this key when scaled by `1 / utilisation`.
    pub fn utilisation(&self) -> f64 {
        (self.writes_per_s / PARTITION_WRITE_UNITS).max(self.reads_per_s / PARTITION_READ_UNITS)
    }
}

/// What a simulation found.
#[derive(Debug, Clone)]
pub struct HeatReport {
    /// The shard counts simulated.
    pub shards: Shards,
    /// Per table and index, its hottest key families' hottest values, hottest first
    /// (one row per family: `SESSION#…`, `USER#…`, `LIVE#…`, …).
    pub hottest: Vec<Heat>,
    /// Every key value above a per-partition limit.
    pub over: Vec<Heat>,
    /// The unit costs the simulation charged, per item (write units of one copy).
    pub item_units: Vec<(&'static str, usize, f64)>,
}

impl HeatReport {
    /// No key above a per-partition limit.
    pub fn holds(&self) -> bool {
        self.over.is_empty()
    }
    /// The report as the text `warden-bench heat` prints (and docs/scale.md quotes).
    pub fn render(&self) -> String {
        let mut out = format!(
            "shards: live {} due {}; limits per partition: {} WCU/s, {} RCU/s\n\n",
            self.shards.live, self.shards.due, PARTITION_WRITE_UNITS, PARTITION_READ_UNITS
        );
        out.push_str("item sizes: ");
        let sizes: Vec<String> = self
            .item_units
            .iter()
            .map(|(name, b, w)| format!("{name} {b} B = {w} WCU"))
            .collect();
        out.push_str(&sizes.join(", "));
        out.push_str("\n\n| space | hottest key (family) | peak WCU/s | peak RCU/s | of limit |\n");
        out.push_str("|---|---|---:|---:|---:|\n");
        for h in &self.hottest {
            out.push_str(&format!(
                "| {} | `{}` | {:.0} | {:.0} | {:.0} %{} |\n",
                h.space.name(),
                h.key,
                h.writes_per_s,
                h.reads_per_s,
                h.utilisation() * 100.0,
                if h.over_limit() { " OVER" } else { "" }
            ));
        }
        out.push_str(&format!(
            "\n{} key value(s) above a per-partition limit\n",
            self.over.len()
        ));
        out
    }
}

/// A deterministic generator (SplitMix64): the same workload gives the same report.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n.max(1))) as u32
    }
    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    /// An id shaped like `crypto::random_id` (16 random bytes, base64url: 22 characters).
    fn id(&mut self) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let (a, b) = (self.next(), self.next());
        (0..22)
            .map(|i| {
                let bits = if i < 11 {
                    a >> (i * 6)
                } else {
                    b >> ((i - 11) * 6)
                };
                A[(bits & 63) as usize] as char
            })
            .collect()
    }
}

/// One live session of the simulated population.
#[derive(Clone)]
struct Live {
    sid: String,
    uid: String,
    shards: (u32, u32),
}

/// Unit costs of the items the operations write, from representative items serialised by
/// [`to_item`] and the index projections of [`table_def`].
struct Units {
    session: f64,
    session_copy: [f64; 3],
    delivery: f64,
    delivery_copy: f64,
    link: f64,
    counter: f64,
    throttle: f64,
    user_read: f64,
    user_write: f64,
    session_read: f64,
    partition_read: f64,
    keys_read: f64,
    sizes: Vec<(&'static str, usize, f64)>,
}

fn representative_session() -> SessionItem {
    let sid = "a".repeat(22);
    let uid = "u".repeat(22);
    let shards = Shards::DEFAULT;
    let app = |name: &str| SessionApp {
        name: name.to_string(),
        first_auth_ms: 1_767_000_000_000,
        last_auth_ms: 1_767_000_060_000,
        backchannel: true,
    };
    SessionItem {
        pk: keys::session_pk(&sid),
        sk: keys::SESSION_SK.into(),
        sid: sid.clone(),
        user_id: uid.clone(),
        username: "alice.example".into(),
        secret_hash: "h".repeat(43),
        created_ms: 1_767_000_000_000,
        last_seen_ms: 1_767_000_060_000,
        auth_time: 1_767_000_000,
        idle_expires_at: 1_767_000_960,
        absolute_expires_at: 1_767_028_800,
        remember_me: false,
        // A common desktop User-Agent (about 110 characters).
        user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36".into(),
        ip: "203.0.113.45".into(),
        status: SessionStatus::Active,
        ended_reason: None,
        ended_at_ms: None,
        ended_by: None,
        version: 0,
        apps: BTreeMap::from([
            ("mail-web".to_string(), app("Mail")),
            ("calendar-web".to_string(), app("Calendar")),
        ]),
        gsi1pk: Some(keys::user_sessions_gsi(&uid)),
        gsi1sk: Some(keys::user_sessions_sort(1_767_000_000_000, &sid)),
        gsi2pk: Some(keys::due_session_gsi(keys::due_shard(&sid, shards))),
        gsi2sk: Some(keys::due_sort(1_767_000_960, &sid)),
        gsi3pk: Some(keys::live_gsi(keys::live_shard(&sid, shards))),
        gsi3sk: Some(keys::live_sort(1_767_000_060_000, &sid)),
        expires_at: 1_767_028_800 + 30 * 86400,
    }
}

/// The bytes of `item`'s copy in index `gsi` (by its projection in [`table_def`]: `ALL` is
/// the whole item; anything else is counted as `KEYS_ONLY`, the table's and the index's
/// keys — no index projects `INCLUDE`). 0 when the item is not in the index (sparse).
pub fn projected_bytes(item: &Item, gsi: &str) -> usize {
    let def = table_def();
    let Some(g) = def.gsis.iter().find(|g| g.name == gsi) else {
        return 0;
    };
    if !item.contains_key(g.pk) {
        return 0;
    }
    match g.projection {
        "ALL" => item_bytes(item),
        _ => {
            let keys_only: Item = item
                .iter()
                .filter(|(k, _)| [def.pk, def.sk, g.pk, g.sk].contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            item_bytes(&keys_only)
        }
    }
}

fn units() -> Units {
    let bytes = |r: Result<Item, crate::store::StoreError>| r.map(|i| item_bytes(&i)).unwrap_or(0);
    let s = representative_session();
    let session_item = to_item(&s).unwrap_or_default();
    let session_b = item_bytes(&session_item);
    let copy = |g: &str| write_units(projected_bytes(&session_item, g));
    let delivery = DeliveryItem {
        pk: keys::session_pk(&s.sid),
        sk: keys::delivery_sk("mail-web"),
        sid: s.sid.clone(),
        client_id: "mail-web".into(),
        user_id: s.user_id.clone(),
        status: crate::store::schema::DeliveryStatus::Pending,
        attempts: 0,
        last_http_status: None,
        last_error: None,
        created_ms: s.created_ms,
        updated_ms: s.created_ms,
        delivered_ms: None,
        reason: "user".into(),
        gsi2pk: Some(keys::due_logout_gsi(s.due_shard())),
        gsi2sk: Some(keys::delivery_due_sort(1_767_000_000, &s.sid, "mail-web")),
        expires_at: s.expires_at,
    };
    let delivery_item = to_item(&delivery).unwrap_or_default();
    let delivery_b = item_bytes(&delivery_item);
    let link = crate::store::token_link(
        &s.sid,
        &"c".repeat(43),
        BTreeMap::from([
            ("a".repeat(43), 1_767_003_600),
            ("r".repeat(43), 1_768_209_600),
        ]),
        &"f".repeat(22),
        1_767_000_600,
    );
    let link_b = bytes(to_item(&link)) + 120; // + the held grant (client, user, scope, kid)
    let counter_b = bytes(to_item(&IssuedCounter {
        pk: keys::session_pk(&s.sid),
        sk: keys::ISSUED_SK.into(),
        v: 12,
        expires_at: 1_768_209_600,
    }));
    let (tpk, tsk) = keys::throttle("userip", "alice.example#203.0.113.45#1963000");
    let throttle_b = bytes(to_item(&ThrottleItem {
        pk: tpk,
        sk: tsk,
        failures: 1,
        window_start: 1_767_000_000,
        expires_at: 1_767_001_800,
    }));
    let (upk, usk) = keys::user(&s.user_id);
    let user_b = bytes(to_item(&UserItem {
        pk: upk,
        sk: usk,
        user_id: s.user_id.clone(),
        username: "alice.example".into(),
        password_hash: format!(
            "$argon2id$v=19$m=19456,t=2,p=1${}${}",
            "s".repeat(22),
            "h".repeat(43)
        ),
        name: "Alice Example".into(),
        email: "alice@example.com".into(),
        disabled: false,
        credential_version: 1,
        roles: vec![],
        created_ms: 1_700_000_000_000,
    }));
    // Three signing keys, each a wrapped 2048-bit PKCS#8 (about 1.7 KB) and its modulus.
    let keys_b = 3 * 2300;
    let partition_b = session_b + counter_b + 3 * link_b + 2 * delivery_b;
    Units {
        session: write_units(session_b),
        session_copy: [copy(GSI_USER), copy(GSI_DUE), copy(GSI_LIVE)],
        delivery: write_units(delivery_b),
        delivery_copy: write_units(projected_bytes(&delivery_item, GSI_DUE)),
        link: write_units(link_b),
        counter: write_units(counter_b),
        throttle: write_units(throttle_b),
        user_read: read_units(user_b, true),
        user_write: write_units(user_b),
        session_read: read_units(session_b, true),
        partition_read: read_units(partition_b, true),
        keys_read: read_units(keys_b, true),
        sizes: vec![
            ("session", session_b, write_units(session_b)),
            ("delivery", delivery_b, write_units(delivery_b)),
            ("token link", link_b, write_units(link_b)),
            ("issued counter", counter_b, write_units(counter_b)),
            ("throttle counter", throttle_b, write_units(throttle_b)),
            ("user", user_b, write_units(user_b)),
        ],
    }
}

/// One second's load per key.
#[derive(Default)]
struct Second(HashMap<(Space, String), (f64, f64)>);

impl Second {
    fn write(&mut self, space: Space, key: String, units: f64) {
        self.0.entry((space, key)).or_default().0 += units;
    }
    fn read(&mut self, space: Space, key: String, units: f64) {
        self.0.entry((space, key)).or_default().1 += units;
    }
}

/// The family of a partition key value: its text up to the first `#` followed by an id or
/// a shard (`SESSION#…`, `USER#…`, `DUE#SESSION#…`, `LIVE#…`, `THROTTLE#ip#…`).
fn family(key: &str) -> String {
    let mut parts: Vec<&str> = key.split('#').collect();
    let keep = match parts.first() {
        Some(&"DUE") | Some(&"THROTTLE") => 2,
        _ => 1,
    };
    parts.truncate(keep);
    format!("{}#…", parts.join("#"))
}

/// Replay `w` for `w.seconds` seconds with `shards` and report the peak load per partition
/// key value.
pub fn simulate(w: &Workload, shards: Shards) -> HeatReport {
    let u = units();
    let mut rng = Rng(0x5741_5244_454e);
    let busiest_user = rng.id();
    let busiest_address = "198.51.100.7".to_string();
    let new_live = |rng: &mut Rng| {
        let sid = rng.id();
        let uid = if rng.chance(w.busiest_user_share) {
            busiest_user.clone()
        } else {
            format!("user-{:07}", rng.below(w.users))
        };
        let shards = (
            keys::due_shard(&sid, shards),
            keys::live_shard(&sid, shards),
        );
        Live { sid, uid, shards }
    };
    let mut pool: Vec<Live> = (0..w.live_sessions.max(1))
        .map(|_| new_live(&mut rng))
        .collect();
    let mut peaks: HashMap<(Space, String), (f64, f64)> = HashMap::new();
    for second in 0..w.seconds {
        let mut sec = Second::default();
        let window = 1_963_000 + i64::from(second / 900);
        for _ in 0..w.logins_per_s {
            let l = new_live(&mut rng);
            let addr = if rng.chance(w.busiest_address_share) {
                busiest_address.clone()
            } else {
                format!("addr-{}", rng.below(10_000_000))
            };
            login(&mut sec, &u, &l, &addr, window);
            let at = rng.below(pool.len() as u32) as usize;
            pool[at] = l;
        }
        let pick =
            |rng: &mut Rng, pool: &[Live]| pool[rng.below(pool.len() as u32) as usize].clone();
        for _ in 0..w.authorizes_per_s {
            let l = pick(&mut rng, &pool);
            let writes = rng.chance(w.authorize_write_share);
            authorize(&mut sec, &u, &l, writes);
        }
        for _ in 0..w.exchanges_per_s {
            let l = pick(&mut rng, &pool);
            // TransactWriteItems: link put, session condition check, counter update.
            sec.write(
                Space::Table,
                keys::session_pk(&l.sid),
                2.0 * (u.link + u.session + u.counter),
            );
        }
        for _ in 0..w.refreshes_per_s {
            let l = pick(&mut rng, &pool);
            let pk = keys::session_pk(&l.sid);
            sec.read(Space::Table, pk.clone(), u.session_read + 1.0);
            sec.write(
                Space::Table,
                pk,
                2.0 * (2.0 * u.link + u.session + u.counter),
            );
            sec.read(Space::Table, keys::user(&l.uid).0, u.user_read);
        }
        for _ in 0..w.introspections_per_s {
            let l = pick(&mut rng, &pool);
            sec.read(Space::Table, keys::session_pk(&l.sid), u.session_read + 1.0);
        }
        for _ in 0..w.userinfo_per_s {
            let l = pick(&mut rng, &pool);
            sec.read(Space::Table, keys::session_pk(&l.sid), u.session_read + 1.0);
            sec.read(Space::Table, keys::user(&l.uid).0, u.user_read);
        }
        for _ in 0..w.terminations_per_s {
            let l = pick(&mut rng, &pool);
            terminate(&mut sec, &u, &l, w.backchannel_apps);
        }
        for _ in 0..w.cold_starts_per_s {
            sec.read(Space::Table, keys::KEYS_PK.to_string(), u.keys_read);
        }
        // Each instance re-reads each client it uses every 30 s (and at its cold start).
        let client_reads = f64::from(w.instances) / 30.0 + f64::from(w.cold_starts_per_s);
        for c in 0..w.clients.max(1) {
            let per_client = client_reads / f64::from(w.clients.max(1)) * 2.0;
            sec.read(
                Space::Table,
                keys::client(&format!("client-{c}")).0,
                per_client.max(1.0),
            );
        }
        // The relay's sweeps (once a minute): one Query per due shard of each family, each
        // returning at most 500 items (`relay::run`), read in the second it runs.
        if second == 0 {
            let sessions =
                (f64::from(w.terminations_per_s) * 60.0 / f64::from(shards.due)).min(500.0);
            for sh in 0..shards.due {
                let bytes = sessions * u.session * 1024.0;
                sec.read(
                    Space::DueIndex,
                    keys::due_session_gsi(sh),
                    read_units(bytes as usize, false),
                );
                sec.read(
                    Space::DueIndex,
                    keys::due_logout_gsi(sh),
                    read_units(500 * 300, false),
                );
            }
        }
        for (k, (wu, ru)) in sec.0 {
            let p = peaks.entry(k).or_default();
            p.0 = p.0.max(wu);
            p.1 = p.1.max(ru);
        }
    }
    report(peaks, shards, u.sizes)
}

/// `POST /login`: the attempt reserved on the two throttle counters, the username and user
/// read, the session put with the reservation given back and a condition on the user's
/// `credential_version` (both transactions).
fn login(sec: &mut Second, u: &Units, l: &Live, addr: &str, window: i64) {
    let userip = keys::throttle("userip", &format!("{}#{addr}#{window}", l.uid)).0;
    let ip = keys::throttle("ip", &format!("{addr}#{window}")).0;
    for k in [userip, ip] {
        // Reserved, then given back: two transactional writes of the counter.
        sec.write(Space::Table, k, 2.0 * 2.0 * u.throttle);
    }
    sec.read(Space::Table, keys::username(&l.uid).0, 1.0);
    sec.read(Space::Table, keys::user(&l.uid).0, u.user_read);
    sec.write(Space::Table, keys::session_pk(&l.sid), 2.0 * u.session);
    sec.write(Space::Table, keys::user(&l.uid).0, 2.0 * u.user_write);
    session_copies(sec, u, l, 1.0);
}

/// One write of each of the session's index copies (`factor` 2.0: the sort key changed, so
/// a delete and a put; the user index's sort key never changes).
fn session_copies(sec: &mut Second, u: &Units, l: &Live, factor: f64) {
    sec.write(
        Space::UserIndex,
        keys::user_sessions_gsi(&l.uid),
        u.session_copy[0],
    );
    sec.write(
        Space::DueIndex,
        keys::due_session_gsi(l.shards.0),
        factor * u.session_copy[1],
    );
    sec.write(
        Space::LiveIndex,
        keys::live_gsi(l.shards.1),
        factor * u.session_copy[2],
    );
}

/// `GET /authorize`: the session and user read; when it writes, the session's UpdateItem
/// moves its due and live sort keys (idle expiry, last access).
fn authorize(sec: &mut Second, u: &Units, l: &Live, writes: bool) {
    sec.read(Space::Table, keys::session_pk(&l.sid), u.session_read);
    sec.read(Space::Table, keys::user(&l.uid).0, u.user_read);
    if writes {
        sec.write(Space::Table, keys::session_pk(&l.sid), u.session);
        session_copies(sec, u, l, 2.0);
    }
}

/// Ending a session with two live token links and `apps` back-channel deliveries: the
/// partition read, the transaction (session, the issued counter's condition, links,
/// deliveries), the index copies removed,
/// the deliveries' due copies, the ended marker, then the dispatcher's outcome per delivery
/// (which removes its due copy).
fn terminate(sec: &mut Second, u: &Units, l: &Live, apps: u32) {
    let pk = keys::session_pk(&l.sid);
    sec.read(Space::Table, pk.clone(), u.partition_read);
    let apps_f = f64::from(apps);
    sec.write(
        Space::Table,
        pk.clone(),
        2.0 * (u.session + 2.0 * u.link + apps_f * u.delivery),
    );
    session_copies(sec, u, l, 1.0);
    let due_logout = keys::due_logout_gsi(l.shards.0);
    // Put into the due index, then removed when the dispatcher records the outcome.
    sec.write(Space::DueIndex, due_logout, 2.0 * apps_f * u.delivery_copy);
    sec.write(Space::Table, pk, apps_f * u.delivery);
    sec.write(Space::Table, keys::user(&l.uid).0, 1.0);
}

fn report(
    peaks: HashMap<(Space, String), (f64, f64)>,
    shards: Shards,
    item_units: Vec<(&'static str, usize, f64)>,
) -> HeatReport {
    let mut all: Vec<Heat> = peaks
        .into_iter()
        .map(|((space, key), (w, r))| Heat {
            space,
            key,
            writes_per_s: w,
            reads_per_s: r,
        })
        .collect();
    all.sort_by(|a, b| {
        (a.space, b.utilisation())
            .partial_cmp(&(b.space, a.utilisation()))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.key.cmp(&b.key))
    });
    let mut hottest: Vec<Heat> = Vec::new();
    for h in &all {
        let fam = family(&h.key);
        if !hottest
            .iter()
            .any(|x| x.space == h.space && family(&x.key) == fam)
        {
            hottest.push(h.clone());
        }
    }
    let over = all.iter().filter(|h| h.over_limit()).cloned().collect();
    HeatReport {
        shards,
        hottest,
        over,
        item_units,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_sizes_follow_dynamodb_rules() {
        let item: Item = HashMap::from([
            ("pk".to_string(), AttributeValue::S("abc".into())),
            ("n".to_string(), AttributeValue::N("1767000000".into())),
            ("b".to_string(), AttributeValue::Bool(true)),
        ]);
        // 2+3, 1+(4 significant digits: 2 bytes + 1), 1+1.
        assert_eq!(item_bytes(&item), 5 + 4 + 2);
        assert_eq!(write_units(1), 1.0);
        assert_eq!(write_units(1024), 1.0);
        assert_eq!(write_units(1025), 2.0);
        assert_eq!(read_units(4096, true), 1.0);
        assert_eq!(read_units(4097, false), 1.0);
        assert_eq!(read_units(10, false), 0.5);
    }

    #[test]
    fn a_key_family_is_its_prefix() {
        assert_eq!(family("LIVE#3"), "LIVE#…");
        assert_eq!(family("DUE#LOGOUT#12"), "DUE#LOGOUT#…");
        assert_eq!(family("THROTTLE#ip#addr#1"), "THROTTLE#ip#…");
        assert_eq!(family("SESSION#abc"), "SESSION#…");
    }

    /// A small, fast run: the target's rates for one second, over a sample of 20,000 live
    /// sessions (the shards' and users' shares do not depend on the sample's size).
    fn small() -> Workload {
        Workload {
            live_sessions: 20_000,
            seconds: 1,
            ..TARGET.clone()
        }
    }

    #[test]
    fn the_default_shard_counts_hold_the_target_below_every_partition_limit() {
        let r = simulate(&small(), Shards::DEFAULT);
        assert!(r.holds(), "{}", r.render());
        let live = r
            .hottest
            .iter()
            .find(|h| h.space == Space::LiveIndex)
            .unwrap();
        assert!(
            live.writes_per_s > 300.0,
            "the model sends the live writes: {}",
            r.render()
        );
    }

    #[test]
    fn yesterdays_constant_shard_counts_break_at_the_target() {
        let r = simulate(&small(), Shards { live: 4, due: 2 });
        assert!(!r.holds());
        assert!(r.over.iter().any(|h| h.space == Space::LiveIndex));
        assert!(r.over.iter().any(|h| h.space == Space::DueIndex));
    }
}
