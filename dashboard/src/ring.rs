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
pub struct Ring {
    inner: Mutex<(u64, VecDeque<(u64, Entry)>)>,
}

impl Default for Ring {
    /// Room for the whole ring from the start: it fills on a busy
    /// scheduler, and growing it there copied it while results waited.
    fn default() -> Self {
        Ring {
            inner: Mutex::new((0, VecDeque::with_capacity(RING))),
        }
    }
}

impl Ring {
    /// Append; returns its id.
    pub fn push(&self, e: Entry) -> u64 {
        let mut r = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        r.0 += 1;
        let id = r.0;
        if r.1.len() >= RING {
            r.1.pop_front();
        }
        r.1.push_back((id, e));
        id
    }

    /// Append several; returns the id of the last (0: none appended).
    pub fn extend(&self, es: impl IntoIterator<Item = Entry>) -> u64 {
        let mut r = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut id = 0;
        for e in es {
            r.0 += 1;
            id = r.0;
            // within its capacity: never grown, never copied
            if r.1.len() >= RING {
                r.1.pop_front();
            }
            r.1.push_back((id, e));
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

    /// The newest `max` events after `id`, oldest first, and how many
    /// events after `id` were passed over (a reader that fell behind skips
    /// ahead instead of replaying everything).
    pub fn newest_since(&self, id: u64, max: usize) -> (Vec<(u64, Entry)>, u64) {
        let r = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let newest = r.0;
        let from = (id + 1).max(newest.saturating_sub(max as u64) + 1);
        let first = r.1.front().map(|e| e.0).unwrap_or(newest + 1);
        let skip = from.saturating_sub(first) as usize;
        let out: Vec<_> = r.1.iter().skip(skip).cloned().collect();
        let passed = newest.saturating_sub(id) - out.len() as u64;
        (out, passed)
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
        let (newest, passed) = r.newest_since(0, 2);
        assert_eq!((ids(newest), passed), (vec![2, 3], 1));
        let (newest, passed) = r.newest_since(2, 5);
        assert_eq!((ids(newest), passed), (vec![3], 0));
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
        let last = r.extend([Entry::Failure("x".into()), Entry::Failure("y".into())]);
        assert_eq!(last, 5);
        assert_eq!(r.extend([]), 0);
        let a: Vec<u32> = r.attempts(7, 1).iter().map(|t| t.attempt).collect();
        assert_eq!(a, vec![1, 2]);
        assert!(r.attempts(8, 1).is_empty());
    }
}
