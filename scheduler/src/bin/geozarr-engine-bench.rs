//! Engine benchmarks (issue 6), run by `bench/engine.sh`:
//! - `state N`: the pure state machine, events/s over a job of N tasks
//!   (a chunk-pyramid-shaped DAG, in affinity groups of 64 roots and their
//!   descendants, like bands) on 4 workers × 8 slots, every assignment
//!   answered at once, a heartbeat per 100 results and a tick per 1000;
//! - `grpc URL N`: N no-op tasks through a running scheduler and its
//!   workers over real gRPC (submit → all done), tasks/s.

use std::time::{Duration, Instant};

use geozarr_proto::pb;
use geozarr_scheduler::state::{Command, Event, Scheduler};
use tokio_stream::StreamExt;

fn pyramid(n: usize) -> Vec<Vec<u32>> {
    // level 0: n/4*3 roots; each later task waits for 4 of the level below
    let mut deps: Vec<Vec<u32>> = Vec::with_capacity(n);
    let mut prev: Vec<u32> = vec![];
    while deps.len() < n * 3 / 4 {
        prev.push(deps.len() as u32);
        deps.push(vec![]);
    }
    while deps.len() < n && prev.len() > 1 {
        let mut next = vec![];
        for c in prev.chunks(4) {
            if deps.len() >= n {
                break;
            }
            next.push(deps.len() as u32);
            deps.push(c.to_vec());
        }
        prev = next;
    }
    deps
}

fn bench_state(n: usize) {
    let deps = pyramid(n);
    // roots in groups of 64; a task joins the group of its first dependency
    let mut affinity: Vec<u32> = Vec::with_capacity(deps.len());
    for (i, d) in deps.iter().enumerate() {
        let a = match d.first() {
            None => 1 + i as u32 / 64,
            Some(&p) => affinity[p as usize],
        };
        affinity.push(a);
    }
    let tasks = deps.len();
    let mut s = Scheduler::new();
    let mut out = Vec::with_capacity(64);
    let mut pending = Vec::with_capacity(64);
    let t0 = Instant::now();
    let mut events: u64 = 0;
    let mut now = 0;
    for w in 1..=4 {
        s.handle(
            now,
            Event::WorkerJoined {
                worker: w,
                slots: 8,
            },
            &mut out,
        );
        events += 1;
    }
    s.handle(
        now,
        Event::JobSubmitted {
            job: 1,
            deps,
            affinity,
            max_attempts: 3,
            priority: 1,
        },
        &mut out,
    );
    events += 1;
    let mut done = false;
    let mut results = 0u64;
    while !done {
        pending.clear();
        for c in out.drain(..) {
            match c {
                Command::Assign {
                    worker,
                    job,
                    task,
                    attempt,
                } => pending.push(Event::TaskFinished {
                    worker,
                    job,
                    task,
                    attempt,
                }),
                Command::JobDone { .. } => done = true,
                _ => {}
            }
        }
        for ev in pending.drain(..) {
            results += 1;
            if results.is_multiple_of(100) {
                s.handle(
                    now,
                    Event::Heartbeat {
                        worker: 1 + results % 4,
                    },
                    &mut out,
                );
                events += 1;
            }
            if results.is_multiple_of(1000) {
                now += 1;
                s.handle(now, Event::Tick, &mut out);
                events += 1;
            }
            s.handle(now, ev, &mut out);
            events += 1;
        }
        if !done && out.is_empty() {
            panic!("stalled");
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "state machine: {tasks} tasks, {events} events in {secs:.3} s = {:.2} M events/s",
        events as f64 / secs / 1e6
    );
}

async fn bench_grpc(url: &str, n: usize) -> anyhow::Result<()> {
    let token = geozarr_proto::client::env_token();
    let tls = geozarr_proto::tls::ClientTls::from_env();
    let mut c =
        geozarr_proto::client::connect(url, token.as_deref(), &tls, Duration::from_secs(10))
            .await
            .map_err(anyhow::Error::msg)?;
    // wait for the workers to connect: a one-task warm-up job
    for (label, n) in [("warm-up", 1000usize), ("measured", n)] {
        let spec = pb::JobSpec {
            tasks: (0..n).map(|_| pb::TaskSpec::default()).collect(),
            noop: true,
            ..Default::default()
        };
        let t0 = Instant::now();
        let job = c.submit(spec).await?.into_inner().job;
        let mut ev = c.watch(pb::WatchRequest { job }).await?.into_inner();
        let (mut done, mut workers) = (0usize, 0);
        while let Some(e) = ev.next().await {
            let e = e?;
            done += e.done.len();
            workers = workers.max(e.workers);
            if e.finished || e.failed.is_some() {
                break;
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        anyhow::ensure!(done == n, "{done} of {n} tasks done");
        if label == "measured" {
            println!(
                "gRPC no-op: {n} tasks on {workers} workers in {secs:.3} s = {:.0} tasks/s ({:.1} µs/task)",
                n as f64 / secs,
                secs * 1e6 / n as f64
            );
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("state") => {
            let n = args
                .get(2)
                .and_then(|s| s.parse().ok())
                .unwrap_or(1_000_000);
            bench_state(n);
        }
        Some("grpc") => {
            let url = args
                .get(2)
                .cloned()
                .unwrap_or_else(|| "http://127.0.0.1:8786".into());
            let n = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(200_000);
            tokio::runtime::Runtime::new()?.block_on(bench_grpc(&url, n))?;
        }
        _ => anyhow::bail!("usage: geozarr-engine-bench state [N] | grpc URL [N]"),
    }
    Ok(())
}
