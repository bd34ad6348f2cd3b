//! Events: what happened to containers, images, networks and volumes, for
//! `GET /events` (the balena supervisor follows a device's apps through
//! it).
//!
//! Every service holds an `Arc<Events>` and calls [`Events::emit`] after
//! the change it reports is done. The last [`RING`] events are kept in
//! memory for `since` (Docker keeps 256 too); subscribers get new events
//! through a broadcast channel. A subscriber that falls more than
//! [`BACKLOG`] events behind loses the oldest ones, with a warning in the
//! log, rather than holding memory for it or slowing the engine down.
//!
//! Filters follow Moby's `daemon/events/filter.go`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use api::events::{Actor, Message};

use crate::filters::Filters;
use crate::EngineError;

/// Events kept in memory for `since`.
pub const RING: usize = 256;
/// Events a subscriber may be behind before it loses some.
pub const BACKLOG: usize = 1024;

/// The object an event is about (`Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Container,
    Image,
    Network,
    Volume,
    Daemon,
}

impl Kind {
    /// Docker's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Image => "image",
            Kind::Network => "network",
            Kind::Volume => "volume",
            Kind::Daemon => "daemon",
        }
    }
}

/// The event bus.
#[derive(Debug)]
pub struct Events {
    ring: Mutex<VecDeque<Arc<Message>>>,
    tx: tokio::sync::broadcast::Sender<Arc<Message>>,
    listeners: Arc<AtomicUsize>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Nanoseconds since the epoch, now.
fn now_nanos() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl Events {
    pub fn new() -> Arc<Self> {
        Arc::new(Events {
            ring: Mutex::new(VecDeque::with_capacity(RING)),
            tx: tokio::sync::broadcast::channel(BACKLOG).0,
            listeners: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Records and publishes an event about `id`. Container and image
    /// events also carry Docker's old `status`/`id`/`from` fields (`from`
    /// is the container's image, taken from the `image` attribute).
    pub fn emit(
        &self,
        kind: Kind,
        action: impl Into<String>,
        id: impl Into<String>,
        attributes: BTreeMap<String, String>,
    ) {
        let action = action.into();
        let id = id.into();
        let nanos = now_nanos();
        let (status, old_id, from) = match kind {
            Kind::Container => (
                action.clone(),
                id.clone(),
                attributes.get("image").cloned().unwrap_or_default(),
            ),
            Kind::Image => (action.clone(), id.clone(), String::new()),
            _ => Default::default(),
        };
        let m = Arc::new(Message {
            status,
            id: old_id,
            from,
            kind: kind.as_str().to_string(),
            action,
            actor: Actor { id, attributes },
            scope: "local".into(),
            time: nanos / 1_000_000_000,
            time_nano: nanos,
        });
        tracing::debug!(kind = kind.as_str(), action = %m.action, id = %m.actor.id, "event");
        // Under the ring's lock, so a subscriber that takes the lock sees
        // each event either in the ring or on its channel, never both or
        // neither.
        let mut ring = lock(&self.ring);
        if ring.len() == RING {
            ring.pop_front();
        }
        ring.push_back(m.clone());
        let _ = self.tx.send(m);
    }

    /// Subscribers now connected (`/info`'s `NEventsListener`).
    pub fn listeners(&self) -> usize {
        self.listeners.load(Ordering::Relaxed)
    }

    /// Starts a subscription. `since`/`until` are nanoseconds since the
    /// epoch: with either, the remembered events in that window come first;
    /// with `until`, the stream ends once that time has passed.
    pub fn subscribe(
        &self,
        since: Option<i64>,
        until: Option<i64>,
        filter: EventFilter,
    ) -> Subscription {
        let ring = lock(&self.ring);
        let rx = self.tx.subscribe();
        let backlog: VecDeque<Arc<Message>> = if since.is_none() && until.is_none() {
            VecDeque::new()
        } else {
            ring.iter()
                .filter(|m| since.is_none_or(|s| m.time_nano >= s))
                .filter(|m| until.is_none_or(|u| m.time_nano <= u))
                .filter(|m| filter.matches(m))
                .cloned()
                .collect()
        };
        drop(ring);
        self.listeners.fetch_add(1, Ordering::Relaxed);
        Subscription {
            backlog,
            rx,
            filter,
            until,
            listeners: self.listeners.clone(),
        }
    }
}

/// One `GET /events` client.
#[derive(Debug)]
pub struct Subscription {
    backlog: VecDeque<Arc<Message>>,
    rx: tokio::sync::broadcast::Receiver<Arc<Message>>,
    filter: EventFilter,
    until: Option<i64>,
    listeners: Arc<AtomicUsize>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.listeners.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Subscription {
    /// The next matching event; `None` when the stream is over (`until`
    /// passed, or the engine is going away).
    pub async fn next(&mut self) -> Option<Arc<Message>> {
        if let Some(m) = self.backlog.pop_front() {
            return Some(m);
        }
        loop {
            let recv = self.rx.recv();
            let got = match self.until {
                Some(u) => {
                    let left = u.saturating_sub(now_nanos());
                    if left <= 0 {
                        return None;
                    }
                    let left = std::time::Duration::from_nanos(left.unsigned_abs());
                    match tokio::time::timeout(left, recv).await {
                        Ok(r) => r,
                        Err(_) => return None,
                    }
                }
                None => recv.await,
            };
            match got {
                Ok(m) => {
                    if self.until.is_some_and(|u| m.time_nano > u) {
                        return None;
                    }
                    if self.filter.matches(&m) {
                        return Some(m);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(lost = n, "an events subscriber fell behind; events dropped");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// The filter keys `GET /events` accepts (Moby's list; swarm's are
/// accepted and match nothing of ours).
const KEYS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

/// `GET /events?filters=`.
#[derive(Debug, Clone, Default)]
pub struct EventFilter(Filters);

impl EventFilter {
    pub fn parse(json: Option<&str>) -> Result<Self, EngineError> {
        let f = Filters::parse(json)?;
        f.validate(KEYS)?;
        Ok(Self(f))
    }

    fn exact(&self, key: &str, v: &str) -> bool {
        !self.0.contains(key) || self.0.get(key).iter().any(|x| x == v)
    }

    fn fuzzy(&self, key: &str, v: &str) -> bool {
        !self.0.contains(key) || self.0.get(key).iter().any(|x| x == v || v.starts_with(x))
    }

    /// Matches the actor's id (or a prefix of it) or its `name` attribute,
    /// for the filter named after the event's type.
    fn name(&self, key: &str, m: &Message) -> bool {
        if !self.0.contains(key) {
            return true;
        }
        let name = m.actor.attributes.get("name").map(String::as_str);
        self.fuzzy(key, &m.actor.id) || name.is_some_and(|n| self.fuzzy(key, n))
    }

    fn event(&self, m: &Message) -> bool {
        // `exec_create`, `exec_start` and `health_status` carry the command
        // or status after a colon; the bare names match them.
        let loose = self
            .0
            .get("event")
            .iter()
            .any(|e| matches!(e.as_str(), "health_status" | "exec_create" | "exec_start"));
        if loose {
            self.fuzzy("event", &m.action)
        } else {
            self.exact("event", &m.action)
        }
    }

    fn image(&self, m: &Message) -> bool {
        if !self.0.contains("image") {
            return true;
        }
        let attr = if m.kind == "image" { "name" } else { "image" };
        let name = m
            .actor
            .attributes
            .get(attr)
            .map(String::as_str)
            .unwrap_or("");
        let id = if m.id.is_empty() {
            m.actor.id.as_str()
        } else {
            m.id.as_str()
        };
        [id, name, strip_tag(id), strip_tag(name)]
            .iter()
            .any(|v| !v.is_empty() && self.exact("image", v))
    }

    fn labels(&self, m: &Message) -> bool {
        self.0.get("label").iter().all(|l| {
            let (k, v) = match l.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (l.as_str(), None),
            };
            match m.actor.attributes.get(k) {
                Some(have) => v.is_none_or(|v| v == have),
                None => false,
            }
        })
    }

    /// Whether `m` passes every filter.
    pub fn matches(&self, m: &Message) -> bool {
        self.event(m)
            && self.exact("type", &m.kind)
            && self.exact("scope", &m.scope)
            && self.name("daemon", m)
            && self.name("container", m)
            && self.name("plugin", m)
            && self.name("volume", m)
            && self.name("network", m)
            && self.image(m)
            && self.name("node", m)
            && self.name("service", m)
            && self.name("secret", m)
            && self.name("config", m)
            && self.labels(m)
    }
}

/// `busybox:1` → `busybox`; digests and registry ports are kept apart from
/// the tag.
fn strip_tag(image: &str) -> &str {
    let base = image.split('@').next().unwrap_or(image);
    match base.rfind(':') {
        Some(i) if !base[i..].contains('/') => &base[..i],
        _ => base,
    }
}

/// A container's event attributes: its labels, `image` and `name` (Docker
/// puts labels first, so an attribute named like a label wins), plus
/// `extra`.
pub fn container_attributes(
    labels: Option<&BTreeMap<String, String>>,
    image: &str,
    name: &str,
    extra: &[(&str, String)],
) -> BTreeMap<String, String> {
    let mut a = labels.cloned().unwrap_or_default();
    a.insert("image".into(), image.to_string());
    a.insert("name".into(), name.trim_start_matches('/').to_string());
    for (k, v) in extra {
        a.insert((*k).to_string(), v.clone());
    }
    a
}

/// Parses `since`/`until`: Unix seconds with an optional fraction
/// (`1700000000.123456789`, as the docker CLI sends), or RFC 3339.
pub fn parse_time(s: &str) -> Result<i64, EngineError> {
    let s = s.trim();
    let bad = || EngineError::InvalidArgument(format!("invalid timestamp: {s:?}"));
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return t.timestamp_nanos_opt().ok_or_else(bad);
    }
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let nanos: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().map_err(|_| bad())?
    };
    secs.checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(nanos))
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(json: &str) -> EventFilter {
        EventFilter::parse(Some(json)).unwrap()
    }

    fn ctr_event(action: &str, id: &str, name: &str) -> Message {
        let ev = Events::new();
        ev.emit(
            Kind::Container,
            action,
            id,
            container_attributes(
                Some(&[("app".to_string(), "web".to_string())].into()),
                "busybox:1",
                name,
                &[],
            ),
        );
        let m = lock(&ev.ring).back().unwrap().as_ref().clone();
        m
    }

    #[test]
    fn container_events_carry_the_old_fields_and_attributes() {
        let m = ctr_event("start", "abc123", "/web");
        assert_eq!(m.status, "start");
        assert_eq!(m.id, "abc123");
        assert_eq!(m.from, "busybox:1");
        assert_eq!(m.kind, "container");
        assert_eq!(m.scope, "local");
        assert_eq!(m.actor.attributes["name"], "web");
        assert_eq!(m.actor.attributes["app"], "web");
        assert!(m.time_nano / 1_000_000_000 == m.time && m.time > 1_600_000_000);
    }

    #[test]
    fn filters_match_like_moby() {
        let m = ctr_event("exec_start: sh -c true", "abc123", "/web");
        assert!(filter(r#"{"container":["web"]}"#).matches(&m));
        assert!(filter(r#"{"container":["abc"]}"#).matches(&m));
        assert!(!filter(r#"{"container":["other"]}"#).matches(&m));
        assert!(filter(r#"{"event":["exec_start"]}"#).matches(&m));
        assert!(!filter(r#"{"event":["start"]}"#).matches(&m));
        assert!(filter(r#"{"type":["container"],"image":["busybox"]}"#).matches(&m));
        assert!(filter(r#"{"image":["busybox:1"]}"#).matches(&m));
        assert!(!filter(r#"{"type":["image"]}"#).matches(&m));
        assert!(filter(r#"{"label":["app=web"]}"#).matches(&m));
        assert!(filter(r#"{"label":["app"]}"#).matches(&m));
        assert!(!filter(r#"{"label":["app=db"]}"#).matches(&m));
        assert!(!filter(r#"{"network":["n"]}"#).matches(&m));
        assert!(EventFilter::parse(Some(r#"{"colour":["x"]}"#)).is_err());
        let start = ctr_event("start", "abc123", "/web");
        assert!(filter(r#"{"event":["start"]}"#).matches(&start));
    }

    #[test]
    fn the_ring_keeps_the_newest_events() {
        let ev = Events::new();
        for i in 0..RING + 10 {
            ev.emit(Kind::Volume, "create", format!("v{i}"), BTreeMap::new());
        }
        let ring = lock(&ev.ring);
        assert_eq!(ring.len(), RING);
        assert_eq!(ring.front().unwrap().actor.id, "v10");
        assert_eq!(ring.front().unwrap().status, "");
    }

    #[tokio::test]
    async fn subscriptions_replay_since_then_follow_and_end_at_until() {
        let ev = Events::new();
        ev.emit(Kind::Network, "create", "n1", BTreeMap::new());
        let mut all = ev.subscribe(Some(0), None, EventFilter::default());
        let mut live = ev.subscribe(None, None, filter(r#"{"type":["volume"]}"#));
        assert_eq!(ev.listeners(), 2);
        ev.emit(Kind::Volume, "create", "v1", BTreeMap::new());
        assert_eq!(all.next().await.unwrap().actor.id, "n1");
        assert_eq!(all.next().await.unwrap().actor.id, "v1");
        assert_eq!(live.next().await.unwrap().actor.id, "v1");
        let past = now_nanos();
        let mut bounded = ev.subscribe(Some(0), Some(past), EventFilter::default());
        assert_eq!(bounded.next().await.unwrap().actor.id, "n1");
        assert_eq!(bounded.next().await.unwrap().actor.id, "v1");
        assert!(bounded.next().await.is_none());
        drop((all, live, bounded));
        assert_eq!(ev.listeners(), 0);
    }

    #[test]
    fn times_parse_as_the_cli_sends_them() {
        assert_eq!(parse_time("12").unwrap(), 12_000_000_000);
        assert_eq!(parse_time("12.5").unwrap(), 12_500_000_000);
        assert_eq!(parse_time("12.000000001").unwrap(), 12_000_000_001);
        assert_eq!(parse_time("1970-01-01T00:00:01Z").unwrap(), 1_000_000_000);
        assert!(parse_time("soon").is_err());
        assert!(parse_time("1.0000000001").is_err());
        assert_eq!(strip_tag("localhost:5000/a:1"), "localhost:5000/a");
        assert_eq!(strip_tag("localhost:5000/a"), "localhost:5000/a");
        assert_eq!(strip_tag("a@sha256:00"), "a");
    }
}
