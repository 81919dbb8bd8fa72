//! Histories sampled once a second from the scheduler's snapshot and kept
//! in ring buffers, so the throughput and the workers' sparklines survive
//! the end of a job and a reload of the page.

use std::collections::{HashMap, VecDeque};

use serde::Serialize;

use crate::model::Status;

/// Throughput samples kept (one a second: ten minutes).
pub const THROUGHPUT_SAMPLES: usize = 600;
/// Samples kept per worker (two minutes).
pub const WORKER_SAMPLES: usize = 120;

/// Cluster totals at one time (rates are differences of neighbours).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Sample {
    /// Scheduler clock, ms.
    pub t: u64,
    /// Bytes read / written and tasks done so far.
    pub read: u64,
    /// See `read`.
    pub written: u64,
    /// See `read`.
    pub tasks: u64,
}

/// One worker at one time.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct WorkerSample {
    /// Scheduler clock, ms.
    pub t: u64,
    /// CPU (1.0 = one core).
    pub cpu: f32,
    /// Resident memory, bytes.
    pub rss: u64,
    /// Tasks in flight.
    pub running: u32,
    /// Bytes read / written so far.
    pub read: u64,
    /// See `read`.
    pub written: u64,
}

/// The histories.
#[derive(Default)]
pub struct History {
    /// Cluster totals.
    pub throughput: VecDeque<Sample>,
    /// Per worker, by id (connected workers only).
    pub workers: HashMap<u64, VecDeque<WorkerSample>>,
}

fn push<T>(q: &mut VecDeque<T>, x: T, cap: usize) {
    q.push_back(x);
    while q.len() > cap {
        q.pop_front();
    }
}

impl History {
    /// Record a snapshot; workers gone are forgotten.
    pub fn record(&mut self, s: &Status) {
        let c = &s.counters;
        push(
            &mut self.throughput,
            Sample {
                t: c.uptime_ms,
                read: c.bytes_read,
                written: c.bytes_written,
                tasks: c.tasks_done,
            },
            THROUGHPUT_SAMPLES,
        );
        self.workers
            .retain(|id, _| s.workers.iter().any(|w| w.id == *id));
        for w in &s.workers {
            let sample = WorkerSample {
                t: c.uptime_ms,
                cpu: w.cpu,
                rss: w.rss,
                running: w.running,
                read: w.bytes_read,
                written: w.bytes_written,
            };
            push(
                self.workers.entry(w.id).or_default(),
                sample,
                WORKER_SAMPLES,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Counters, WorkerStatus};

    #[test]
    fn samples_are_bounded_and_gone_workers_forgotten() {
        let mut h = History::default();
        let w = |id| WorkerStatus {
            id,
            rss: id * 10,
            ..Default::default()
        };
        for t in 0..THROUGHPUT_SAMPLES as u64 + 5 {
            let s = Status {
                workers: if t < 10 { vec![w(1), w(2)] } else { vec![w(2)] },
                counters: Counters {
                    uptime_ms: t * 1000,
                    tasks_done: t,
                    ..Default::default()
                },
                ..Default::default()
            };
            h.record(&s);
        }
        assert_eq!(h.throughput.len(), THROUGHPUT_SAMPLES);
        assert_eq!(h.throughput[0].tasks, 5, "the oldest five went");
        assert_eq!(h.workers.keys().copied().collect::<Vec<_>>(), vec![2]);
        assert_eq!(h.workers[&2].len(), WORKER_SAMPLES);
        assert_eq!(h.workers[&2][0].rss, 20);
    }
}
