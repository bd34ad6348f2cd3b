//! Health checks, as Moby's `daemon/health.go` runs them.
//!
//! A container whose config (its own, or its image's) has a `Healthcheck`
//! with a `CMD` or `CMD-SHELL` test gets a monitor task while it runs:
//! every `interval` it runs the test as an exec in the container (through
//! its shim; the exec shows in `ExecIDs` and its `exec_create`,
//! `exec_start` and `exec_die` events while it runs, as in Docker), with
//! `timeout` after which the result is a failure and the probe is sent
//! SIGTERM, then SIGKILL 10 s later; the next probe waits for it to end,
//! so hung probes never pile up. Status goes `starting` → `healthy` on a
//! success, → `unhealthy` after `retries` consecutive failures (failures
//! within `start-period` of the start do not count while `starting`). The
//! last five results are kept with their output (at most 4096 bytes).
//!
//! The state lives in the record in memory (`Record::health`, never in
//! `container.json`: probes would write the data root every interval) and
//! in `<exec-root>/containers/<id>/health.json`, so a daemon restart
//! resumes the monitors of running containers where they were.

use std::sync::Arc;
use std::time::Duration;

use api::container::ExecConfig;
use image::config::ContainerConfig;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::record::Status;
use super::{lock, now_rfc3339, Containers, Ctr};
use crate::EngineError;

/// Longest probe output kept.
const MAX_OUTPUT: usize = 4096;
/// Results kept.
const MAX_LOG: usize = 5;
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_RETRIES: i64 = 3;
/// After SIGTERM, how long a timed-out probe gets before SIGKILL (Moby's
/// `termProcessTimeout`).
const TERM_GRACE: Duration = Duration::from_secs(10);
/// The state file in the container's exec-root directory.
const HEALTH_FILE: &str = "health.json";

/// `starting`.
pub const STARTING: &str = "starting";
/// `healthy`.
pub const HEALTHY: &str = "healthy";
/// `unhealthy`.
pub const UNHEALTHY: &str = "unhealthy";

/// `State.Health` in inspect.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    pub status: String,
    pub failing_streak: i64,
    pub log: Vec<HealthResult>,
}

/// One probe's result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthResult {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

impl Health {
    /// `ps`'s suffix: `health: starting`, `healthy`, `unhealthy`.
    pub fn display(&self) -> String {
        if self.status == STARTING {
            "health: starting".into()
        } else {
            self.status.clone()
        }
    }
}

/// A container's probe settings, with Docker's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Probe {
    cmd: Vec<String>,
    interval: Duration,
    timeout: Duration,
    start_period: Duration,
    retries: i64,
}

fn dur(ns: Option<i64>, default: Duration) -> Duration {
    match ns {
        Some(n) if n > 0 => Duration::from_nanos(n.unsigned_abs()),
        _ => default,
    }
}

/// The probe for a container config; `None` without a health check or
/// with `NONE`.
pub(crate) fn probe_of(cfg: &ContainerConfig) -> Option<Probe> {
    let hc = cfg.healthcheck.as_ref()?;
    let test = hc.test.as_ref()?;
    let (kind, rest) = test.split_first()?;
    let cmd = match kind.as_str() {
        "CMD" => rest.to_vec(),
        "CMD-SHELL" => {
            let mut c = cfg
                .shell
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
            c.extend(rest.iter().cloned());
            c
        }
        _ => return None,
    };
    if cmd.is_empty() {
        return None;
    }
    Some(Probe {
        cmd,
        interval: dur(hc.interval, DEFAULT_INTERVAL),
        timeout: dur(hc.timeout, DEFAULT_TIMEOUT),
        start_period: dur(hc.start_period, Duration::ZERO),
        retries: hc.retries.filter(|r| *r > 0).unwrap_or(DEFAULT_RETRIES),
    })
}

/// Docker's checks of a health check at create: durations are 0 (the
/// default) or at least 1 ms, retries are not negative.
pub(crate) fn verify(cfg: &ContainerConfig) -> Result<(), EngineError> {
    let Some(hc) = &cfg.healthcheck else {
        return Ok(());
    };
    const MIN: i64 = 1_000_000;
    for (name, v) in [
        ("Interval", hc.interval),
        ("Timeout", hc.timeout),
        ("StartPeriod", hc.start_period),
    ] {
        if v.is_some_and(|v| v != 0 && v < MIN) {
            return Err(EngineError::InvalidArgument(format!(
                "{name} in Healthcheck cannot be less than 1ms"
            )));
        }
    }
    if hc.retries.is_some_and(|r| r < 0) {
        return Err(EngineError::InvalidArgument(
            "Retries in Healthcheck cannot be negative".into(),
        ));
    }
    Ok(())
}

/// Records a result; the new status when it changed.
fn apply(
    h: &mut Health,
    r: HealthResult,
    in_start_period: bool,
    retries: i64,
) -> Option<&'static str> {
    let old = h.status.clone();
    let ok = r.exit_code == 0;
    h.log.push(r);
    if h.log.len() > MAX_LOG {
        let extra = h.log.len() - MAX_LOG;
        h.log.drain(..extra);
    }
    if ok {
        h.failing_streak = 0;
        h.status = HEALTHY.into();
    } else if !(h.status == STARTING && in_start_period) {
        h.failing_streak += 1;
        if h.failing_streak >= retries {
            h.status = UNHEALTHY.into();
        }
    }
    if h.status == old {
        return None;
    }
    Some(match h.status.as_str() {
        HEALTHY => HEALTHY,
        UNHEALTHY => UNHEALTHY,
        _ => STARTING,
    })
}

/// Go's `time.Duration` string (`30s`, `1.5s`, `500ms`, `1m30s`).
fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    let frac = |v: u128, unit: u128| -> String {
        let whole = v / unit;
        let rest = v % unit;
        if rest == 0 {
            return whole.to_string();
        }
        let digits = unit.to_string().len() - 1;
        let f = format!("{rest:0digits$}");
        format!("{whole}.{}", f.trim_end_matches('0'))
    };
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", frac(ns, 1_000));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", frac(ns, 1_000_000));
    }
    let secs = ns / 1_000_000_000;
    let sub = ns % 1_000_000_000;
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let s = frac(s * 1_000_000_000 + sub, 1_000_000_000);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m{s}s"),
        (h, m) => format!("{h}h{m}m{s}s"),
    }
}

/// Probe output: stdout and stderr interleaved, at most 4096 bytes, `...`
/// when cut.
#[derive(Debug, Default)]
struct Output {
    buf: Vec<u8>,
    truncated: bool,
}

impl Output {
    fn push(&mut self, b: &[u8]) {
        let room = MAX_OUTPUT - self.buf.len();
        let keep = room.min(b.len());
        self.buf.extend_from_slice(&b[..keep]);
        if keep < b.len() {
            self.truncated = true;
        }
    }

    fn text(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.buf).into_owned();
        if self.truncated {
            s.push_str("...");
        }
        s
    }
}

fn started_ns(started_at: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(started_at)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or(0)
}

impl Containers {
    fn health_file(&self, id: &str) -> std::path::PathBuf {
        self.settings.exec_root.join(id).join(HEALTH_FILE)
    }

    fn save_health(&self, c: &Ctr) {
        let h = lock(&c.rec).health.clone();
        if let Some(h) = h {
            if let Ok(b) = serde_json::to_vec(&h) {
                let _ = std::fs::write(self.health_file(&c.id), b);
            }
        }
    }

    /// A start (by anyone): the health state is `starting` with no failing
    /// streak (the log is kept) and the monitor runs.
    pub(super) fn start_health(self: &Arc<Self>, c: &Arc<Ctr>) {
        let Some(probe) = probe_of(&c.record().config) else {
            return;
        };
        self.stop_health(c);
        {
            let mut r = lock(&c.rec);
            let h = r.health.get_or_insert_with(Health::default);
            h.status = STARTING.into();
            h.failing_streak = 0;
        }
        self.save_health(c);
        self.spawn_monitor(c, probe);
    }

    /// After a daemon restart, for a container found running: the monitor
    /// resumes with the state it had.
    pub(super) fn resume_health(self: &Arc<Self>, c: &Arc<Ctr>) {
        let Some(probe) = probe_of(&c.record().config) else {
            return;
        };
        let saved: Option<Health> = super::record::read_json(&self.health_file(&c.id))
            .ok()
            .flatten();
        match saved {
            Some(h) => lock(&c.rec).health = Some(h),
            None => {
                self.start_health(c);
                return;
            }
        }
        self.spawn_monitor(c, probe);
    }

    /// The container stopped (or is stopped to be restarted): the monitor
    /// ends, and the status reads `unhealthy`, as in Docker.
    pub(super) fn stop_health(&self, c: &Ctr) {
        let had = {
            let mut lc = lock(&c.lc);
            lc.health_gen += 1;
            lc.health_stop.take().is_some()
        };
        if had {
            if let Some(h) = lock(&c.rec).health.as_mut() {
                h.status = UNHEALTHY.into();
            }
        }
    }

    fn spawn_monitor(self: &Arc<Self>, c: &Arc<Ctr>, probe: Probe) {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let gen = {
            let mut lc = lock(&c.lc);
            lc.health_gen += 1;
            lc.health_stop = Some(tx);
            lc.health_gen
        };
        tokio::spawn(self.clone().health_monitor(c.clone(), probe, gen, rx));
    }

    async fn health_monitor(
        self: Arc<Self>,
        c: Arc<Ctr>,
        probe: Probe,
        gen: u64,
        mut stop: tokio::sync::oneshot::Receiver<()>,
    ) {
        loop {
            tokio::select! {
                // Cancel-safe: a timer.
                _ = tokio::time::sleep(probe.interval) => {}
                // Cancel-safe: the stop handle was dropped.
                _ = &mut stop => return,
            }
            if lock(&c.lc).health_gen != gen {
                return;
            }
            let rec = c.record();
            match rec.state.status {
                Status::Running => {}
                // A frozen container cannot run a probe.
                Status::Paused => continue,
                _ => return,
            }
            let start = now_rfc3339();
            let exec_id = match self.exec_create(
                &c.id,
                ExecConfig {
                    attach_stdout: true,
                    attach_stderr: true,
                    cmd: Some(probe.cmd.clone()),
                    ..Default::default()
                },
            ) {
                Ok(id) => id,
                Err(e) => {
                    self.health_result(&c, gen, &probe, -1, e.to_string(), start);
                    continue;
                }
            };
            let run = self.clone().run_probe(exec_id.clone());
            tokio::pin!(run);
            tokio::select! {
                // Cancel-safe: `run` is pinned outside and polled again below.
                r = tokio::time::timeout(probe.timeout, &mut run) => match r {
                    Ok(Ok((code, out))) => self.health_result(&c, gen, &probe, code, out, start),
                    Ok(Err(e)) => self.health_result(&c, gen, &probe, -1, e.to_string(), start),
                    Err(_) => {
                        let msg = format!("Health check exceeded timeout ({})", go_duration(probe.timeout));
                        self.health_result(&c, gen, &probe, -1, msg, start);
                        self.end_probe(&c.id, &exec_id, &mut run).await;
                    }
                },
                // Cancel-safe: the stop handle was dropped.
                _ = &mut stop => {
                    self.end_probe(&c.id, &exec_id, &mut run).await;
                    lock(&self.execs).remove(&exec_id);
                    return;
                }
            }
            lock(&self.execs).remove(&exec_id);
        }
    }

    /// Runs one probe exec to its end: exit code and output.
    async fn run_probe(self: Arc<Self>, exec_id: String) -> Result<(i64, String), EngineError> {
        let sess = self.exec_start(&exec_id, false).await?;
        let Some(mut s) = sess.stream else {
            return Err(EngineError::Conflict(
                "health check: no output stream".into(),
            ));
        };
        let mut out = Output::default();
        let mut header = [0u8; 8];
        let mut buf = vec![0u8; shim::proto::MAX_FRAME];
        loop {
            if s.read_exact(&mut header).await.is_err() {
                break;
            }
            let (_, len) = shim::proto::parse_frame_header(&header);
            if len > buf.len() || s.read_exact(&mut buf[..len]).await.is_err() {
                break;
            }
            out.push(&buf[..len]);
        }
        let code = self.exec_inspect(&exec_id)?["ExitCode"]
            .as_i64()
            .ok_or_else(|| {
                EngineError::Conflict("healthcheck for container has no exit code".into())
            })?;
        Ok((code, out.text()))
    }

    /// Ends a probe that is still running: SIGTERM, SIGKILL after 10 s,
    /// and waits for it (so probes never pile up).
    async fn end_probe<F: std::future::Future + Unpin>(
        &self,
        container: &str,
        exec_id: &str,
        run: &mut F,
    ) {
        let sock = self
            .settings
            .exec_root
            .join(container)
            .join(shim::proto::SOCKET_FILE);
        for (sig, wait) in [
            (libc::SIGTERM, TERM_GRACE),
            (libc::SIGKILL, Duration::from_secs(5)),
        ] {
            let _ = super::runtime::shim_call(
                &sock,
                &shim::proto::Request::ExecKill {
                    exec_id: exec_id.to_string(),
                    signal: sig,
                },
            )
            .await;
            if tokio::time::timeout(wait, &mut *run).await.is_ok() {
                return;
            }
        }
        tracing::warn!(container, exec_id, "health check probe did not end");
    }

    fn health_result(
        self: &Arc<Self>,
        c: &Arc<Ctr>,
        gen: u64,
        probe: &Probe,
        exit_code: i64,
        output: String,
        start: String,
    ) {
        if lock(&c.lc).health_gen != gen {
            return;
        }
        let changed = {
            let mut r = lock(&c.rec);
            let since_start = started_ns(&start) - started_ns(&r.state.started_at);
            let in_start_period =
                since_start < i64::try_from(probe.start_period.as_nanos()).unwrap_or(i64::MAX);
            let h = r.health.get_or_insert_with(Health::default);
            apply(
                h,
                HealthResult {
                    start,
                    end: now_rfc3339(),
                    exit_code,
                    output,
                },
                in_start_period,
                probe.retries,
            )
        };
        self.save_health(c);
        if let Some(status) = changed {
            self.event(&c.record(), &format!("health_status: {status}"), &[]);
            if status == UNHEALTHY && self.settings.experimental {
                self.restart_unhealthy(c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(code: i64) -> HealthResult {
        HealthResult {
            exit_code: code,
            ..Default::default()
        }
    }

    fn starting() -> Health {
        Health {
            status: STARTING.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_success_makes_it_healthy() {
        let mut h = starting();
        assert_eq!(apply(&mut h, result(0), false, 3), Some(HEALTHY));
        assert_eq!(apply(&mut h, result(0), false, 3), None);
        assert_eq!(h.failing_streak, 0);
    }

    #[test]
    fn retries_consecutive_failures_make_it_unhealthy() {
        let mut h = starting();
        assert_eq!(apply(&mut h, result(1), false, 3), None);
        assert_eq!(apply(&mut h, result(1), false, 3), None);
        assert_eq!(apply(&mut h, result(1), false, 3), Some(UNHEALTHY));
        assert_eq!(h.failing_streak, 3);
        assert_eq!(apply(&mut h, result(-1), false, 3), None);
        assert_eq!(h.failing_streak, 4);
        assert_eq!(apply(&mut h, result(0), false, 3), Some(HEALTHY));
        assert_eq!(h.failing_streak, 0);
    }

    #[test]
    fn failures_in_the_start_period_do_not_count_while_starting() {
        let mut h = starting();
        for _ in 0..5 {
            assert_eq!(apply(&mut h, result(1), true, 1), None);
        }
        assert_eq!(h.failing_streak, 0);
        assert_eq!(h.status, STARTING);
        // Once healthy, the start period no longer shields failures.
        apply(&mut h, result(0), true, 1);
        assert_eq!(apply(&mut h, result(1), true, 1), Some(UNHEALTHY));
    }

    #[test]
    fn the_log_keeps_the_last_five_results() {
        let mut h = starting();
        for i in 0..8 {
            apply(&mut h, result(i), false, 100);
        }
        let codes: Vec<i64> = h.log.iter().map(|r| r.exit_code).collect();
        assert_eq!(codes, [3, 4, 5, 6, 7]);
    }

    #[test]
    fn output_is_cut_at_4096_bytes() {
        let mut o = Output::default();
        o.push(&[b'a'; 4000]);
        o.push(&[b'b'; 200]);
        let t = o.text();
        assert_eq!(t.len(), 4096 + 3);
        assert!(t.ends_with("bbb..."));
        let mut o = Output::default();
        o.push(b"ok\n");
        assert_eq!(o.text(), "ok\n");
    }

    #[test]
    fn health_checks_are_verified_at_create() {
        let mut cfg = ContainerConfig::default();
        assert!(verify(&cfg).is_ok());
        cfg.healthcheck = Some(image::config::HealthConfig {
            interval: Some(1000),
            ..Default::default()
        });
        assert_eq!(
            verify(&cfg).unwrap_err().to_string(),
            "Interval in Healthcheck cannot be less than 1ms"
        );
        cfg.healthcheck = Some(image::config::HealthConfig {
            retries: Some(-1),
            ..Default::default()
        });
        assert!(verify(&cfg).is_err());
    }

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_micros(1500)), "1.5ms");
    }

    #[test]
    fn probes_come_from_the_config_with_dockers_defaults() {
        let mut cfg = ContainerConfig::default();
        assert_eq!(probe_of(&cfg), None);
        cfg.healthcheck = Some(image::config::HealthConfig {
            test: Some(vec!["CMD-SHELL".into(), "exit 1".into()]),
            interval: Some(1_000_000_000),
            ..Default::default()
        });
        let p = probe_of(&cfg).unwrap();
        assert_eq!(p.cmd, ["/bin/sh", "-c", "exit 1"]);
        assert_eq!(p.interval, Duration::from_secs(1));
        assert_eq!(p.timeout, DEFAULT_TIMEOUT);
        assert_eq!(p.retries, 3);
        cfg.shell = Some(vec!["/bin/ash".into(), "-e".into(), "-c".into()]);
        assert_eq!(probe_of(&cfg).unwrap().cmd[..2], ["/bin/ash", "-e"]);
        cfg.healthcheck = Some(image::config::HealthConfig {
            test: Some(vec!["CMD".into(), "true".into()]),
            ..Default::default()
        });
        assert_eq!(probe_of(&cfg).unwrap().cmd, ["true"]);
        cfg.healthcheck = Some(image::config::HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        });
        assert_eq!(probe_of(&cfg), None);
    }
}
