//! Prometheus metrics in the text exposition format (version 0.0.4), written by hand: the
//! service keeps a few counters per job, and `/metrics` adds live figures (Graph counters,
//! repository size, last success per owner) when it renders.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::history::{Outcome, Status};

#[derive(Debug, Default, Clone)]
struct JobFigures {
    runs: BTreeMap<&'static str, u64>,
    duration_sum: f64,
    duration_count: u64,
    last_duration: f64,
    items: u64,
    bytes: u64,
    failures: u64,
    running: u64,
    coalesced: u64,
    last_success: Option<DateTime<Utc>>,
}

/// Counters the queue updates.
#[derive(Debug, Default)]
pub struct Metrics {
    jobs: Mutex<BTreeMap<String, JobFigures>>,
}

/// Figures computed at scrape time.
#[derive(Debug, Default, Clone)]
pub struct Live {
    pub graph_requests: Option<u64>,
    pub graph_throttled: Option<u64>,
    pub graph_retries: Option<u64>,
    pub repository_bytes: Option<u64>,
    pub queued: usize,
    /// (workload, owner) → time of the newest complete snapshot.
    pub owner_last_success: BTreeMap<(String, String), DateTime<Utc>>,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    fn with<R>(&self, job: &str, f: impl FnOnce(&mut JobFigures) -> R) -> R {
        let mut m = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        f(m.entry(job.to_string()).or_default())
    }

    pub fn job_started(&self, job: &str) {
        self.with(job, |j| j.running += 1);
    }

    pub fn coalesced(&self, job: &str) {
        self.with(job, |j| j.coalesced += 1);
    }

    pub fn job_finished(
        &self,
        job: &str,
        status: Status,
        secs: f64,
        outcome: &Outcome,
        now: DateTime<Utc>,
    ) {
        self.with(job, |j| {
            j.running = j.running.saturating_sub(1);
            *j.runs.entry(status.as_str()).or_default() += 1;
            j.duration_sum += secs;
            j.duration_count += 1;
            j.last_duration = secs;
            j.items += outcome.items;
            j.bytes += outcome.bytes;
            j.failures += outcome.failures.len() as u64;
            if status == Status::Ok {
                j.last_success = Some(now);
            }
        });
    }

    /// The exposition text.
    pub fn render(&self, live: &Live) -> String {
        let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut o = String::new();
        let family = |o: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        family(
            &mut o,
            "tenantvault_job_runs_total",
            "counter",
            "Finished job runs by status.",
        );
        for (job, f) in &jobs {
            for (status, n) in &f.runs {
                let _ = writeln!(
                    o,
                    "tenantvault_job_runs_total{{job=\"{}\",status=\"{status}\"}} {n}",
                    escape(job)
                );
            }
        }
        family(
            &mut o,
            "tenantvault_job_duration_seconds",
            "summary",
            "Duration of finished job runs.",
        );
        for (job, f) in &jobs {
            let j = escape(job);
            let _ = writeln!(
                o,
                "tenantvault_job_duration_seconds_sum{{job=\"{j}\"}} {}",
                f.duration_sum
            );
            let _ = writeln!(
                o,
                "tenantvault_job_duration_seconds_count{{job=\"{j}\"}} {}",
                f.duration_count
            );
        }
        type Family = (
            &'static str,
            &'static str,
            &'static str,
            fn(&JobFigures) -> String,
        );
        let per_job: [Family; 6] = [
            (
                "tenantvault_job_last_duration_seconds",
                "gauge",
                "Duration of the job's last run.",
                |f| f.last_duration.to_string(),
            ),
            (
                "tenantvault_job_items_total",
                "counter",
                "Items processed (downloaded, exported, restored, packs deleted by gc).",
                |f| f.items.to_string(),
            ),
            (
                "tenantvault_job_bytes_total",
                "counter",
                "Bytes processed (downloaded, exported, freed by gc).",
                |f| f.bytes.to_string(),
            ),
            (
                "tenantvault_job_failures_total",
                "counter",
                "Failed items and owners.",
                |f| f.failures.to_string(),
            ),
            (
                "tenantvault_job_running",
                "gauge",
                "Runs of the job in progress.",
                |f| f.running.to_string(),
            ),
            (
                "tenantvault_job_coalesced_total",
                "counter",
                "Slots skipped because a run of the job was still queued or running.",
                |f| f.coalesced.to_string(),
            ),
        ];
        for (name, kind, help, value) in per_job {
            family(&mut o, name, kind, help);
            for (job, f) in &jobs {
                let _ = writeln!(o, "{name}{{job=\"{}\"}} {}", escape(job), value(f));
            }
        }
        family(
            &mut o,
            "tenantvault_job_last_success_timestamp_seconds",
            "gauge",
            "When the job last finished ok (Unix time).",
        );
        for (job, f) in &jobs {
            if let Some(t) = f.last_success {
                let _ = writeln!(
                    o,
                    "tenantvault_job_last_success_timestamp_seconds{{job=\"{}\"}} {}",
                    escape(job),
                    t.timestamp()
                );
            }
        }
        family(
            &mut o,
            "tenantvault_jobs_queued",
            "gauge",
            "Runs waiting in the queue.",
        );
        let _ = writeln!(o, "tenantvault_jobs_queued {}", live.queued);
        let scalars = [
            (
                "tenantvault_graph_requests_total",
                "counter",
                "Graph requests sent by the service's client.",
                live.graph_requests,
            ),
            (
                "tenantvault_graph_throttled_total",
                "counter",
                "Graph answers 429 (throttled).",
                live.graph_throttled,
            ),
            (
                "tenantvault_graph_retries_total",
                "counter",
                "Graph request attempts that were retries.",
                live.graph_retries,
            ),
            (
                "tenantvault_repository_size_bytes",
                "gauge",
                "Bytes stored in the repository.",
                live.repository_bytes,
            ),
        ];
        for (name, kind, help, v) in scalars {
            if let Some(v) = v {
                family(&mut o, name, kind, help);
                let _ = writeln!(o, "{name} {v}");
            }
        }
        family(
            &mut o,
            "tenantvault_owner_last_success_timestamp_seconds",
            "gauge",
            "Time of the owner's newest complete snapshot (Unix time).",
        );
        for ((w, owner), t) in &live.owner_last_success {
            let _ = writeln!(
                o,
                "tenantvault_owner_last_success_timestamp_seconds{{workload=\"{}\",owner=\"{}\"}} {}",
                escape(w),
                escape(owner),
                t.timestamp()
            );
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_text_has_help_type_and_labelled_samples() {
        let m = Metrics::default();
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        m.job_started("mail \"x\"");
        m.job_finished(
            "mail \"x\"",
            Status::Ok,
            2.5,
            &Outcome {
                items: 7,
                bytes: 100,
                ..Outcome::default()
            },
            now,
        );
        let mut live = Live {
            graph_requests: Some(12),
            graph_throttled: Some(3),
            ..Live::default()
        };
        live.owner_last_success
            .insert(("exchange".into(), "u1".into()), now);
        let text = m.render(&live);
        for line in [
            "# TYPE tenantvault_job_runs_total counter",
            "tenantvault_job_runs_total{job=\"mail \\\"x\\\"\",status=\"ok\"} 1",
            "tenantvault_job_duration_seconds_sum{job=\"mail \\\"x\\\"\"} 2.5",
            "tenantvault_job_items_total{job=\"mail \\\"x\\\"\"} 7",
            "tenantvault_job_running{job=\"mail \\\"x\\\"\"} 0",
            "tenantvault_graph_throttled_total 3",
            "tenantvault_owner_last_success_timestamp_seconds{workload=\"exchange\",owner=\"u1\"} 1767225600",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(!text.contains("tenantvault_repository_size_bytes"));
    }
}
