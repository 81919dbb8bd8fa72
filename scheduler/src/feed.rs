//! What the dashboard is told of each job, kept next to the state machine
//! by the shell ([`crate::server`]): times, totals, progress per part and
//! group, the failed attempts of each task, the dependency lists (for the
//! graph view) and which tasks are done. Built from the typed task kinds
//! and the shell's commands; nothing here makes a scheduling decision.

use rustc_hash::FxHashMap as HashMap;

use geozarr_dashboard::{GraphNode, Part, TaskEvent, TaskKind};
use geozarr_proto::pb::task_spec::Kind;
use geozarr_proto::task as words;

use crate::state::TaskState;

/// A task's kind as the dashboard's structured fields.
pub fn what(kind: Option<&Kind>) -> TaskKind {
    let (band, level, chunk) = match kind {
        Some(Kind::Chunk(c)) => (c.band.clone(), Some(c.level), Some([c.row, c.col])),
        Some(Kind::Band(b)) => (b.band.clone(), None, None),
        Some(Kind::Carry(c)) => (c.array.clone(), None, None),
        Some(Kind::Coords(c)) => (c.group.clone(), None, None),
        _ => (String::new(), None, None),
    };
    TaskKind {
        kind: words::class(kind),
        band,
        level,
        chunk,
    }
}

/// [`what`] for a task-stream event: nothing for an undescribed task.
pub fn what_event(kind: Option<&Kind>) -> Option<Box<TaskKind>> {
    kind.map(|k| Box::new(what(Some(k))))
}

/// The band a task works on, if it is a chunk or whole-band task.
fn band_of(kind: Option<&Kind>) -> Option<&str> {
    match kind {
        Some(Kind::Chunk(c)) => Some(&c.band),
        Some(Kind::Band(b)) => Some(&b.band),
        _ => None,
    }
}

/// The dashboard's record of one job.
#[derive(Debug, Default)]
pub struct JobView {
    /// Submitted, first assignment, end: ms on the scheduler's clock.
    pub submitted_ms: u64,
    /// See `submitted_ms`.
    pub started_ms: Option<u64>,
    /// See `submitted_ms`.
    pub finished_ms: Option<u64>,
    /// Task attempts re-queued.
    pub retries: u64,
    /// CPU time of its task attempts.
    pub cpu_ns: u64,
    /// Bytes read / written by its tasks.
    pub bytes: (u64, u64),
    /// Progress parts (running is filled per snapshot) and each task's part.
    pub parts: Vec<Part>,
    part_of: Vec<u32>,
    /// Done tasks.
    done: Vec<bool>,
    /// When each task's latest attempt was sent to a worker (ms): it starts
    /// running then, as a worker runs every task it is sent at once.
    assigned_at: Vec<f64>,
    /// Failed attempts of tasks that failed at least once.
    failures: HashMap<u32, Vec<TaskEvent>>,
    /// The task that failed the job.
    pub failed_task: Option<u32>,
    /// Dependencies (CSR: `dep_start[i]..dep_start[i+1]` in `deps`).
    dep_start: Vec<u32>,
    deps: Vec<u32>,
}

impl JobView {
    /// A job submitted at `now` with these task kinds and dependencies.
    pub fn new(now: u64, kinds: &[Option<Kind>], deps: &[Vec<u32>]) -> Self {
        let mut parts: Vec<Part> = vec![];
        let mut index: HashMap<String, u32> = HashMap::default();
        let part_of = kinds
            .iter()
            .map(|k| {
                let name = words::part(k.as_ref());
                let p = *index.entry(name.clone()).or_insert_with(|| {
                    parts.push(Part {
                        name,
                        group: words::group(k.as_ref()),
                        ..Default::default()
                    });
                    parts.len() as u32 - 1
                });
                parts[p as usize].total += 1;
                p
            })
            .collect();
        let mut dep_start = Vec::with_capacity(deps.len() + 1);
        dep_start.push(0);
        let mut flat = Vec::new();
        for d in deps {
            flat.extend_from_slice(d);
            dep_start.push(flat.len() as u32);
        }
        JobView {
            submitted_ms: now,
            parts,
            part_of,
            done: vec![false; kinds.len()],
            assigned_at: vec![0.0; kinds.len()],
            dep_start,
            deps: flat,
            ..Default::default()
        }
    }

    fn part(&mut self, task: u32) -> Option<&mut Part> {
        let p = *self.part_of.get(task as usize)?;
        self.parts.get_mut(p as usize)
    }

    /// A task was sent to a worker at `now` (ms).
    pub fn assigned(&mut self, task: u32, now: f64) {
        self.started_ms.get_or_insert(now as u64);
        if let Some(a) = self.assigned_at.get_mut(task as usize) {
            *a = now;
        }
    }

    /// Start and stop (ms) of a task attempt that ran `micros` and whose
    /// result arrived at `now`: from its assignment (results come batched,
    /// so arrival minus run time would start it late).
    pub fn span(&self, task: u32, micros: u64, now: f64) -> (f64, f64) {
        let run = micros as f64 / 1000.0;
        let start = match self.assigned_at.get(task as usize) {
            Some(&a) if a > 0.0 && a <= now => a.max(now - run - 1000.0),
            _ => now - run,
        };
        (start, (start + run).min(now))
    }

    /// A task is done.
    pub fn task_done(&mut self, task: u32, cpu_ns: u64, bytes: (u64, u64)) {
        self.cpu_ns += cpu_ns;
        self.bytes.0 += bytes.0;
        self.bytes.1 += bytes.1;
        if let Some(d) = self.done.get_mut(task as usize) {
            *d = true;
        }
        if let Some(p) = self.part(task) {
            p.done += 1;
        }
    }

    /// A task attempt failed (worker error or lost worker): kept for the
    /// task's details unless that attempt is already recorded.
    pub fn attempt_failed(&mut self, e: TaskEvent) {
        let (task, attempt) = (e.task, e.attempt);
        let list = self.failures.entry(task).or_default();
        if list.iter().any(|a| a.attempt == attempt) {
            return;
        }
        list.push(e);
        if let Some(p) = self.part(task) {
            p.failed += 1;
        }
    }

    /// Parts with `running` counted from the tasks in flight.
    pub fn parts_now(&self, running: &[u32]) -> Vec<Part> {
        let mut parts = self.parts.clone();
        for t in running {
            if let Some(&p) = self.part_of.get(*t as usize) {
                parts[p as usize].running += 1;
            }
        }
        parts
    }

    /// Dependencies of a task.
    pub fn deps(&self, task: u32) -> &[u32] {
        let i = task as usize;
        match (self.dep_start.get(i), self.dep_start.get(i + 1)) {
            (Some(&a), Some(&b)) => &self.deps[a as usize..b as usize],
            _ => &[],
        }
    }

    /// Failed attempts of a task.
    pub fn failures(&self, task: u32) -> Vec<TaskEvent> {
        self.failures.get(&task).cloned().unwrap_or_default()
    }

    /// A task's state: from the state machine while its job runs (`live`),
    /// else from what was recorded.
    pub fn state(&self, task: u32, live: Option<TaskState>) -> &'static str {
        match live {
            Some(TaskState::Waiting(_)) => "waiting",
            Some(TaskState::Ready) => "queued",
            Some(TaskState::Assigned(_)) => "running",
            Some(TaskState::Done) => "done",
            None if self.done.get(task as usize) == Some(&true) => "done",
            None if self.failed_task == Some(task) => "failed",
            None => "cancelled",
        }
    }

    /// The bands of the job, in task order.
    pub fn bands<'a>(&self, kinds: &'a [Option<Kind>]) -> Vec<&'a str> {
        let mut out: Vec<&str> = vec![];
        for b in kinds.iter().filter_map(|k| band_of(k.as_ref())) {
            if out.last() != Some(&b) && !out.contains(&b) {
                out.push(b);
            }
        }
        out
    }

    /// The tasks of one band as graph nodes (dependencies within the band).
    pub fn graph(
        &self,
        kinds: &[Option<Kind>],
        band: &str,
        live: impl Fn(u32) -> Option<TaskState>,
    ) -> Vec<GraphNode> {
        let mine: Vec<u32> = (0..kinds.len() as u32)
            .filter(|t| band_of(kinds[*t as usize].as_ref()) == Some(band))
            .collect();
        mine.iter()
            .map(|&t| {
                let (level, chunk) = match &kinds[t as usize] {
                    Some(Kind::Chunk(c)) => (c.level, [c.row, c.col]),
                    _ => (0, [0, 0]),
                };
                GraphNode {
                    task: t,
                    level,
                    chunk,
                    state: self.state(t, live(t)).into(),
                    deps: self
                        .deps(t)
                        .iter()
                        .copied()
                        .filter(|d| mine.binary_search(d).is_ok())
                        .collect(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geozarr_proto::pb;

    fn chunk(band: &str, level: u32, row: u64) -> Option<Kind> {
        Some(Kind::Chunk(pb::ChunkTask {
            band: band.into(),
            level,
            row,
            col: 0,
        }))
    }

    #[test]
    fn parts_groups_and_a_bands_graph() {
        let kinds = vec![
            chunk("b02", 0, 0),
            chunk("b02", 0, 1),
            chunk("b03", 0, 0),
            chunk("b02", 1, 0),
            None,
        ];
        let deps = vec![vec![], vec![], vec![], vec![0, 1, 2], vec![3]];
        let mut v = JobView::new(5, &kinds, &deps);
        let groups: Vec<(&str, &str, u32)> = v
            .parts
            .iter()
            .map(|p| (p.name.as_str(), p.group.as_str(), p.total))
            .collect();
        assert_eq!(
            groups,
            vec![
                ("b02 level 0", "level 0", 2),
                ("b03 level 0", "level 0", 1),
                ("b02 level 1", "overview level 1", 1),
                ("other", "metadata", 1),
            ]
        );
        v.assigned(0, 100.0);
        assert_eq!(
            v.span(0, 2_000, 150.0),
            (100.0, 102.0),
            "from the assignment"
        );
        assert_eq!(v.span(1, 2_000, 150.0), (148.0, 150.0), "never assigned");
        assert_eq!(v.started_ms, Some(100));
        v.task_done(0, 2_000, (10, 20));
        v.attempt_failed(TaskEvent {
            task: 1,
            attempt: 1,
            ..Default::default()
        });
        v.attempt_failed(TaskEvent {
            task: 1,
            attempt: 1,
            ..Default::default()
        });
        let parts = v.parts_now(&[1, 4]);
        assert_eq!(
            (parts[0].done, parts[0].running, parts[0].failed),
            (1, 1, 1)
        );
        assert_eq!(parts[3].running, 1);
        assert_eq!(v.bands(&kinds), vec!["b02", "b03"]);
        let g = v.graph(&kinds, "b02", |_| None);
        let nodes: Vec<(u32, u32, &str, Vec<u32>)> = g
            .iter()
            .map(|n| (n.task, n.level, n.state.as_str(), n.deps.clone()))
            .collect();
        assert_eq!(
            nodes,
            vec![
                (0, 0, "done", vec![]),
                (1, 0, "cancelled", vec![]),
                (3, 1, "cancelled", vec![0, 1]),
            ]
        );
        assert_eq!(v.deps(4), &[3]);
        assert_eq!(v.failures(1).len(), 1);
    }
}
