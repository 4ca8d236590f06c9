//! What the queue runs: a [`JobSpec`] handed to a [`Runner`], which returns a [`RunResult`].
//! The production runner is [`super::jobs::RepoRunner`]; scheduler tests use a recording fake.

use futures::future::BoxFuture;

use super::history::{Outcome, Status};
use super::settings::{JobDef, JobKind};

/// One run to do.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// Job definition name (or `api:<kind>`).
    pub name: String,
    pub kind: JobKind,
    /// The definition (owner lists, parallelism, grace).
    pub def: JobDef,
    /// Request parameters of restore/export runs (`null` otherwise).
    pub params: serde_json::Value,
    /// Who asked (API token name) for manual runs; `None` for the scheduler.
    pub actor: Option<String>,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub status: Status,
    pub outcome: Outcome,
}

impl RunResult {
    /// A run that did not finish.
    pub fn failed(error: impl Into<String>) -> RunResult {
        RunResult {
            status: Status::Failed,
            outcome: Outcome {
                error: Some(error.into()),
                ..Outcome::default()
            },
        }
    }

    /// `ok`, or `completed with failures` when the outcome lists failures.
    pub fn finished(outcome: Outcome) -> RunResult {
        RunResult {
            status: if outcome.failures.is_empty() {
                Status::Ok
            } else {
                Status::CompletedWithFailures
            },
            outcome,
        }
    }
}

/// Executes runs. Dropping the returned future stops the run (work committed so far stays).
pub trait Runner: Send + Sync + 'static {
    fn run<'a>(&'a self, job: &'a JobSpec) -> BoxFuture<'a, RunResult>;
}
