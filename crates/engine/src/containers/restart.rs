//! Restart policies (`no`, `always`, `unless-stopped`, `on-failure[:N]`)
//! as Moby's restart manager applies them: the decision after an exit,
//! the backoff between restarts, cancelling a pending restart, and
//! starting containers again when the daemon starts.
//!
//! Backoff: 100 ms before the first restart, doubled before each
//! consecutive one, at most one minute; a run of at least 10 s starts the
//! sequence again. While a restart is pending the container's status is
//! `restarting`; `start`, `stop`, `kill`, `restart` and `rm -f` cancel it.
//!
//! With the daemon's `--experimental` (balenaEngine's extension), a
//! container whose health check turns `unhealthy` is stopped and started
//! again when its policy says so; `on-failure` counts it as a failure.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use api::container::RestartPolicy;

use super::record::Status;
use super::{lock, Containers, Ctr};

/// The first delay.
const BACKOFF_START: Duration = Duration::from_millis(100);
/// The longest delay.
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A run at least this long resets the backoff.
const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(10);
/// How long a container waits at daemon start for the containers it
/// depends on (Moby: 5 s).
const DEPENDENCY_WAIT: Duration = Duration::from_secs(5);
/// Containers started at once at daemon start.
const START_PARALLEL: usize = 8;

/// Moby's restart backoff.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Backoff {
    timeout: Duration,
}

impl Backoff {
    /// The delay before the next restart of a container that ran for
    /// `ran`.
    pub(crate) fn next(&mut self, ran: Duration) -> Duration {
        if ran >= BACKOFF_RESET_AFTER {
            self.timeout = Duration::ZERO;
        }
        self.timeout = if self.timeout.is_zero() {
            BACKOFF_START
        } else {
            (self.timeout * 2).min(BACKOFF_MAX)
        };
        self.timeout
    }
}

/// Whether the policy restarts a container that ended with `exit_code`
/// (`unhealthy`: its health check failed), having been restarted
/// `restart_count` times.
pub(crate) fn should_restart(
    policy: &RestartPolicy,
    restart_count: i64,
    exit_code: i64,
    manually_stopped: bool,
    unhealthy: bool,
) -> bool {
    match policy.name.as_str() {
        "always" => true,
        "unless-stopped" => !manually_stopped,
        "on-failure" => {
            let max = policy.maximum_retry_count;
            (max == 0 || restart_count < max) && (exit_code != 0 || unhealthy)
        }
        _ => false,
    }
}

/// Per-container restart and health-monitor state (in memory only).
#[derive(Debug, Default)]
pub(crate) struct Lifecycle {
    backoff: Backoff,
    /// Bumped by every cancel; a pending restart checks it before starting.
    gen: u64,
    /// Dropping it wakes the pending restart's sleep.
    cancel: Option<tokio::sync::oneshot::Sender<()>>,
    /// The next exit is a stop made to restart an unhealthy container: the
    /// exit handler applies no policy.
    pub(crate) stopping_to_restart: bool,
    /// The health monitor's generation and stop handle.
    pub(crate) health_gen: u64,
    pub(crate) health_stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Daemon-wide lifecycle flags.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    shutting_down: std::sync::atomic::AtomicBool,
}

fn ran_for(started_at: &str, finished_ns: i64) -> Duration {
    let Ok(start) = chrono::DateTime::parse_from_rfc3339(started_at) else {
        return Duration::ZERO;
    };
    let start_ns = start.timestamp_nanos_opt().unwrap_or(0);
    Duration::from_nanos(u64::try_from(finished_ns.saturating_sub(start_ns)).unwrap_or(0))
}

impl Containers {
    /// The daemon is stopping: exits from now on are not restarted.
    pub fn begin_shutdown(&self) {
        self.flags
            .shutting_down
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn shutting_down(&self) -> bool {
        self.flags
            .shutting_down
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// After an exit: the delay before the container is started again, or
    /// `None` when its policy leaves it stopped.
    pub(super) fn restart_decision(
        &self,
        c: &Ctr,
        exit_code: i64,
        finished_ns: i64,
    ) -> Option<Duration> {
        let rec = c.record();
        let mut lc = lock(&c.lc);
        if std::mem::take(&mut lc.stopping_to_restart) {
            return None;
        }
        // A stop, `kill -9` or `rm -f` cancels Moby's restart manager for
        // every policy (only the daemon-start check reads the flag again).
        if self.shutting_down()
            || rec.state.manually_stopped
            || !should_restart(
                &rec.host_config.restart_policy,
                rec.restart_count,
                exit_code,
                rec.state.manually_stopped,
                false,
            )
        {
            return None;
        }
        Some(lc.backoff.next(ran_for(&rec.state.started_at, finished_ns)))
    }

    /// Starts the container after `delay` unless the restart is cancelled
    /// meanwhile. The record already says `restarting`.
    pub(super) fn schedule_restart(self: &Arc<Self>, c: &Arc<Ctr>, delay: Duration) {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let gen = {
            let mut lc = lock(&c.lc);
            lc.gen += 1;
            lc.cancel = Some(tx);
            lc.gen
        };
        let this = self.clone();
        let c = c.clone();
        tokio::spawn(async move {
            tokio::select! {
                // Cancel-safe: a timer.
                _ = tokio::time::sleep(delay) => {}
                // Cancel-safe: the sender was dropped (cancelled).
                _ = rx => return,
            }
            let _op = c.op.lock().await;
            // During shutdown the container stays `restarting` on disk; the
            // next daemon start applies its policy again.
            if lock(&c.lc).gen != gen
                || c.record().state.status != Status::Restarting
                || this.shutting_down()
            {
                return;
            }
            lock(&c.lc).cancel = None;
            if let Err(e) = this.start_locked(&c).await {
                tracing::warn!(container = %c.id, error = %e, "restart by policy failed");
            }
        });
    }

    /// Cancels a pending restart; true when one was pending.
    pub(super) fn cancel_restart(&self, c: &Ctr) -> bool {
        let mut lc = lock(&c.lc);
        lc.gen += 1;
        lc.cancel.take().is_some()
    }

    /// `stop`/`kill`/`rm -f` of a restarting container: the restart is
    /// cancelled and the container stays exited (manually stopped).
    /// True when the container was restarting.
    pub(super) fn cancel_restarting(&self, c: &Ctr) -> bool {
        if c.record().state.status != Status::Restarting {
            return false;
        }
        self.cancel_restart(c);
        let _ = c.update(&self.settings.root, |r| {
            if r.state.status == Status::Restarting {
                r.state.status = Status::Exited;
            }
            r.state.manually_stopped = true;
        });
        true
    }

    /// A start by the user (`start`, `restart`): a pending restart is
    /// cancelled, and the count and backoff start again (Moby resets its
    /// restart manager).
    pub(super) fn reset_restarts(&self, c: &Ctr) {
        self.cancel_restart(c);
        lock(&c.lc).backoff = Backoff::default();
        let _ = c.update(&self.settings.root, |r| r.restart_count = 0);
    }

    /// The health check turned `unhealthy` (under `--experimental`): when
    /// the policy says so, wait the backoff, stop the container and start
    /// it again, counting a restart.
    pub(super) fn restart_unhealthy(self: &Arc<Self>, c: &Arc<Ctr>) {
        let rec = c.record();
        if !should_restart(
            &rec.host_config.restart_policy,
            rec.restart_count,
            0,
            false,
            true,
        ) {
            return;
        }
        let delay = {
            let mut lc = lock(&c.lc);
            lc.backoff
                .next(ran_for(&rec.state.started_at, super::runtime::now_ns()))
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let gen = {
            let mut lc = lock(&c.lc);
            lc.gen += 1;
            lc.cancel = Some(tx);
            lc.gen
        };
        tracing::info!(container = %c.id, "unhealthy container: restarting");
        let this = self.clone();
        let c = c.clone();
        tokio::spawn(async move {
            tokio::select! {
                // Cancel-safe: a timer.
                _ = tokio::time::sleep(delay) => {}
                // Cancel-safe: the sender was dropped (cancelled).
                _ = rx => return,
            }
            let _op = c.op.lock().await;
            if lock(&c.lc).gen != gen || !c.record().is_running() || this.shutting_down() {
                return;
            }
            lock(&c.lc).cancel = None;
            this.stop_health(&c);
            lock(&c.lc).stopping_to_restart = true;
            if let Err(e) = this.stop_for_restart(&c).await {
                lock(&c.lc).stopping_to_restart = false;
                tracing::warn!(container = %c.id, error = %e, "stop of an unhealthy container");
                return;
            }
            let _ = c.update(&this.settings.root, |r| r.restart_count += 1);
            match this.start_locked(&c).await {
                Ok(()) => this.event(&c.record(), "restart", &[]),
                Err(e) => {
                    tracing::warn!(container = %c.id, error = %e, "restart of an unhealthy container failed")
                }
            }
        });
    }

    /// At daemon start, after every shim was found again: starts the
    /// containers whose policy says they run (Moby's restore), each after
    /// the containers it depends on (`--link` targets, `container:`
    /// network mode), waiting at most 5 s for those.
    pub(super) async fn restart_at_daemon_start(self: &Arc<Self>) {
        let mut todo: Vec<Arc<Ctr>> = Vec::new();
        for c in self.all() {
            let r = c.record();
            if matches!(
                r.state.status,
                Status::Running
                    | Status::Paused
                    | Status::Created
                    | Status::Removing
                    | Status::Dead
            ) || r.runs == 0
            {
                continue;
            }
            if should_restart(
                &r.host_config.restart_policy,
                r.restart_count,
                r.state.exit_code,
                r.state.manually_stopped,
                false,
            ) {
                todo.push(c);
            }
        }
        if todo.is_empty() {
            return;
        }
        let mut done: HashMap<String, tokio::sync::watch::Receiver<bool>> = HashMap::new();
        let mut senders = Vec::new();
        for c in &todo {
            let (tx, rx) = tokio::sync::watch::channel(false);
            done.insert(c.id.clone(), rx);
            senders.push(tx);
        }
        let sem = Arc::new(tokio::sync::Semaphore::new(START_PARALLEL));
        let mut tasks = Vec::new();
        for (c, tx) in todo.into_iter().zip(senders) {
            let deps: Vec<tokio::sync::watch::Receiver<bool>> = self
                .dependencies(&c)
                .into_iter()
                .filter_map(|id| done.get(&id).cloned())
                .collect();
            let this = self.clone();
            let sem = sem.clone();
            tasks.push(tokio::spawn(async move {
                let wait_all = async {
                    for mut d in deps {
                        let _ = d.wait_for(|v| *v).await;
                    }
                };
                let _ = tokio::time::timeout(DEPENDENCY_WAIT, wait_all).await;
                let _permit = sem.acquire().await;
                this.reset_restarts(&c);
                let res = {
                    let _op = c.op.lock().await;
                    this.start_locked(&c).await
                };
                if let Err(e) = res {
                    tracing::warn!(container = %c.id, error = %e, "start by restart policy at daemon start");
                }
                let _ = tx.send(true);
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    }

    /// Ids of the containers `c` needs running first.
    fn dependencies(&self, c: &Ctr) -> Vec<String> {
        let r = c.record();
        let mut names: Vec<String> = r
            .host_config
            .links
            .iter()
            .flatten()
            .map(|l| l.split_once(':').map_or(l.as_str(), |(t, _)| t).to_string())
            .collect();
        if let Some(t) = r.host_config.network_mode.strip_prefix("container:") {
            names.push(t.to_string());
        }
        names
            .iter()
            .filter_map(|n| self.get(n.trim_start_matches('/')).ok())
            .map(|d| d.id.clone())
            .filter(|id| *id != c.id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, max: i64) -> RestartPolicy {
        RestartPolicy {
            name: name.into(),
            maximum_retry_count: max,
        }
    }

    #[test]
    fn backoff_doubles_from_100ms_up_to_a_minute() {
        let mut b = Backoff::default();
        let short = Duration::from_secs(1);
        let got: Vec<u128> = (0..12).map(|_| b.next(short).as_millis()).collect();
        assert_eq!(
            got,
            [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000]
        );
    }

    #[test]
    fn backoff_starts_again_after_a_run_of_ten_seconds() {
        let mut b = Backoff::default();
        for _ in 0..5 {
            b.next(Duration::from_millis(10));
        }
        assert_eq!(b.next(Duration::from_secs(10)), Duration::from_millis(100));
        assert_eq!(b.next(Duration::from_secs(9)), Duration::from_millis(200));
    }

    #[test]
    fn policies_decide_like_mobys_restart_manager() {
        assert!(!should_restart(&policy("", 0), 0, 1, false, false));
        assert!(!should_restart(&policy("no", 0), 0, 1, false, false));
        assert!(should_restart(&policy("always", 0), 9, 0, true, false));
        assert!(should_restart(
            &policy("unless-stopped", 0),
            0,
            0,
            false,
            false
        ));
        assert!(!should_restart(
            &policy("unless-stopped", 0),
            0,
            0,
            true,
            false
        ));
        assert!(should_restart(
            &policy("on-failure", 0),
            100,
            1,
            false,
            false
        ));
        assert!(!should_restart(
            &policy("on-failure", 0),
            0,
            0,
            false,
            false
        ));
        assert!(should_restart(&policy("on-failure", 3), 2, 1, false, false));
        assert!(!should_restart(
            &policy("on-failure", 3),
            3,
            1,
            false,
            false
        ));
        // on-failure ignores manual stops (Moby passes the flag only to
        // unless-stopped); an unhealthy container counts as failed.
        assert!(should_restart(
            &policy("on-failure", 0),
            0,
            137,
            true,
            false
        ));
        assert!(should_restart(&policy("on-failure", 2), 1, 0, false, true));
        assert!(!should_restart(&policy("on-failure", 2), 2, 0, false, true));
    }

    #[test]
    fn run_time_is_measured_from_the_start() {
        let start = "2024-01-01T00:00:00Z";
        let t0 = chrono::DateTime::parse_from_rfc3339(start)
            .unwrap()
            .timestamp_nanos_opt()
            .unwrap();
        assert_eq!(
            ran_for(start, t0 + 1_500_000_000),
            Duration::from_millis(1500)
        );
        assert_eq!(ran_for("bogus", t0), Duration::ZERO);
        assert_eq!(ran_for(start, t0 - 5), Duration::ZERO);
    }
}
