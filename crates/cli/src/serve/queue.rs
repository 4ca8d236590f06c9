//! The scheduler and job queue.
//!
//! * [`Service::startup`] re-queues runs a stopped service left queued or running (they resume
//!   from the workloads' checkpoints) and queues one catch-up run per job whose slot passed while
//!   the service was down.
//! * [`Service::tick`] queues the jobs whose slot (plus jitter) has come. A job already queued
//!   or running is not queued twice: its slot is coalesced into the run in progress.
//! * [`Service::dispatch`] starts queued runs while fewer than `concurrency` run, skipping runs
//!   whose owners overlap a running job's (never two runs of the same owner at once).
//!
//! Time comes only from the injected [`Clock`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, mpsc};

use super::clock::Clock;
use super::history::{History, JobRecord, Outcome, Status, Trigger};
use super::metrics::Metrics;
use super::runner::{JobSpec, Runner};
use super::schedule::{Schedule, jitter_offset};
use super::settings::{JobDef, JobKind, ServeSection};

/// Errors of queue operations requested through the API.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("no job named {0:?}")]
    UnknownJob(String),
    #[error("no job run {0}")]
    UnknownRun(i64),
    #[error("job run {0} has already ended")]
    AlreadyEnded(i64),
    #[error("the service is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    History(#[from] super::history::HistoryError),
}

struct Pending {
    id: i64,
    spec: JobSpec,
}

struct Running {
    spec: JobSpec,
    abort: tokio::task::AbortHandle,
    cancelled: bool,
}

#[derive(Default)]
struct State {
    queued: VecDeque<Pending>,
    running: HashMap<i64, Running>,
    /// Next due time (slot + jitter) and the nominal slot, per job name.
    next: HashMap<String, (DateTime<Utc>, DateTime<Utc>)>,
    shutting_down: bool,
}

/// The scheduler, its queue and the running jobs.
pub struct Service {
    pub settings: ServeSection,
    pub clock: Arc<dyn Clock>,
    pub history: Arc<History>,
    pub metrics: Arc<Metrics>,
    runner: Arc<dyn Runner>,
    schedules: HashMap<String, Schedule>,
    state: Mutex<State>,
    /// Woken when a run ends or is queued (the main loop re-dispatches).
    pub changed: Notify,
    finished_tx: mpsc::UnboundedSender<JobRecord>,
}

fn conflicts(a: &[String], b: &[String]) -> bool {
    a.iter().any(|x| {
        b.iter().any(|y| {
            x == y || {
                let (xk, xo) = x.split_once(':').unwrap_or((x, ""));
                let (yk, yo) = y.split_once(':').unwrap_or((y, ""));
                xk == yk && (xo == "*" || yo == "*")
            }
        })
    })
}

impl Service {
    /// A service over validated settings. Finished runs are sent on the returned receiver
    /// (notifications read it).
    pub fn new(
        settings: ServeSection,
        clock: Arc<dyn Clock>,
        history: Arc<History>,
        runner: Arc<dyn Runner>,
        metrics: Arc<Metrics>,
    ) -> Result<(Arc<Service>, mpsc::UnboundedReceiver<JobRecord>), String> {
        settings.validate()?;
        let mut schedules = HashMap::new();
        for j in &settings.jobs {
            schedules.insert(j.name.clone(), j.schedule()?);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        Ok((
            Arc::new(Service {
                settings,
                clock,
                history,
                metrics,
                runner,
                schedules,
                state: Mutex::new(State::default()),
                changed: Notify::new(),
                finished_tx: tx,
            }),
            rx,
        ))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn job(&self, name: &str) -> Option<&JobDef> {
        self.settings.jobs.iter().find(|j| j.name == name)
    }

    fn offset(&self, name: &str) -> chrono::Duration {
        chrono::Duration::from_std(jitter_offset(name, self.settings.jitter))
            .unwrap_or_else(|_| chrono::Duration::zero())
    }

    /// The latest nominal slot after `last` whose due time is `<= now`, and the next one after it.
    fn slots(
        &self,
        name: &str,
        last: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let sched = &self.schedules[name];
        let off = self.offset(name);
        let mut passed = None;
        let mut cur = last;
        if let Schedule::Every(d) = sched {
            // arithmetic, so that a long downtime with a short interval costs nothing
            let step = chrono::Duration::from_std(*d).unwrap_or(chrono::Duration::days(1));
            let span = now - off - last;
            if span >= step {
                let k = span.num_seconds() / step.num_seconds().max(1);
                cur = last + step * (k as i32);
                passed = Some(cur);
            }
            return (passed, Some(cur + step));
        }
        for _ in 0..1_000_000 {
            match sched.next_after(cur) {
                Some(n) if n + off <= now => {
                    passed = Some(n);
                    cur = n;
                }
                other => return (passed, other),
            }
        }
        (passed, None)
    }

    /// Re-queues interrupted runs and queues catch-up runs for slots missed while down.
    pub fn startup(self: &Arc<Self>) -> Result<Vec<i64>, QueueError> {
        let now = self.clock.now();
        let mut queued = Vec::new();
        for r in self.history.interrupted(now)? {
            let Some(spec) = self.spec_for_record(&r) else {
                tracing::warn!(job = %r.name, "interrupted run of a job no longer configured; not resumed");
                continue;
            };
            tracing::info!(job = %r.name, run = r.id, "resuming a run interrupted by a stop");
            queued.push(self.enqueue(spec, Trigger::Resume, r.requested_by.as_deref())?);
        }
        let first = match self.history.meta("first_start")? {
            Some(s) => DateTime::parse_from_rfc3339(&s)
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or(now),
            None => {
                self.history.set_meta("first_start", &now.to_rfc3339())?;
                now
            }
        };
        for def in &self.settings.jobs {
            let last = self.history.last_slot(&def.name)?.unwrap_or(first);
            let (passed, next) = self.slots(&def.name, last, now);
            if let Some(slot) = passed {
                self.history.set_last_slot(&def.name, slot)?;
                if !self.is_active(&def.name) {
                    tracing::info!(job = %def.name, slot = %slot, "catching up a run missed while the service was down");
                    queued.push(self.enqueue(self.spec_for_def(def), Trigger::CatchUp, None)?);
                }
            }
            self.set_next(&def.name, next);
        }
        self.dispatch();
        Ok(queued)
    }

    fn set_next(&self, name: &str, next: Option<DateTime<Utc>>) {
        let mut st = self.state();
        match next {
            Some(n) => {
                st.next.insert(name.to_string(), (n + self.offset(name), n));
            }
            None => {
                st.next.remove(name);
            }
        }
    }

    /// Queues due jobs and starts what may start. Returns the ids queued.
    pub fn tick(self: &Arc<Self>) -> Result<Vec<i64>, QueueError> {
        let now = self.clock.now();
        let mut due: Vec<(DateTime<Utc>, String, DateTime<Utc>)> = {
            let st = self.state();
            if st.shutting_down {
                return Ok(Vec::new());
            }
            st.next
                .iter()
                .filter(|(_, (due, _))| *due <= now)
                .map(|(n, (due, slot))| (*due, n.clone(), *slot))
                .collect()
        };
        due.sort(); // earliest due first, then by name: a stable queue order
        let mut queued = Vec::new();
        for (_, name, slot) in due {
            let (passed, next) = self.slots(&name, slot, now);
            let slot = passed.unwrap_or(slot);
            self.history.set_last_slot(&name, slot)?;
            self.set_next(&name, next);
            if self.is_active(&name) {
                tracing::info!(job = %name, "slot reached while a run of the job is queued or running; not queued twice");
                self.metrics.coalesced(&name);
                continue;
            }
            let def = self
                .job(&name)
                .expect("scheduled jobs are configured")
                .clone();
            queued.push(self.enqueue(self.spec_for_def(&def), Trigger::Schedule, None)?);
        }
        self.dispatch();
        Ok(queued)
    }

    /// When the next slot is due (the main loop sleeps until then).
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.state().next.values().map(|(d, _)| *d).min()
    }

    /// When job `name` is next due.
    pub fn next_due_of(&self, name: &str) -> Option<DateTime<Utc>> {
        self.state().next.get(name).map(|(d, _)| *d)
    }

    fn is_active(&self, name: &str) -> bool {
        let st = self.state();
        st.queued.iter().any(|p| p.spec.name == name)
            || st.running.values().any(|r| r.spec.name == name)
    }

    fn spec_for_def(&self, def: &JobDef) -> JobSpec {
        JobSpec {
            name: def.name.clone(),
            kind: def.kind(),
            def: def.clone(),
            params: serde_json::Value::Null,
            actor: None,
        }
    }

    fn spec_for_record(&self, r: &JobRecord) -> Option<JobSpec> {
        if matches!(r.kind, JobKind::Export | JobKind::Restore) {
            return Some(JobSpec {
                name: r.name.clone(),
                kind: r.kind,
                def: JobDef {
                    name: r.name.clone(),
                    kind: Some(r.kind),
                    ..JobDef::default()
                },
                params: r.params.clone(),
                actor: None,
            });
        }
        self.job(&r.name).map(|d| self.spec_for_def(d))
    }

    fn enqueue(
        self: &Arc<Self>,
        spec: JobSpec,
        trigger: Trigger,
        by: Option<&str>,
    ) -> Result<i64, QueueError> {
        let now = self.clock.now();
        let mut spec = spec;
        spec.actor = by.map(str::to_string);
        let id = self
            .history
            .enqueue(&spec.name, spec.kind, trigger, now, by, &spec.params)?;
        self.state().queued.push_back(Pending { id, spec });
        self.changed.notify_one();
        Ok(id)
    }

    /// Queues a configured job now (API "start now"). A job already queued or running is not
    /// queued again; its active run id is returned with `false`.
    pub fn start_now(self: &Arc<Self>, name: &str, by: &str) -> Result<(i64, bool), QueueError> {
        let def = self
            .job(name)
            .ok_or_else(|| QueueError::UnknownJob(name.to_string()))?
            .clone();
        if self.state().shutting_down {
            return Err(QueueError::ShuttingDown);
        }
        {
            let st = self.state();
            if let Some(p) = st.queued.iter().find(|p| p.spec.name == name) {
                return Ok((p.id, false));
            }
            if let Some((id, _)) = st.running.iter().find(|(_, r)| r.spec.name == name) {
                return Ok((*id, false));
            }
        }
        let id = self.enqueue(self.spec_for_def(&def), Trigger::Manual, Some(by))?;
        self.dispatch();
        Ok((id, true))
    }

    /// Queues API-started work (restore, export) with its parameters.
    pub fn submit(
        self: &Arc<Self>,
        kind: JobKind,
        params: serde_json::Value,
        by: &str,
    ) -> Result<i64, QueueError> {
        if self.state().shutting_down {
            return Err(QueueError::ShuttingDown);
        }
        let name = format!("api:{}", kind.as_str());
        let spec = JobSpec {
            name: name.clone(),
            kind,
            def: JobDef {
                name,
                kind: Some(kind),
                ..JobDef::default()
            },
            params,
            actor: None,
        };
        let id = self.enqueue(spec, Trigger::Manual, Some(by))?;
        self.dispatch();
        Ok(id)
    }

    /// Cancels a queued or running run.
    pub fn cancel(&self, id: i64) -> Result<(), QueueError> {
        let now = self.clock.now();
        let mut st = self.state();
        if let Some(pos) = st.queued.iter().position(|p| p.id == id) {
            st.queued.remove(pos);
            drop(st);
            let outcome = Outcome {
                error: Some("cancelled before it started".into()),
                ..Outcome::default()
            };
            self.history.finish(id, Status::Cancelled, now, &outcome)?;
            self.publish(id);
            return Ok(());
        }
        if let Some(r) = st.running.get_mut(&id) {
            r.cancelled = true;
            r.abort.abort();
            return Ok(());
        }
        drop(st);
        match self.history.get(id)? {
            Some(_) => Err(QueueError::AlreadyEnded(id)),
            None => Err(QueueError::UnknownRun(id)),
        }
    }

    /// Ids of the running runs.
    pub fn running(&self) -> Vec<i64> {
        let mut v: Vec<i64> = self.state().running.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Ids of the queued runs, in order.
    pub fn queued(&self) -> Vec<i64> {
        self.state().queued.iter().map(|p| p.id).collect()
    }

    /// Starts queued runs while there is room and their owners are free.
    pub fn dispatch(self: &Arc<Self>) {
        let mut st = self.state();
        if st.shutting_down {
            return;
        }
        let mut i = 0;
        while st.running.len() < self.settings.concurrency && i < st.queued.len() {
            let keys = st.queued[i].spec.def.lock_keys();
            let busy = st
                .running
                .values()
                .any(|r| conflicts(&keys, &r.spec.def.lock_keys()));
            if busy {
                i += 1;
                continue;
            }
            let p = st.queued.remove(i).expect("index in range");
            let now = self.clock.now();
            if let Err(e) = self.history.mark_running(p.id, now) {
                tracing::error!(run = p.id, error = %e, "cannot record the start of a run");
            }
            let me = Arc::clone(self);
            let spec = p.spec.clone();
            let id = p.id;
            self.metrics.job_started(&spec.name);
            let handle = tokio::spawn(async move {
                let started = me.clock.now();
                let result = me.runner.run(&spec).await;
                me.complete(id, started, Some(result));
            });
            let abort = handle.abort_handle();
            // a task that ends by abort never reaches `complete`: watch for it
            let me = Arc::clone(self);
            tokio::spawn(async move {
                if let Err(e) = handle.await
                    && e.is_cancelled()
                {
                    me.complete(id, now, None);
                }
            });
            st.running.insert(
                id,
                Running {
                    spec: p.spec,
                    abort,
                    cancelled: false,
                },
            );
        }
    }

    /// Records the end of a run (`None`: it was aborted) and starts what may start next.
    fn complete(
        self: &Arc<Self>,
        id: i64,
        started: DateTime<Utc>,
        result: Option<super::runner::RunResult>,
    ) {
        let now = self.clock.now();
        let running = self.state().running.remove(&id);
        let Some(running) = running else { return };
        let (status, outcome) = match result {
            Some(r) => (r.status, r.outcome),
            None if running.cancelled => (
                Status::Cancelled,
                Outcome {
                    error: Some("cancelled; committed checkpoints are kept and reused".into()),
                    ..Outcome::default()
                },
            ),
            None => (
                Status::Interrupted,
                Outcome {
                    error: Some("stopped by a service shutdown; resumes at the next start".into()),
                    ..Outcome::default()
                },
            ),
        };
        if let Err(e) = self.history.finish(id, status, now, &outcome) {
            tracing::error!(run = id, error = %e, "cannot record the end of a run");
        }
        let secs = (now - started).num_milliseconds().max(0) as f64 / 1000.0;
        self.metrics
            .job_finished(&running.spec.name, status, secs, &outcome, now);
        tracing::info!(run = id, job = %running.spec.name, status = status.as_str(), "run ended");
        self.publish(id);
        self.changed.notify_one();
        if !self.state().shutting_down {
            self.dispatch();
        }
    }

    fn publish(&self, id: i64) {
        if let Ok(Some(r)) = self.history.get(id) {
            let _ = self.finished_tx.send(r);
        }
    }

    /// Stops starting runs, waits up to `grace` for running ones, then stops them; stopped runs
    /// stay `running` in the history and are resumed by the next [`Service::startup`].
    pub async fn shutdown(self: &Arc<Self>, grace: std::time::Duration) {
        self.state().shutting_down = true;
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            if self.state().running.is_empty() {
                return;
            }
            let notified = self.changed.notified();
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break;
            }
        }
        let mut st = self.state();
        for (id, r) in st.running.drain() {
            tracing::warn!(run = id, job = %r.spec.name, "stopping a run for shutdown; it resumes at the next start");
            r.abort.abort();
            // leave the row `running`: the next start marks it interrupted and queues it again
        }
    }

    /// Waits until nothing is queued or running (tests).
    #[cfg(test)]
    pub async fn idle(&self) {
        loop {
            let notified = self.changed.notified();
            {
                let st = self.state();
                if st.running.is_empty() && st.queued.is_empty() {
                    return;
                }
            }
            notified.await;
        }
    }
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
