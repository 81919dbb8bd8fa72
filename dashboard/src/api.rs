//! The HTTP handlers: the embedded page set, the JSON API, the SSE stream
//! and the Prometheus metrics.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::history::{Sample, WorkerSample};
use crate::model::{JobStatus, WorkerStatus};
use crate::ring::Entry;
use crate::Dashboard;

type D = State<Arc<Dashboard>>;

/// Most events sent per SSE batch (one batch per 100 ms at most, so at
/// most 10 000 task events a second reach a page: more than a 60 s stream
/// can tell apart, and little work for the scheduler and the browser).
const BATCH: usize = 1_000;

pub(crate) async fn page() -> impl IntoResponse {
    Html(include_str!("page.html"))
}

pub(crate) async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("app.js"),
    )
}

pub(crate) async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("style.css"),
    )
}

pub(crate) async fn status(State(d): D) -> Json<crate::Status> {
    Json(d.source.status())
}

/// Every job without its parts, newest last.
pub(crate) async fn jobs(State(d): D) -> Json<Vec<JobStatus>> {
    let mut jobs = d.source.status().jobs;
    for j in &mut jobs {
        j.parts = Vec::new();
    }
    Json(jobs)
}

fn found<T: Serialize>(v: Option<T>) -> Response {
    match v {
        Some(v) => Json(v).into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

pub(crate) async fn job(State(d): D, Path(id): Path<u64>) -> Response {
    found(d.source.status().jobs.into_iter().find(|j| j.id == id))
}

pub(crate) async fn task(State(d): D, Path((job, task)): Path<(u64, u32)>) -> Response {
    let info = d.source.task(job, task).map(|mut t| {
        let seen: Vec<u32> = t.attempts.iter().map(|a| a.attempt).collect();
        t.attempts.extend(
            d.ring
                .attempts(job, task)
                .into_iter()
                .filter(|a| !seen.contains(&a.attempt)),
        );
        t.attempts.sort_by_key(|a| a.attempt);
        t
    });
    found(info)
}

pub(crate) async fn bands(State(d): D, Path(job): Path<u64>) -> Response {
    found(d.source.graph(job, None))
}

pub(crate) async fn graph(State(d): D, Path((job, band)): Path<(u64, String)>) -> Response {
    found(d.source.graph(job, Some(&band)))
}

pub(crate) async fn throughput(State(d): D) -> Json<Vec<Sample>> {
    let h = d.history.lock().unwrap_or_else(|e| e.into_inner());
    Json(h.throughput.iter().copied().collect())
}

/// A worker now and its recent history.
#[derive(Serialize)]
pub(crate) struct WorkerView {
    #[serde(flatten)]
    now: WorkerStatus,
    history: Vec<WorkerSample>,
}

pub(crate) async fn workers(State(d): D) -> Json<Vec<WorkerView>> {
    let now = d.source.status().workers;
    let h = d.history.lock().unwrap_or_else(|e| e.into_inner());
    Json(
        now.into_iter()
            .map(|w| WorkerView {
                history: h
                    .workers
                    .get(&w.id)
                    .map(|q| q.iter().copied().collect())
                    .unwrap_or_default(),
                now: w,
            })
            .collect(),
    )
}

/// SSE events of ring entries: consecutive task attempts go as one `tasks`
/// event (a JSON array), error lines as `failure` events; ids are the last
/// ring id each event holds.
fn sse_events(entries: Vec<(u64, Entry)>) -> Vec<Event> {
    let mut out = Vec::new();
    let mut tasks = String::new();
    let mut last = 0;
    let flush = |tasks: &mut String, last: u64, out: &mut Vec<Event>| {
        if !tasks.is_empty() {
            tasks.push(']');
            let data = std::mem::take(tasks);
            out.push(
                Event::default()
                    .id(last.to_string())
                    .event("tasks")
                    .data(data),
            );
        }
    };
    for (id, e) in entries {
        match e {
            Entry::Task(t) => {
                tasks.push(if tasks.is_empty() { '[' } else { ',' });
                tasks += &serde_json::to_string(&t).unwrap_or_default();
                last = id;
            }
            Entry::Failure(m) => {
                flush(&mut tasks, last, &mut out);
                let data = serde_json::to_string(&m).unwrap_or_default();
                out.push(
                    Event::default()
                        .id(id.to_string())
                        .event("failure")
                        .data(data),
                );
            }
        }
    }
    flush(&mut tasks, last, &mut out);
    out
}

pub(crate) async fn events(State(d): D, headers: HeaderMap) -> impl IntoResponse {
    let mut last: u64 = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let (tx, rx) = mpsc::channel::<Result<Event, Infallible>>(16);
    let mut latest = d.latest.subscribe();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            // at most BATCH events per send: a page that cannot keep up
            // (a million tiny tasks) skips to the newest
            let (batch, passed) = d.ring.newest_since(last, BATCH);
            if passed > 0 {
                let ev = Event::default().event("skipped").data(passed.to_string());
                if tx.send(Ok(ev)).await.is_err() {
                    return;
                }
            }
            if let Some(&(id, _)) = batch.last() {
                last = id;
                for ev in sse_events(batch) {
                    if tx.send(Ok(ev)).await.is_err() {
                        return;
                    }
                }
            }
            tokio::select! {
                r = latest.changed() => if r.is_err() { return },
                _ = tick.tick() => {
                    let s = serde_json::to_string(&d.source.status()).unwrap_or_default();
                    if tx.send(Ok(Event::default().event("status").data(s))).await.is_err() {
                        return;
                    }
                }
            }
            // batch: let more events gather before the next send
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    Sse::new(ReceiverStream::new(rx)).keep_alive(KeepAlive::default())
}

pub(crate) async fn metrics(State(d): D) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::prometheus(&d.source.status()),
    )
}
