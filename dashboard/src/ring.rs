//! The ring buffer of events the page replays and follows: finished task
//! attempts and error lines, numbered so a reconnecting browser resumes
//! after the last one it saw (`Last-Event-ID`). Bounded: the oldest go.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::model::TaskEvent;

/// Events kept.
pub const RING: usize = 200_000;

/// One event.
#[derive(Debug, Clone)]
pub enum Entry {
    /// A finished task attempt.
    Task(TaskEvent),
    /// An error line.
    Failure(String),
}

/// Numbered events, the newest [`RING`].
#[derive(Default)]
pub struct Ring {
    inner: Mutex<(u64, VecDeque<(u64, Entry)>)>,
}

impl Ring {
    /// Append; returns its id.
    pub fn push(&self, e: Entry) -> u64 {
        let mut r = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        r.0 += 1;
        let id = r.0;
        r.1.push_back((id, e));
        if r.1.len() > RING {
            r.1.pop_front();
        }
        id
    }

    /// At most `max` events after `id`, oldest first.
    pub fn since(&self, id: u64, max: usize) -> Vec<(u64, Entry)> {
        let r = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let first = r.1.front().map(|e| e.0).unwrap_or(r.0 + 1);
        let skip = (id + 1).saturating_sub(first) as usize;
        r.1.iter().skip(skip).take(max).cloned().collect()
    }

    /// The attempts of one task still held, oldest first.
    pub fn attempts(&self, job: u64, task: u32) -> Vec<TaskEvent> {
        let r = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        r.1.iter()
            .filter_map(|(_, e)| match e {
                Entry::Task(t) if t.job == job && t.task == task => Some(t.clone()),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_resume_after_the_last_seen_id_and_stay_bounded() {
        let r = Ring::default();
        for i in 0..3 {
            r.push(Entry::Failure(format!("e{i}")));
        }
        let ids = |v: Vec<(u64, Entry)>| v.iter().map(|e| e.0).collect::<Vec<_>>();
        assert_eq!(ids(r.since(0, 10)), vec![1, 2, 3]);
        assert_eq!(ids(r.since(0, 2)), vec![1, 2]);
        let rest = r.since(2, 10);
        assert!(matches!(&rest[..], [(3, Entry::Failure(m))] if m == "e2"));
        assert!(r.since(3, 10).is_empty());
        for _ in 0..RING {
            r.push(Entry::Failure(String::new()));
        }
        let all = r.since(0, usize::MAX);
        assert_eq!(all.len(), RING);
        assert_eq!(all[0].0, 4, "the oldest three went");
    }

    #[test]
    fn a_tasks_attempts_are_found_in_order() {
        let r = Ring::default();
        for (task, attempt) in [(1, 1), (2, 1), (1, 2)] {
            r.push(Entry::Task(TaskEvent {
                job: 7,
                task,
                attempt,
                ..Default::default()
            }));
        }
        let a: Vec<u32> = r.attempts(7, 1).iter().map(|t| t.attempt).collect();
        assert_eq!(a, vec![1, 2]);
        assert!(r.attempts(8, 1).is_empty());
    }
}
