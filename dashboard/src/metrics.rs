//! Prometheus text exposition of a snapshot (`/metrics`).

use crate::model::{Status, WorkerStatus};

/// The metrics of a snapshot, in the Prometheus text format.
pub fn prometheus(s: &Status) -> String {
    let c = &s.counters;
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, rows: Vec<(String, f64)>| {
        out += &format!("# HELP {name} {help}\n# TYPE {name} {kind}\n");
        for (labels, v) in rows {
            out += &format!("{name}{labels} {v}\n");
        }
    };
    let one = |v: u64| vec![(String::new(), v as f64)];
    metric(
        "geozarr_tasks_done_total",
        "counter",
        "Tasks finished.",
        one(c.tasks_done),
    );
    metric(
        "geozarr_task_retries_total",
        "counter",
        "Task attempts re-queued.",
        one(c.retries),
    );
    metric(
        "geozarr_stale_results_total",
        "counter",
        "Results ignored as stale.",
        one(c.stale_results),
    );
    metric(
        "geozarr_workers_lost_total",
        "counter",
        "Workers lost.",
        one(c.workers_lost),
    );
    metric(
        "geozarr_jobs_done_total",
        "counter",
        "Jobs finished.",
        one(c.jobs_done),
    );
    metric(
        "geozarr_jobs_failed_total",
        "counter",
        "Jobs failed.",
        one(c.jobs_failed),
    );
    metric(
        "geozarr_bytes_read_total",
        "counter",
        "Bytes read by tasks.",
        one(c.bytes_read),
    );
    metric(
        "geozarr_bytes_written_total",
        "counter",
        "Bytes written by tasks.",
        one(c.bytes_written),
    );
    metric(
        "geozarr_workers",
        "gauge",
        "Connected workers.",
        one(s.workers.len() as u64),
    );
    let per = |f: &dyn Fn(&WorkerStatus) -> f64| {
        s.workers
            .iter()
            .map(|w| (format!("{{worker=\"{}\"}}", w.id), f(w)))
            .collect()
    };
    metric(
        "geozarr_worker_slots",
        "gauge",
        "Task slots per worker.",
        per(&|w| w.slots as f64),
    );
    metric(
        "geozarr_worker_running",
        "gauge",
        "Tasks in flight per worker.",
        per(&|w| w.running as f64),
    );
    metric(
        "geozarr_worker_cpu",
        "gauge",
        "CPU use per worker (1 = one core).",
        per(&|w| w.cpu as f64),
    );
    metric(
        "geozarr_worker_rss_bytes",
        "gauge",
        "Resident memory per worker.",
        per(&|w| w.rss as f64),
    );
    metric(
        "geozarr_worker_memory_limit_bytes",
        "gauge",
        "Memory a worker may use (cgroup limit, else host memory).",
        per(&|w| w.mem_limit as f64),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Counters;

    #[test]
    fn prometheus_text_has_counters_and_per_worker_gauges() {
        let s = Status {
            workers: vec![WorkerStatus {
                id: 7,
                slots: 4,
                running: 2,
                ..Default::default()
            }],
            counters: Counters {
                tasks_done: 12,
                stale_results: 1,
                ..Default::default()
            },
            ..Default::default()
        };
        let t = prometheus(&s);
        assert!(
            t.contains("# TYPE geozarr_tasks_done_total counter\ngeozarr_tasks_done_total 12\n")
        );
        assert!(t.contains("geozarr_stale_results_total 1\n"));
        assert!(t.contains("geozarr_workers 1\n"));
        assert!(t.contains("geozarr_worker_slots{worker=\"7\"} 4\n"));
        assert!(t.contains("geozarr_worker_running{worker=\"7\"} 2\n"));
    }
}
