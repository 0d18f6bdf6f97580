//! The table: its definition, every key format and every item shape. Nothing outside this
//! module builds a key string.
//!
//! One table, keys `pk`/`sk`, on-demand billing, TTL on `expires_at`, three GSIs:
//! * `gsi1` (`gsi1pk`/`gsi1sk`): `USER#<uid>` / `<created-ms>#<sid>` — a user's sessions.
//! * `gsi2` (`gsi2pk`/`gsi2sk`): the sparse "due" index — `DUE#SESSION#<shard>` /
//!   `<expiry-s>#<sid>` for live sessions (expiry sweep) and `DUE#LOGOUT#<shard>` /
//!   `<due-s>#<sid>#<client>` for pending deliveries (relay).
//! * `gsi3` (`gsi3pk`/`gsi3sk`): the sparse live-session index for the global search,
//!   write-sharded `LIVE#<shard>` / `<last-access-ms>#<sid>`.

pub use crate::store::vocab::{
    ActorKind, DeliveryMethod, DeliveryStatus, EndReason, EndedBy, EventType, KeyStatus,
    SessionStatus, SignalKind, StreamStatus, TokenBinding, TokenKind, TokenStatus,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The table's partition key attribute.
pub const PK: &str = "pk";
/// The table's sort key attribute.
pub const SK: &str = "sk";
/// The attribute DynamoDB's TTL deletes items by (epoch seconds). Deletion can lag by days, so
/// every read also checks expiry itself.
pub const TTL_ATTRIBUTE: &str = "expires_at";

/// How many write shards each write-sharded key family spreads over: `live` for the
/// live-session search index (gsi3, `LIVE#<shard>`), `due` for the due index (gsi2,
/// `DUE#SESSION#<shard>`, `DUE#LOGOUT#<shard>`). Writers hash a new item into
/// `0..count`; the shard is then part of the item's stored index key, so it never moves when
/// the count changes. Readers read `0..`[`Shards::ceiling`] of the configured counts and the
/// highest counts ever recorded in the table ([`keys::shard_record`]), so a lowered count
/// still reads what a higher one wrote. Sized by the capacity model (`docs/scale.md`,
/// [`crate::store::capacity`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shards {
    /// Shards of the live-session search index (gsi3).
    pub live: u32,
    /// Shards of the due index (gsi2).
    pub due: u32,
}

/// The most shards a family may have (`WARDEN_LIVE_SHARDS`, `WARDEN_DUE_SHARDS`); also
/// the bound a search cursor's shard positions are checked against.
pub const MAX_SHARDS: u32 = 1024;

impl Shards {
    /// The defaults, sized by the capacity model for its stated target (3,000 logins/s and
    /// 20,000 authorizes/s at peak, [`crate::store::capacity::TARGET`]): each live and due
    /// shard then takes about 46,000 / 80 ≈ 575 write units per second on average and its
    /// hottest about 70 % of a partition's 1,000 (`docs/scale.md`).
    pub const DEFAULT: Shards = Shards { live: 80, due: 80 };
    /// The counts readers must read: per family the larger of `self` (the configured counts)
    /// and `recorded` (the highest counts written so far, if any).
    pub fn ceiling(self, recorded: Option<Shards>) -> Shards {
        match recorded {
            Some(r) => Shards {
                live: self.live.max(r.live),
                due: self.due.max(r.due),
            },
            None => self,
        }
    }
    /// Whether `recorded` (the table's record) must be raised to cover `self`.
    pub fn exceeds(self, recorded: Option<Shards>) -> bool {
        recorded.is_none_or(|r| self.live > r.live || self.due > r.due)
    }
}

/// A global secondary index of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GsiDef {
    /// The index name (`gsi1`, `gsi2`, `gsi3`).
    pub name: &'static str,
    /// Its partition key attribute.
    pub pk: &'static str,
    /// Its sort key attribute.
    pub sk: &'static str,
    /// `ALL` for every index, chosen (`docs/scale.md`, "Index projections"): gsi1's list and
    /// gsi3's search show the whole session; gsi2's relay re-sends deliveries from the index.
    /// Every copy is under 1 KB and gsi2's and gsi3's sort keys move on every touch, so a
    /// narrower projection would save no write units there; gsi1 is the one where it would
    /// (a touch would skip it) at a BatchGetItem per list.
    pub projection: &'static str,
}

/// The table's whole definition; the local stack, the tests and the template check use it.
#[derive(Debug, Clone)]
pub struct TableDef {
    /// The partition key attribute ([`PK`]).
    pub pk: &'static str,
    /// The sort key attribute ([`SK`]).
    pub sk: &'static str,
    /// The global secondary indexes.
    pub gsis: Vec<GsiDef>,
    /// The TTL attribute ([`TTL_ATTRIBUTE`]).
    pub ttl_attribute: &'static str,
    /// `PAY_PER_REQUEST` (on-demand): nothing is paid while nobody signs in.
    pub billing_mode: &'static str,
}

/// A user's sessions, newest last (`USER#<uid>` / `<created-ms>#<sid>`).
pub const GSI_USER: &str = "gsi1";
/// The sparse due index: live sessions by expiry and pending deliveries by due time, for the relay.
pub const GSI_DUE: &str = "gsi2";
/// The sparse, write-sharded live-session index of the global search, by last access.
pub const GSI_LIVE: &str = "gsi3";

/// The table as Warden expects it: what the local stack creates, what the tests create on each
/// engine, and what `template.yaml` is checked against.
pub fn table_def() -> TableDef {
    TableDef {
        pk: PK,
        sk: SK,
        gsis: vec![
            GsiDef {
                name: GSI_USER,
                pk: "gsi1pk",
                sk: "gsi1sk",
                projection: "ALL",
            },
            GsiDef {
                name: GSI_DUE,
                pk: "gsi2pk",
                sk: "gsi2sk",
                projection: "ALL",
            },
            GsiDef {
                name: GSI_LIVE,
                pk: "gsi3pk",
                sk: "gsi3sk",
                projection: "ALL",
            },
        ],
        ttl_attribute: TTL_ATTRIBUTE,
        billing_mode: "PAY_PER_REQUEST",
    }
}

/// Key builders. Each returns `(pk, sk)` or one component.
pub mod keys {
    /// Sort key of the session item itself.
    pub const SESSION_SK: &str = "SESSION";
    /// Prefix of every session partition key.
    pub const SESSION_PREFIX: &str = "SESSION#";
    /// Partition key of session `sid`: `SESSION#<sid>` (the session, its counter, token links and
    /// deliveries).
    pub fn session_pk(sid: &str) -> String {
        format!("{SESSION_PREFIX}{sid}")
    }
    /// Sort key of a token link: `TOKEN#<key>` (a code's hash, a token's hash or a random id).
    pub fn session_token_sk(hash: &str) -> String {
        format!("TOKEN#{hash}")
    }
    /// Prefix of token-link sort keys in a session partition.
    pub const TOKEN_LINK_PREFIX: &str = "TOKEN#";
    /// The session's [`super::IssuedCounter`].
    pub const ISSUED_SK: &str = "ISSUED";
    /// Sort key of the back-channel delivery to `client_id`: `LOGOUT#<client>`.
    pub fn delivery_sk(client_id: &str) -> String {
        format!("LOGOUT#{client_id}")
    }
    /// Prefix of delivery sort keys in a session partition.
    pub const DELIVERY_PREFIX: &str = "LOGOUT#";
    /// A `TOKEN#` item's key, by the token's hash.
    pub fn token(hash: &str) -> (String, String) {
        (format!("TOKEN#{hash}"), "TOKEN".into())
    }
    /// A client's key.
    pub fn client(id: &str) -> (String, String) {
        (format!("CLIENT#{id}"), "CLIENT".into())
    }
    /// A user's key, by user id.
    pub fn user(uid: &str) -> (String, String) {
        (format!("USER#{uid}"), "USER".into())
    }
    /// The set of a user's live session ids (`USER#<uid>` / `LIVE`), kept only while a
    /// session limit is configured: attribute `sids` (a string set; absent when empty) and
    /// `seeded` (the set was filled from the user's sessions once, so it is complete).
    pub fn live_sessions(uid: &str) -> (String, String) {
        (format!("USER#{uid}"), "LIVE".into())
    }
    /// The username reservation's key. Lower-cased: usernames are unique regardless of case.
    pub fn username(name: &str) -> (String, String) {
        (
            format!("USERNAME#{}", name.to_lowercase()),
            "USERNAME".into(),
        )
    }
    /// Partition key of the signing keys (one partition: the key set is read in one Query).
    pub const KEYS_PK: &str = "KEYS";
    /// Sort key of signing key `kid`.
    pub fn signing_key_sk(kid: &str) -> String {
        format!("KEY#{kid}")
    }
    /// A login counter's key. The caller puts the window number in `subject`, so each window is a
    /// fresh item.
    pub fn throttle(kind: &str, subject: &str) -> (String, String) {
        (format!("THROTTLE#{kind}#{subject}"), "THROTTLE".into())
    }
    /// An SSF stream's key: in its owner's partition, `CLIENT#<client>` / `STREAM#<id>`
    /// ([`super::StreamItem`]), so one stream is 1 GetItem and a client's streams 1 Query,
    /// and another client's stream id finds nothing.
    pub fn stream(client_id: &str, stream_id: &str) -> (String, String) {
        (client(client_id).0, format!("{STREAM_PREFIX}{stream_id}"))
    }
    /// Sort-key prefix of a client's streams.
    pub const STREAM_PREFIX: &str = "STREAM#";
    /// A subject of an SSF stream: `SSF#<stream>` / `SUBJECT#<hash>` ([`super::SubjectItem`];
    /// the hash is of the subject's canonical JSON, so adding one twice is one item).
    pub fn stream_subject(stream_id: &str, subject_hash: &str) -> (String, String) {
        (
            stream_subjects_pk(stream_id),
            format!("{SUBJECT_PREFIX}{subject_hash}"),
        )
    }
    /// The partition of a stream's subjects.
    pub fn stream_subjects_pk(stream_id: &str) -> String {
        format!("SSF#{stream_id}")
    }
    /// Sort-key prefix of a stream's subjects.
    pub const SUBJECT_PREFIX: &str = "SUBJECT#";
    /// The registry of every stream, whoever owns it (`STREAMS` / `STREAM#<stream_id>`,
    /// [`super::StreamIndexItem`]): one Query tells whether any stream may receive
    /// signals, and gives the dispatcher the streams to match a signal against.
    pub fn stream_index(stream_id: &str) -> (String, String) {
        (STREAMS_PK.into(), format!("{STREAM_PREFIX}{stream_id}"))
    }
    /// The partition of the stream registry.
    pub const STREAMS_PK: &str = "STREAMS";
    /// A Shared Signals outbox record ([`super::SignalItem`]): `SIGNAL#<id>` / `SIGNAL`.
    pub fn signal(id: &str) -> (String, String) {
        (format!("SIGNAL#{id}"), SIGNAL_SK.into())
    }
    /// Sort key of a signal record.
    pub const SIGNAL_SK: &str = "SIGNAL";
    /// `gsi2pk` of a due shard of Shared Signals work: signal records not yet fanned out and
    /// push events not yet final, for the relay to send again.
    pub fn due_signal_gsi(shard: u32) -> String {
        format!("DUE#SIGNAL#{shard}")
    }
    /// The partition of a stream's events ([`super::StreamEventItem`]).
    pub fn stream_events_pk(stream_id: &str) -> String {
        format!("SSFEV#{stream_id}")
    }
    /// Sort key of a stream's event while it is pending (not yet delivered, acknowledged,
    /// rejected or dead). Warden's `jti`s begin with their event's time
    /// (`crate::ssf::delivery::event_jti`), so a poll reads the oldest first with one Query
    /// of the [`EVENT_PENDING_PREFIX`] range, never reading a receipt, and an
    /// acknowledgement by `jti` finds its item by key.
    pub fn stream_event_pending(jti: &str) -> String {
        format!("{EVENT_PENDING_PREFIX}{jti}")
    }
    /// Sort-key prefix of a stream's pending events.
    pub const EVENT_PENDING_PREFIX: &str = "Q#";
    /// Sort key of a stream's event once final (its receipt).
    pub fn stream_event_receipt(jti: &str) -> String {
        format!("{EVENT_RECEIPT_PREFIX}{jti}")
    }
    /// Sort-key prefix of a stream's event receipts.
    pub const EVENT_RECEIPT_PREFIX: &str = "R#";
    /// An offline grant's registration under its user ([`super::OfflineGrantItem`]).
    pub fn offline_grant(uid: &str, family: &str) -> (String, String) {
        (format!("USER#{uid}"), format!("{OFFLINE_PREFIX}{family}"))
    }
    /// Sort-key prefix of a user's offline grants.
    pub const OFFLINE_PREFIX: &str = "OFFLINE#";
    /// The reusable grant of binding types `none` (per user+client+scope) and `cookie`
    /// (per browser binding value+user+client+scope).
    pub fn shared_grant(discriminator: &str) -> (String, String) {
        (format!("GRANT#{discriminator}"), "GRANT".into())
    }
    /// `gsi1pk` of a user's sessions.
    pub fn user_sessions_gsi(uid: &str) -> String {
        format!("USER#{uid}")
    }
    /// `gsi1sk`: the creation time, zero-padded so the string order is the time order, then the
    /// session id.
    pub fn user_sessions_sort(created_ms: i64, sid: &str) -> String {
        format!("{created_ms:013}#{sid}")
    }
    /// The `gsi3` shard of session `sid` among `shards` live shards (stable hash).
    pub fn live_shard(sid: &str, shards: super::Shards) -> u32 {
        shard_of(sid, shards.live)
    }
    /// `gsi3pk` of a live-session shard.
    pub fn live_gsi(shard: u32) -> String {
        format!("LIVE#{shard}")
    }
    /// `gsi3sk`: the last access (epoch ms, zero-padded), then the session id.
    pub fn live_sort(last_ms: i64, sid: &str) -> String {
        format!("{last_ms:013}#{sid}")
    }
    /// `gsi2pk` of a shard of live sessions, sorted by expiry for the relay's sweep.
    pub fn due_session_gsi(shard: u32) -> String {
        format!("DUE#SESSION#{shard}")
    }
    /// `gsi2pk` of a shard of pending deliveries, sorted by when they are due.
    pub fn due_logout_gsi(shard: u32) -> String {
        format!("DUE#LOGOUT#{shard}")
    }
    /// `gsi2sk`: the due time (epoch seconds, zero-padded), then `rest` (`<sid>` or
    /// `<sid>#<client>`).
    pub fn due_sort(at_s: i64, rest: &str) -> String {
        format!("{at_s:010}#{rest}")
    }
    /// `gsi2sk` of a delivery: its due time, then `<sid>#<client>`.
    pub fn delivery_due_sort(at_s: i64, sid: &str, client_id: &str) -> String {
        due_sort(at_s, &format!("{sid}#{client_id}"))
    }
    /// The `gsi2` shard of `id` (a session id) among `shards` due shards (stable hash). A
    /// delivery uses its session's ([`super::SessionItem::due_shard`]).
    pub fn due_shard(id: &str, shards: super::Shards) -> u32 {
        shard_of(id, shards.due)
    }
    /// The shard number in a `gsi2pk`/`gsi3pk` (the digits after its last `#`).
    pub fn shard_in(index_pk: &str) -> Option<u32> {
        index_pk.rsplit('#').next()?.parse().ok()
    }
    /// The record of the highest shard counts written (`SHARDS` / `SHARDS`; attributes
    /// `live` and `due`): raised by readers whose configured counts exceed it, never
    /// lowered, read once per process per 5 minutes.
    pub fn shard_record() -> (String, String) {
        ("SHARDS".into(), "SHARDS".into())
    }
    fn shard_of(id: &str, n: u32) -> u32 {
        let n = n.max(1);
        // FNV-1a: stable across processes and versions.
        let mut h: u32 = 0x811c9dc5;
        for b in id.bytes() {
            h ^= b as u32;
            h = h.wrapping_mul(0x01000193);
        }
        h % n
    }
}

/// A browser session (`SESSION#<sid>` / `SESSION`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionItem {
    /// Partition key: `SESSION#<sid>`.
    pub pk: String,
    /// Sort key: `SESSION`.
    pub sk: String,
    /// The session id (random; also the `sid` claim of its ID and logout tokens).
    pub sid: String,
    /// The user signed in.
    pub user_id: String,
    /// The username at sign-in, for listings without a user read.
    pub username: String,
    /// base64url(SHA-256(cookie secret)).
    pub secret_hash: String,
    /// When the user signed in (epoch ms).
    pub created_ms: i64,
    /// Last use (epoch ms); updated at most once a minute unless an app joins.
    pub last_seen_ms: i64,
    /// Epoch seconds of the authentication (ID token `auth_time`).
    pub auth_time: i64,
    /// End of the idle timeout (epoch s), pushed forward on use, never past the absolute expiry.
    pub idle_expires_at: i64,
    /// End of the session's absolute lifetime (epoch s), fixed at sign-in.
    pub absolute_expires_at: i64,
    /// Signed in with "remember me": the remember-me lifetime replaces both timeouts, and the
    /// cookie is persistent.
    #[serde(default)]
    pub remember_me: bool,
    /// The browser's `User-Agent` at sign-in (truncated), shown in session listings.
    #[serde(default)]
    pub user_agent: String,
    /// The client address at sign-in (truncated), shown in session listings.
    #[serde(default)]
    pub ip: String,
    /// `active` or `ended`.
    pub status: SessionStatus,
    /// Why the session ended (`user`, `admin`, `rp_logout`, `expired`, `user_switch`, ...); `None`
    /// while active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_reason: Option<String>,
    /// When it ended (epoch ms); `None` while active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at_ms: Option<i64>,
    /// Who ended it; absent while active, and on sessions ended before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<EndedBy>,
    /// How many writes mapped tokens to the session: the `v` of its [`IssuedCounter`], filled
    /// in by [`crate::store::Store::session_partition`] (not stored on the session item, whose GSI
    /// copies would otherwise be rewritten by every issuance). Termination conditions on
    /// it, so a token issued concurrently is never left active after the session ended.
    #[serde(default, skip_serializing)]
    pub version: i64,
    /// Apps (clients) that authenticated through this session.
    #[serde(default)]
    pub apps: BTreeMap<String, SessionApp>,
    /// `gsi1` key: the user's sessions ([`keys::user_sessions_gsi`]). Removed when the session
    /// ends, like every index key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1pk: Option<String>,
    /// `gsi1` sort key ([`keys::user_sessions_sort`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi1sk: Option<String>,
    /// `gsi2` key: the due shard the relay sweeps for expired sessions ([`keys::due_session_gsi`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi2pk: Option<String>,
    /// `gsi2` sort key: the idle expiry ([`keys::due_sort`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi2sk: Option<String>,
    /// `gsi3` key: the live-session shard of the global search ([`keys::live_gsi`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi3pk: Option<String>,
    /// `gsi3` sort key: the last access ([`keys::live_sort`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi3sk: Option<String>,
    /// TTL (epoch s): the absolute expiry plus the receipt retention, so an ended session stays
    /// readable with its delivery receipts.
    pub expires_at: i64,
}

impl SessionItem {
    /// The due shard this session was written into (from its `gsi2pk`): its deliveries go to
    /// the same shard, whatever the count is now. 0 when it has no due key (ended).
    pub fn due_shard(&self) -> u32 {
        self.gsi2pk.as_deref().and_then(keys::shard_in).unwrap_or(0)
    }
    /// The moment (epoch seconds) after which this session is expired.
    pub fn effective_expiry(&self) -> i64 {
        self.idle_expires_at.min(self.absolute_expires_at)
    }
    /// Active and not expired at `now_s`. Reads never trust TTL.
    pub fn is_live(&self, now_s: i64) -> bool {
        self.status == SessionStatus::Active && now_s < self.effective_expiry()
    }
    /// Which expiry ends (or ended) this session at `now_s`: its absolute lifetime, or
    /// before that its idle timeout.
    pub fn expiry_reason(&self, now_s: i64) -> EndReason {
        if self.absolute_expires_at <= now_s {
            EndReason::AbsoluteTimeout
        } else {
            EndReason::IdleTimeout
        }
    }
}

/// An app recorded in a session's app list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SessionApp {
    /// The client's display name when it joined.
    pub name: String,
    /// When the app first authenticated through this session (epoch ms).
    pub first_auth_ms: i64,
    /// When it last did (epoch ms).
    pub last_auth_ms: i64,
    /// The client had a back-channel logout URI when it joined: termination writes a
    /// delivery for it without reading the client.
    #[serde(default)]
    pub backchannel: bool,
}

/// `SESSION#<sid>` / `TOKEN#<key>`: the tokens one issuance mapped to the session (a code
/// exchange's new tokens, a refresh's new pair, or an existing shared token). `key` is the
/// exchanged code's hash for a code exchange (the link is then put only if absent, which
/// makes the code single use, and a replayed code finds its family here), a random id for
/// a refresh's held tokens, otherwise the hash of a token the link holds. Also the index of
/// a grant family: every token of a family is linked to the family's sessions, so the
/// family's tokens are that partition's links with its `family` (no separate family items).
///
/// A link with a [`HeldGrant`] *holds* its tokens: they have no `TOKEN#` items, each token
/// names its link (`<sid>.<key>.<secret>`, [`crate::store::held_token`]), and their states are the
/// link's `sa`/`sr`. Every token of one session issued fresh (binding `sso-session`, and
/// every refresh) is held; shared tokens (`none`, `cookie`), the refresh tokens of their
/// exchanges, and tokens issued before held tokens existed are `TOKEN#` items.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(from = "StoredLink")]
pub struct SessionTokenLink {
    /// Partition key: `SESSION#<sid>`.
    pub pk: String,
    /// Sort key: `TOKEN#<key>`.
    pub sk: String,
    /// Token hash → the token's expiry (epoch seconds).
    #[serde(rename = "t")]
    pub tokens: BTreeMap<String, i64>,
    /// The tokens' grant family.
    #[serde(rename = "f")]
    pub family: String,
    /// The latest of the tokens' expiries (and, for a code's link, of the code's retention).
    pub expires_at: i64,
    /// A refresh's link: the hash of the refresh token (a `TOKEN#` item) that refresh
    /// rotated. The same transaction made that token `rotated` (never again usable), so
    /// ending the session need not revoke it: without this, every rotation would leave a
    /// refresh token that counts as live until its expiry, and a long session that refreshes
    /// often would outgrow one termination transaction. (A held refresh token's rotation is
    /// its own link's `sr`.)
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub rotated: Option<String>,
    /// The grant of the tokens this link holds.
    #[serde(rename = "g", default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<HeldGrant>,
    /// A held access token's state: absent while active, else `revoked`.
    #[serde(rename = "sa", default, skip_serializing_if = "Option::is_none")]
    pub access_status: Option<TokenStatus>,
    /// A held refresh token's state: absent while active, else `rotated` or `revoked`.
    #[serde(rename = "sr", default, skip_serializing_if = "Option::is_none")]
    pub refresh_status: Option<TokenStatus>,
    /// Why a held token of this link was first revoked (one reason for both tokens).
    #[serde(rename = "rr", default, skip_serializing_if = "Option::is_none")]
    pub revoked_reason: Option<String>,
    /// The hash of this link's offline refresh token (a `TOKEN#` item of an offline grant),
    /// which a logout, an RP logout or an expiry leaves active
    /// ([`EndReason::keeps_offline_tokens`]).
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    pub offline_refresh: Option<String>,
}

/// What the tokens a link holds share, and which of the link's tokens is which. Written once
/// with the link; only the link's `sa`/`sr`/`rr` change afterwards.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HeldGrant {
    /// The client the tokens were issued to.
    #[serde(rename = "c")]
    pub client_id: String,
    /// The user they were issued for.
    #[serde(rename = "u")]
    pub user_id: String,
    /// The access token's scope.
    #[serde(rename = "s")]
    pub scope: String,
    /// The refresh token's scope (the grant's; a refresh may narrow the access token's).
    #[serde(rename = "rs", default, skip_serializing_if = "Option::is_none")]
    pub refresh_scope: Option<String>,
    /// When they were issued (epoch s).
    #[serde(rename = "i")]
    pub iat: i64,
    /// When the user authenticated (epoch s; the ID token's `auth_time`).
    #[serde(rename = "at")]
    pub auth_time: i64,
    /// The access token's hash.
    #[serde(rename = "a")]
    pub access: String,
    /// The refresh token's hash, if one was issued.
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<String>,
}

impl HeldGrant {
    /// The grant of an issuance's new tokens `(hash, token)`: one access token and at most
    /// one refresh token of one grant. `None` without an access token.
    pub fn of(tokens: &[(String, TokenItem)]) -> Option<Self> {
        let find = |kind: &str| tokens.iter().find(|(_, t)| t.kind == kind);
        let (ha, a) = find("access")?;
        let refresh = find("refresh");
        Some(HeldGrant {
            client_id: a.client_id.clone(),
            user_id: a.user_id.clone(),
            scope: a.scope.clone(),
            refresh_scope: refresh.and_then(|(_, r)| (r.scope != a.scope).then(|| r.scope.clone())),
            iat: a.iat,
            auth_time: a.auth_time,
            access: ha.clone(),
            refresh: refresh.map(|(h, _)| h.clone()),
        })
    }
}

impl SessionTokenLink {
    /// The session id of this link (from its `pk`).
    pub fn sid(&self) -> &str {
        self.pk
            .strip_prefix(keys::SESSION_PREFIX)
            .unwrap_or(&self.pk)
    }

    /// The link's key (from its `sk`).
    pub fn key(&self) -> &str {
        self.sk
            .strip_prefix(keys::TOKEN_LINK_PREFIX)
            .unwrap_or(&self.sk)
    }

    /// The held token whose hash is `hash`, seen as a token item (its state, expiry and
    /// grant). `None` unless this link holds that token.
    pub fn held_token(&self, hash: &str) -> Option<TokenItem> {
        let g = self.grant.as_ref()?;
        let ct = |stored: &str| crate::platform::crypto::ct_eq(stored.as_bytes(), hash.as_bytes());
        let (kind, status, scope) = if ct(&g.access) {
            (TokenKind::Access, &self.access_status, &g.scope)
        } else if g.refresh.as_deref().is_some_and(ct) {
            (
                TokenKind::Refresh,
                &self.refresh_status,
                g.refresh_scope.as_ref().unwrap_or(&g.scope),
            )
        } else {
            return None;
        };
        let exp = *self.tokens.get(hash)?;
        Some(TokenItem {
            pk: self.pk.clone(),
            sk: self.sk.clone(),
            kind,
            client_id: g.client_id.clone(),
            user_id: g.user_id.clone(),
            scope: scope.clone(),
            iat: g.iat,
            exp,
            status: status.unwrap_or(TokenStatus::Active),
            sessions: vec![self.sid().to_string()],
            family: self.family.clone(),
            auth_time: g.auth_time,
            revoked_reason: self.revoked_reason.clone(),
            offline: false,
            expires_at: exp,
        })
    }

    /// Whether this link holds a token that is still usable at `now_s`: not expired, and
    /// neither revoked nor (a refresh token) rotated. Only for links with a grant.
    pub fn holds_live_token(&self, now_s: i64) -> bool {
        let Some(g) = &self.grant else {
            return false;
        };
        let live = |h: &str, status: &Option<TokenStatus>| {
            status.is_none() && self.tokens.get(h).is_some_and(|exp| *exp > now_s)
        };
        live(&g.access, &self.access_status)
            || g.refresh
                .as_deref()
                .is_some_and(|r| live(r, &self.refresh_status))
    }
}

/// A link as read from the table: the shape above, or the one-token shape written before
/// one link per issuance (`token_hash`, `kind`, `family`: read as a link holding that one
/// token until `expires_at`), so sessions from before the change still end cleanly.
#[derive(Deserialize)]
struct StoredLink {
    pk: String,
    sk: String,
    #[serde(rename = "t", default)]
    tokens: BTreeMap<String, i64>,
    #[serde(rename = "f", alias = "family", default)]
    family: String,
    expires_at: i64,
    #[serde(default)]
    token_hash: Option<String>,
    #[serde(rename = "r", default)]
    rotated: Option<String>,
    #[serde(rename = "g", default)]
    grant: Option<HeldGrant>,
    #[serde(rename = "sa", default)]
    access_status: Option<TokenStatus>,
    #[serde(rename = "sr", default)]
    refresh_status: Option<TokenStatus>,
    #[serde(rename = "rr", default)]
    revoked_reason: Option<String>,
    #[serde(rename = "o", default)]
    offline_refresh: Option<String>,
}

impl From<StoredLink> for SessionTokenLink {
    fn from(w: StoredLink) -> Self {
        let mut tokens = w.tokens;
        if let Some(h) = w.token_hash {
            tokens.entry(h).or_insert(w.expires_at);
        }
        SessionTokenLink {
            pk: w.pk,
            sk: w.sk,
            tokens,
            family: w.family,
            expires_at: w.expires_at,
            rotated: w.rotated,
            grant: w.grant,
            access_status: w.access_status,
            refresh_status: w.refresh_status,
            revoked_reason: w.revoked_reason,
            offline_refresh: w.offline_refresh,
        }
    }
}

/// `SESSION#<sid>` / `ISSUED`: counts the writes that mapped tokens to the session. Every
/// issuance bumps it (and checks the session is active); termination conditions on the count
/// it read with the session's links. A small item in no index, so an issuance does not
/// rewrite the session item and its three index copies. Absent until the first issuance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IssuedCounter {
    /// Partition key: `SESSION#<sid>`.
    pub pk: String,
    /// Sort key: `ISSUED`.
    pub sk: String,
    /// The number of issuances so far.
    pub v: i64,
    /// TTL (epoch s): the latest expiry among the tokens of the latest issuance.
    pub expires_at: i64,
}

/// `TOKEN#<hash>` / `TOKEN`: an access or refresh token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenItem {
    /// Partition key: `TOKEN#<hash>`.
    pub pk: String,
    /// Sort key: `TOKEN`.
    pub sk: String,
    /// `access` or `refresh`.
    pub kind: TokenKind,
    /// The client the token was issued to.
    pub client_id: String,
    /// The user it was issued for.
    pub user_id: String,
    /// Its scope (space-separated).
    pub scope: String,
    /// Issued at (epoch s).
    pub iat: i64,
    /// The token's expiry (epoch s), checked on every use; introspection answers it.
    pub exp: i64,
    /// `active`, `revoked`, or (refresh only) `rotated`.
    pub status: TokenStatus,
    /// Sessions this token is mapped to (several only with binding `none`/`cookie`).
    #[serde(default)]
    pub sessions: Vec<String>,
    /// Grant family: a code exchange and every refresh that follows it.
    pub family: String,
    /// When the user authenticated (epoch s), carried into the tokens a refresh issues.
    pub auth_time: i64,
    /// Why it was revoked: its session's end reason, `revoked` (RFC 7009), `refresh_reuse` or
    /// `code_replay`; `None` unless revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_reason: Option<String>,
    /// Part of an offline grant (its client keeps `offline_access` tokens through logout):
    /// registered under its user ([`OfflineGrantItem`]), and a refresh token of it may be
    /// used after its session ended.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub offline: bool,
    /// TTL (epoch s): the token's expiry.
    pub expires_at: i64,
}

impl TokenItem {
    /// A client-credentials token (RFC 6749 §4.4): the client's own, issued for no user
    /// and mapped to no session.
    pub fn is_clients_own(&self) -> bool {
        self.user_id.is_empty() && self.sessions.is_empty()
    }
}

/// `USER#<uid>` / `OFFLINE#<family>`: the live tokens of an offline grant (a client with
/// [`ClientItem::keep_offline_tokens`], scope `offline_access`), kept beside the user so
/// that what outlives its session is still found when the user's credentials change or the
/// account is disabled or deleted, and so that a refresh after the session ended has
/// something to be conditioned on. Every issuance of the family rewrites it (and bumps
/// `v`); the user-wide revocation deletes it only at the `v` it read.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OfflineGrantItem {
    /// Partition key: `USER#<uid>`.
    pub pk: String,
    /// Sort key: `OFFLINE#<family>`.
    pub sk: String,
    /// The session the grant started in (which may have ended).
    #[serde(default)]
    pub sid: String,
    /// The family's live token hashes → their expiry (epoch s).
    #[serde(rename = "t")]
    pub tokens: BTreeMap<String, i64>,
    /// Issuances so far (the revocation's condition).
    pub v: i64,
    /// TTL (epoch s): the latest expiry of its tokens.
    pub expires_at: i64,
}

/// What an authorization code grants. Not stored: `authorize` seals it into the code
/// itself ([`crate::oauth::code`]), so the code is opaque to the client and the table holds
/// nothing readable for it; single use is enforced by the exchange's [`SessionTokenLink`], keyed by the code's hash.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CodeGrant {
    /// The client the code was issued to; the exchange must be made by it.
    #[serde(rename = "c")]
    pub client_id: String,
    /// The redirect URI of the request; the exchange must send the same (RFC 6749 §4.1.3).
    #[serde(rename = "r")]
    pub redirect_uri: String,
    /// The signed-in user.
    #[serde(rename = "u")]
    pub user_id: String,
    /// The session the code was issued from; its tokens are mapped to it.
    #[serde(rename = "s")]
    pub sid: String,
    /// The granted scope (space-separated).
    #[serde(rename = "sc")]
    pub scope: String,
    /// The request's `nonce`, echoed in the ID token (OIDC Core §3.1.2.1).
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The PKCE S256 challenge, checked against the exchange's `code_verifier` (RFC 7636 §4.6).
    #[serde(rename = "pc", default, skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<String>,
    /// When the user authenticated (epoch s), for the ID token's `auth_time`.
    #[serde(rename = "at")]
    pub auth_time: i64,
    /// Browser binding value for `cookie` binding (hash of `warden_atbv`).
    #[serde(rename = "bb", default, skip_serializing_if = "Option::is_none")]
    pub browser_binding: Option<String>,
    /// Code lifetime end (epoch s).
    #[serde(rename = "v")]
    pub valid_until: i64,
    /// The user's ID-token claims released by the granted scopes, taken at authorize so
    /// the exchange needs no user read.
    #[serde(rename = "cl", default)]
    pub claims: IdClaims,
}

impl CodeGrant {
    /// A grant for `session` with no nonce, PKCE challenge or browser binding.
    pub fn for_session(
        session: &SessionItem,
        client_id: &str,
        redirect_uri: &str,
        scope: &str,
        claims: IdClaims,
        valid_until: i64,
    ) -> Self {
        CodeGrant {
            client_id: client_id.into(),
            redirect_uri: redirect_uri.into(),
            user_id: session.user_id.clone(),
            sid: session.sid.clone(),
            scope: scope.into(),
            nonce: None,
            code_challenge: None,
            auth_time: session.auth_time,
            browser_binding: None,
            valid_until,
            claims,
        }
    }
}

/// User claims an ID token carries when the scopes release them (`profile`: name and
/// preferred_username; `email`: email).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct IdClaims {
    /// `name` (scope `profile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `preferred_username` (scope `profile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// `email` (scope `email`), when the user has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl IdClaims {
    /// The claims of `user` that a space-separated `scope` releases.
    pub fn for_scope(user: &UserItem, scope: &str) -> Self {
        let has = |s: &str| scope.split(' ').any(|x| x == s);
        let mut c = IdClaims::default();
        if has("profile") {
            c.name = Some(user.name.clone());
            c.preferred_username = Some(user.username.clone());
        }
        if has("email") && !user.email.is_empty() {
            c.email = Some(user.email.clone());
        }
        c
    }
}

/// `CLIENT#<id>` / `CLIENT`: a registered relying party.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClientItem {
    /// Partition key: `CLIENT#<id>`.
    pub pk: String,
    /// Sort key: `CLIENT`.
    pub sk: String,
    /// The client id.
    pub client_id: String,
    /// Display name (the login page, session listings).
    pub name: String,
    /// base64url(SHA-256(secret)); `None` for public clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_hash: Option<String>,
    /// Registered redirect URIs; an authorization request must name one exactly.
    pub redirect_uris: Vec<String>,
    /// Origins (`scheme://host[:port]`) whose pages may call token, userinfo and revoke
    /// (CORS). Empty: the origins of the redirect URIs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub web_origins: Vec<String>,
    /// Where RP-Initiated Logout may send the browser afterwards (exact match).
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Where logout tokens are POSTed when a session the client joined ends (OIDC Back-Channel
    /// Logout 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// The client registered that it needs `sid` in logout tokens (Back-Channel Logout §2.2);
    /// Warden's logout tokens always carry it.
    #[serde(default)]
    pub backchannel_logout_session_required: bool,
    /// The page loaded in a hidden iframe of the logout page (OIDC Front-Channel Logout 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontchannel_logout_uri: Option<String>,
    /// Add `iss` and `sid` to the front-channel logout URI (Front-Channel Logout §2).
    #[serde(default)]
    pub frontchannel_logout_session_required: bool,
    /// Scopes the client may request.
    pub scopes: Vec<String>,
    /// Grant types the client may use at the token endpoint (`authorization_code`,
    /// `refresh_token`).
    pub grant_types: Vec<String>,
    /// `sso-session`, `cookie` or `none`.
    pub token_binding: TokenBinding,
    /// A disabled client is refused everywhere, as if unknown.
    #[serde(default)]
    pub disabled: bool,
    /// When it was registered (epoch ms).
    pub created_ms: i64,
    /// A resource server: may introspect tokens issued to other clients (RFC 7662 §2.1
    /// leaves who may introspect what to the server). Without it a client introspects only
    /// its own tokens. Clients stored before the setting existed keep what they could do
    /// (the attribute is absent: `true`); every client created since says it explicitly.
    #[serde(default = "legacy_resource_server")]
    pub resource_server: bool,
    /// Refresh tokens granted `offline_access` outlive the session's end by the user, by
    /// the RP's logout and by expiry (Back-Channel Logout 1.0 §2.7: they SHOULD NOT be
    /// revoked then), never a credential change, a disabled or deleted account or an
    /// administrator's termination. Off by default (every mapped token is revoked, as WSO2
    /// does). Applies to tokens issued while it is on ([`OfflineGrantItem`]).
    #[serde(default)]
    pub keep_offline_tokens: bool,
}

fn legacy_resource_server() -> bool {
    true
}

impl ClientItem {
    /// A public client (no secret): it must use PKCE and authenticates with `none`.
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }
}

/// `USER#<uid>` / `USER`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UserItem {
    /// Partition key: `USER#<uid>`.
    pub pk: String,
    /// Sort key: `USER`.
    pub sk: String,
    /// The user id (the `sub` claim).
    pub user_id: String,
    /// The sign-in name, as entered at creation (unique regardless of case through
    /// [`UsernameItem`]).
    pub username: String,
    /// The password's Argon2id hash (PHC string).
    pub password_hash: String,
    /// Display name (the `name` claim).
    #[serde(default)]
    pub name: String,
    /// E-mail address (the `email` claim); empty if none.
    #[serde(default)]
    pub email: String,
    /// A disabled user cannot sign in.
    #[serde(default)]
    pub disabled: bool,
    /// Bumped by every password change or reset (0 for items written before it existed), so
    /// a login racing a reset can be refused by a condition on it.
    #[serde(default)]
    pub credential_version: i64,
    /// Extra scopes this user may be granted (e.g. `internal_session_view`).
    #[serde(default)]
    pub roles: Vec<String>,
    /// When the user was created (epoch ms).
    pub created_ms: i64,
}

/// `USERNAME#<lowercase name>` / `USERNAME`: uniqueness of usernames.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UsernameItem {
    /// Partition key: `USERNAME#<lowercase name>`.
    pub pk: String,
    /// Sort key: `USERNAME`.
    pub sk: String,
    /// The user holding the name.
    pub user_id: String,
}

/// `KEYS` / `KEY#<kid>`: an RS256 signing key. `private_pkcs8` is base64url DER.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SigningKeyItem {
    /// Partition key: `KEYS`.
    pub pk: String,
    /// Sort key: `KEY#<kid>`.
    pub sk: String,
    /// The key id (JWS `kid` header, JWKS entry).
    pub kid: String,
    /// The private key (PKCS#8 DER, base64url) in the clear: only in memory once opened,
    /// and in items written before keys were wrapped. Never written now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_pkcs8: Option<String>,
    /// The private key wrapped (`<scheme>:<ciphertext>`, see `key_protection`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_wrapped: Option<String>,
    /// The RSA public modulus (base64url, as published in the JWKS).
    pub n: String,
    /// The RSA public exponent (base64url).
    pub e: String,
    /// When the key was generated (epoch ms).
    pub created_ms: i64,
    /// `active` (signs), `previous` (verifies, published), `retired`.
    pub status: KeyStatus,
}

/// `SESSION#<sid>` / `LOGOUT#<client>`: one back-channel logout delivery (outbox record).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeliveryItem {
    /// Partition key: `SESSION#<sid>`.
    pub pk: String,
    /// Sort key: `LOGOUT#<client>`.
    pub sk: String,
    /// The ended session.
    pub sid: String,
    /// The app to notify.
    pub client_id: String,
    /// The session's user (the logout token's `sub`).
    pub user_id: String,
    /// `pending`, `delivered`, `rejected`, `dead`.
    pub status: DeliveryStatus,
    /// POSTs made so far.
    pub attempts: u32,
    /// The status of the latest answer, if the app answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_http_status: Option<u16>,
    /// Why the latest attempt failed; removed once the delivery ends without an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the session ended and the delivery was written (epoch ms).
    pub created_ms: i64,
    /// When the latest attempt was recorded (epoch ms).
    pub updated_ms: i64,
    /// When the app acknowledged it (epoch ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_ms: Option<i64>,
    /// Why the session ended (`user`, `admin`, `rp_logout`, `expired`, ...).
    pub reason: String,
    /// `gsi2` key while pending: the due shard the relay reads ([`keys::due_logout_gsi`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi2pk: Option<String>,
    /// `gsi2` sort key while pending: when the relay should send it again ([`keys::due_sort`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi2sk: Option<String>,
    /// TTL (epoch s): the receipt retention after the session ended.
    pub expires_at: i64,
}

/// `THROTTLE#<kind>#<subject>#<window>` / `THROTTLE`: a login-attempt counter of one fixed
/// window (see [`crate::store::Store::reserve_login_attempt`]).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ThrottleItem {
    /// Partition key: `THROTTLE#<kind>#<subject>#<window>`.
    pub pk: String,
    /// Sort key: `THROTTLE`.
    pub sk: String,
    /// Attempts counted in the window: each is reserved before its password check, and a successful
    /// sign-in gives its back.
    pub failures: u32,
    /// Start of the window (epoch s).
    pub window_start: i64,
    /// TTL (epoch s): the end of the window after next.
    pub expires_at: i64,
}

/// `GRANT#<discriminator>` / `GRANT`: the access token a `none`/`cookie` client reuses
/// (re-derived from `seed`, never stored; each exchange still gets its own refresh token).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SharedGrantItem {
    /// Partition key: `GRANT#<discriminator>`.
    pub pk: String,
    /// Sort key: `GRANT`.
    pub sk: String,
    /// The user and client the shared token was issued to. A shared token is handed out
    /// again only to the same user and client (checked on every reuse, not only implied by
    /// the key): an item without them (written before they were stored) is never reused.
    #[serde(default)]
    pub user_id: String,
    /// The client the shared token was issued to (see `user_id`).
    #[serde(default)]
    pub client_id: String,
    /// Hash of the shared access token, to check the re-derived one against.
    pub access_hash: String,
    /// Random seed from which the access token is re-derived (HMAC with the grant key).
    pub seed: String,
    /// The grant family the shared token belongs to.
    pub family: String,
    /// The shared token's expiry (epoch s); it is reused only while at least a minute is left.
    pub exp: i64,
    /// The signing key whose secret derives the token from `seed`.
    pub kid: String,
    /// TTL (epoch s): the shared token's expiry.
    pub expires_at: i64,
}

// --- Ended-session markers (issue 20, "Recently ended"): one small item per ended
// session in its user's partition, written after the termination, so a user's recently
// ended sessions are one Query without touching the termination transaction (which
// removes the session's `gsi1` keys). In no index.

/// Sort-key prefix of the ended-session markers under `USER#<uid>`.
pub const ENDED_MARKER_PREFIX: &str = "ENDED#";

/// The key of a user's marker for an ended session: `USER#<uid>` /
/// `ENDED#<ended-ms, 13 digits>#<sid>` (newest last in key order).
pub fn ended_marker_key(uid: &str, ended_ms: i64, sid: &str) -> (String, String) {
    (
        keys::user(uid).0,
        format!("{ENDED_MARKER_PREFIX}{:013}#{sid}", ended_ms.max(0)),
    )
}

/// `USER#<uid>` / `ENDED#<ms>#<sid>`: a pointer to one of the user's ended sessions. Only a
/// pointer: what is shown (reason, actor, receipts) is read from the session partition.
/// About 100 bytes: 1 write unit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EndedMarker {
    /// Partition key: `USER#<uid>`.
    pub pk: String,
    /// Sort key: `ENDED#<ended-ms>#<sid>`.
    pub sk: String,
    /// The ended session.
    pub sid: String,
    /// When the marker was written, just after the session ended (epoch ms).
    pub ended_ms: i64,
    /// TTL (epoch s): the receipts' retention, so the marker goes with what it points at.
    pub expires_at: i64,
}

impl EndedMarker {
    /// The marker of session `sid` of user `uid`, ended at `ended_ms`, kept `retain_s`.
    pub fn new(uid: &str, sid: &str, ended_ms: i64, retain_s: i64) -> Self {
        let (pk, sk) = ended_marker_key(uid, ended_ms, sid);
        EndedMarker {
            pk,
            sk,
            sid: sid.to_string(),
            ended_ms,
            expires_at: ended_ms / 1000 + retain_s,
        }
    }
}

// --- end of the ended-session markers.

// --- SSF streams (issue 21).

/// `CLIENT#<client>` / `STREAM#<stream_id>`: an SSF event stream (SSF 1.0 §8.1.1), owned by
/// the client (receiver) that created it, in that client's partition. Read whole and
/// written whole, conditioned on `v` (each write bumps it), so concurrent updates never
/// lose one another.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
pub struct StreamItem {
    /// Partition key: `CLIENT#<client>`.
    pub pk: String,
    /// Sort key: `STREAM#<stream_id>`.
    pub sk: String,
    /// The stream id (random, transmitter-supplied).
    pub stream_id: String,
    /// The owning receiver (client id).
    pub client_id: String,
    /// `aud` of the stream's SETs: the receiver's client id unless it asked for others.
    pub aud: Vec<String>,
    /// What the receiver asked for (URIs as sent, unknown ones included).
    pub events_requested: Vec<String>,
    /// What will be delivered: the requested types Warden supports.
    pub events_delivered: Vec<EventType>,
    /// Push or poll.
    pub delivery_method: DeliveryMethod,
    /// Push: the receiver's endpoint (checked against the outbound address policy); poll:
    /// the endpoint Warden assigns.
    pub endpoint_url: String,
    /// Push: the `Authorization` header value to send, sealed
    /// ([`crate::keys::protection::KeyProtector::seal`]): never stored, logged or
    /// answered in the clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_header_sealed: Option<String>,
    /// The receiver's description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Seconds between verification requests the receiver may make (SSF 1.0 §8.1.4.2).
    pub min_verification_interval: i64,
    /// `enabled`, `paused` or `disabled`.
    pub status: StreamStatus,
    /// Why the status was last changed, as the receiver said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// The latest verification request not yet answered: recorded here durably for the
    /// dispatcher that will send the verification SET (`state` echoed back in it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<VerificationRequest>,
    /// When the latest verification was requested (epoch ms), kept after it is answered to
    /// enforce `min_verification_interval`.
    #[serde(default)]
    pub last_verification_ms: i64,
    /// When it was created (epoch ms).
    pub created_ms: i64,
    /// When it was last changed (epoch ms).
    pub updated_ms: i64,
    /// The write version; each write is conditioned on the one it read.
    pub v: i64,
}

impl std::fmt::Debug for StreamItem {
    /// Never prints the sealed authorization header (nor anything of it).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamItem")
            .field("stream_id", &self.stream_id)
            .field("client_id", &self.client_id)
            .field("delivery_method", &self.delivery_method)
            .field("status", &self.status)
            .field("v", &self.v)
            .finish_non_exhaustive()
    }
}

/// A receiver's request for a verification event (SSF 1.0 §8.1.4.2).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VerificationRequest {
    /// The receiver's `state`, to echo in the verification SET.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// When it was requested (epoch ms).
    pub requested_ms: i64,
}

/// `SSF#<stream_id>` / `SUBJECT#<hash>`: a subject added to a stream (SSF 1.0 §8.1.3.2),
/// the RFC 9493 subject identifier as the receiver sent it (canonical JSON).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SubjectItem {
    /// Partition key: `SSF#<stream_id>`.
    pub pk: String,
    /// Sort key: `SUBJECT#<hash of the canonical subject>`.
    pub sk: String,
    /// The subject identifier, canonical JSON (sorted members).
    pub subject: String,
    /// The receiver said it verified the subject (SSF 1.0 §8.1.3.2 `verified`).
    #[serde(default)]
    pub verified: bool,
    /// When it was added (epoch ms).
    pub added_ms: i64,
}

/// `STREAMS` / `STREAM#<stream_id>`: a stream's entry in the registry of all streams,
/// written with the stream itself ([`crate::store::Store::put_stream`]) so its status here
/// is always the stream's.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StreamIndexItem {
    /// Partition key: `STREAMS`.
    pub pk: String,
    /// Sort key: `STREAM#<stream_id>`.
    pub sk: String,
    /// The stream id.
    pub stream_id: String,
    /// Its owner (the stream is `CLIENT#<client>` / `STREAM#<stream_id>`).
    pub client_id: String,
    /// The stream's status.
    pub status: StreamStatus,
}

impl StreamIndexItem {
    /// The registry entry of `s`.
    pub fn of(s: &StreamItem) -> Self {
        let (pk, sk) = keys::stream_index(&s.stream_id);
        StreamIndexItem {
            pk,
            sk,
            stream_id: s.stream_id.clone(),
            client_id: s.client_id.clone(),
            status: s.status,
        }
    }
}

/// `SIGNAL#<id>` / `SIGNAL`: one Shared Signals outbox record (issue 21): what happened to
/// a user, written once per termination transaction (not per stream) or account change,
/// for the dispatcher to turn into one SET per matching stream. Written only while some
/// stream exists. 1 write unit (it is well under 1 KB).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SignalItem {
    /// Partition key: `SIGNAL#<id>`.
    pub pk: String,
    /// Sort key: `SIGNAL`.
    pub sk: String,
    /// The record's id (random).
    pub id: String,
    /// The SETs' `txn` (RFC 8417 §2.2): shared by every record of one bulk termination.
    pub txn: String,
    /// What happened.
    pub kind: SignalKind,
    /// The user it happened to.
    pub user_id: String,
    /// The sessions ended (session-revoked only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sids: Vec<String>,
    /// Why they ended (session-revoked only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<EndReason>,
    /// Who acted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<EndedBy>,
    /// A verification request's stream (`client_id`, `stream_id`): the only stream it goes
    /// to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<(String, String)>,
    /// A verification request's `state`, echoed in its SET.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// When it happened (epoch ms).
    pub created_ms: i64,
    /// `pending` until the dispatcher has fanned it out.
    pub status: DeliveryStatus,
    /// How many streams' events the fan-out wrote (set when it is done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<u32>,
    /// `gsi2` key while pending ([`keys::due_signal_gsi`]): filled in by the store when it
    /// writes the record, so the relay sends it again if its queue message is lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi2pk: Option<String>,
    /// `gsi2` sort key while pending: when the relay should send it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi2sk: Option<String>,
    /// TTL (epoch s).
    pub expires_at: i64,
}

impl SignalItem {
    /// How long a signal record is kept (s): as long as a delivery receipt.
    pub const RETENTION_SECS: i64 = 14 * 86400;
    /// How long after it is written the relay sends a record still pending (its queue
    /// message lost) again, and waits between such re-sends.
    pub const RESEND_AFTER_SECS: i64 = 60;

    /// A new pending record of `kind` for `user_id` at `now_ms`, with a fresh id and `txn`.
    pub fn new(kind: SignalKind, user_id: &str, actor: Option<EndedBy>, now_ms: i64) -> Self {
        let id = crate::platform::crypto::random_id();
        let (pk, sk) = keys::signal(&id);
        SignalItem {
            pk,
            sk,
            txn: id.clone(),
            id,
            kind,
            user_id: user_id.to_string(),
            sids: Vec::new(),
            reason: None,
            actor,
            stream: None,
            state: None,
            created_ms: now_ms,
            status: DeliveryStatus::Pending,
            events: None,
            gsi2pk: None,
            gsi2sk: None,
            expires_at: now_ms / 1000 + Self::RETENTION_SECS,
        }
    }

    /// The record of a verification request on `stream_id` of `client_id`.
    pub fn verification(
        client_id: &str,
        stream_id: &str,
        state: Option<&str>,
        now_ms: i64,
    ) -> Self {
        SignalItem {
            stream: Some((client_id.to_string(), stream_id.to_string())),
            state: state.map(str::to_string),
            ..SignalItem::new(SignalKind::Verification, "", None, now_ms)
        }
    }

    /// The record with its due keys: in `shard`, due `after_s` seconds after it was made.
    pub fn due_in(mut self, shard: u32, after_s: i64) -> Self {
        self.gsi2pk = Some(keys::due_signal_gsi(shard));
        self.gsi2sk = Some(keys::due_sort(self.created_ms / 1000 + after_s, &self.id));
        self
    }

    /// The record of a termination of `sids` (all of `user_id`) for `reason` by `actor`.
    pub fn termination(
        user_id: &str,
        sids: &[&str],
        reason: EndReason,
        actor: &EndedBy,
        now_ms: i64,
    ) -> Self {
        SignalItem {
            sids: sids.iter().map(|s| s.to_string()).collect(),
            reason: Some(reason),
            ..SignalItem::new(
                SignalKind::SessionRevoked,
                user_id,
                Some(actor.clone()),
                now_ms,
            )
        }
    }
}

/// One event of one stream (issue 21): the SET Warden built for it when it fanned a signal
/// out (or for a verification request), and its delivery. Pending, it sits at
/// `SSFEV#<stream>` / `Q#<jti>` — what a poll reads and what a push attempt
/// takes; final (`delivered` — pushed and accepted, or acknowledged by a poll — `rejected`
/// or `dead`), it moves to `R#<jti>`, its receipt, kept for the retention period. One item
/// per stream and event: whatever a receiver does, it never touches another stream's.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StreamEventItem {
    /// Partition key: `SSFEV#<stream_id>`.
    pub pk: String,
    /// Sort key: `Q#<jti>` while pending, `R#<jti>` once final.
    pub sk: String,
    /// The stream.
    pub stream_id: String,
    /// The stream's owner (the receiver's client id): the stream's key.
    pub client_id: String,
    /// The SET's `jti`: derived from the signal, the stream and the event, so a fan-out run
    /// twice writes the same event.
    pub jti: String,
    /// The signal record it came from (empty for a verification event).
    #[serde(default)]
    pub signal_id: String,
    /// The SET's `txn`.
    #[serde(default)]
    pub txn: String,
    /// The event type.
    pub event_type: EventType,
    /// The user it is about (empty for a verification event).
    #[serde(default)]
    pub user_id: String,
    /// The session it is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The signed SET (compact JWS, `typ: secevent+jwt`): a signed statement for the
    /// receiver, not a credential. The same bytes on every attempt.
    pub set: String,
    /// Push or poll (the stream's, when the event was made).
    pub delivery_method: DeliveryMethod,
    /// `pending`, `delivered`, `rejected`, `dead`.
    pub status: DeliveryStatus,
    /// Push attempts made so far.
    #[serde(default)]
    pub attempts: u32,
    /// The status of the latest push answer, if the receiver answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_http_status: Option<u16>,
    /// Why the latest attempt failed, or the receiver's RFC 8935 / RFC 8936 error
    /// (`err`: `description`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When it was made (epoch ms): the pending sort key's time.
    pub created_ms: i64,
    /// When it last changed (epoch ms).
    pub updated_ms: i64,
    /// When it became `delivered` (epoch ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_ms: Option<i64>,
    /// `gsi2` key of a pending push event ([`keys::due_signal_gsi`]): the relay sends it
    /// again if its message is lost. Poll events have none (the receiver comes for them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi2pk: Option<String>,
    /// `gsi2` sort key of a pending push event: when the relay should send it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gsi2sk: Option<String>,
    /// TTL (epoch s).
    pub expires_at: i64,
}

impl StreamEventItem {
    /// The event as its receipt (`R#<jti>`) with a final `status`, out of the due index.
    pub fn finished(&self, status: DeliveryStatus, now_ms: i64) -> Self {
        StreamEventItem {
            sk: keys::stream_event_receipt(&self.jti),
            status,
            updated_ms: now_ms,
            delivered_ms: (status == DeliveryStatus::Delivered).then_some(now_ms),
            gsi2pk: None,
            gsi2sk: None,
            ..self.clone()
        }
    }

    /// A receipt put back to pending for a replay (attempts from zero), due in `shard`
    /// at `due_s` when it is a push event.
    pub fn reopened(&self, shard: u32, due_s: i64, now_ms: i64) -> Self {
        let push = self.delivery_method == DeliveryMethod::Push;
        StreamEventItem {
            sk: keys::stream_event_pending(&self.jti),
            status: DeliveryStatus::Pending,
            attempts: 0,
            updated_ms: now_ms,
            delivered_ms: None,
            gsi2pk: push.then(|| keys::due_signal_gsi(shard)),
            gsi2sk: push.then(|| keys::due_sort(due_s, &self.jti)),
            ..self.clone()
        }
    }
}

// --- end of SSF streams.

/// Serialise an item shape into DynamoDB attributes.
pub fn to_item<T: Serialize>(
    v: &T,
) -> Result<
    std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
    crate::store::StoreError,
> {
    serde_dynamo::to_item(v).map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))
}

/// Read an item shape back from DynamoDB attributes.
pub fn from_item<T: serde::de::DeserializeOwned>(
    item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) -> Result<T, crate::store::StoreError> {
    serde_dynamo::from_item(item).map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_in_range() {
        for n in [1, 4, 64, MAX_SHARDS] {
            let shards = Shards { live: n, due: n };
            for id in ["a", "b", "some-long-session-id"] {
                assert!(keys::live_shard(id, shards) < n);
                assert!(keys::due_shard(id, shards) < n);
                assert_eq!(keys::live_shard(id, shards), keys::live_shard(id, shards));
            }
        }
        assert_eq!(keys::live_sort(5, "x"), "0000000000005#x");
    }

    #[test]
    fn the_shard_of_an_index_key_is_read_back_from_it() {
        assert_eq!(keys::shard_in(&keys::live_gsi(17)), Some(17));
        assert_eq!(keys::shard_in(&keys::due_session_gsi(3)), Some(3));
        assert_eq!(keys::shard_in(&keys::due_logout_gsi(0)), Some(0));
        assert_eq!(keys::shard_in("LIVE#x"), None);
    }

    #[test]
    fn readers_read_the_larger_of_the_configured_and_recorded_counts() {
        let now = Shards { live: 8, due: 4 };
        assert_eq!(now.ceiling(None), now);
        let higher = Shards { live: 16, due: 2 };
        assert_eq!(now.ceiling(Some(higher)), Shards { live: 16, due: 4 });
        // A count above the record raises it; a lowered count leaves it alone.
        assert!(now.exceeds(None));
        assert!(now.exceeds(Some(higher)));
        assert!(!Shards { live: 4, due: 2 }.exceeds(Some(higher)));
    }
}
