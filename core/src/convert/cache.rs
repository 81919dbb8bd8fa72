//! A decoded-chunk cache for chunk tasks on one worker.
//!
//! Input chunks (5490² for Sentinel-2) and output chunks (3660²) differ, so
//! several chunk tasks read the same source chunk. With the scheduler's band
//! affinity they run on the same worker; this cache lets them share one
//! decode. Each entry knows how many reads the plan makes of it and is
//! dropped after the last one; entries whose readers ran elsewhere are
//! evicted least-recently-used once the cache is over its byte budget.
//! Concurrent readers of a chunk being decoded wait for that decode.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::{Error, Result};

type Value = Arc<dyn Any + Send + Sync>;
type Cell = Arc<OnceLock<Result<Value, String>>>;

/// Which chunk: (scope, array, chunk indices). The scope (a job id) keeps
/// jobs apart, so a re-run never sees a previous run's data.
type Key = (u64, String, Vec<u64>);

struct Entry {
    cell: Cell,
    bytes: usize,
    reads_left: u32,
    used: u64,
}

#[derive(Default)]
struct Inner {
    map: HashMap<Key, Entry>,
    bytes: usize,
    clock: u64,
}

/// Decoded chunks shared by the tasks of one process.
pub struct ChunkCache {
    budget: usize,
    inner: Mutex<Inner>,
    decodes: AtomicU64,
    hits: AtomicU64,
}

impl std::fmt::Debug for ChunkCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkCache")
            .field("budget", &self.budget)
            .field("decodes", &self.decodes())
            .field("hits", &self.hits())
            .finish()
    }
}

impl ChunkCache {
    /// A cache holding at most `budget` bytes of chunks nobody is reading.
    pub fn new(budget: usize) -> Self {
        ChunkCache {
            budget,
            inner: Mutex::new(Inner::default()),
            decodes: AtomicU64::new(0),
            hits: AtomicU64::new(0),
        }
    }

    /// Chunks decoded (cache misses).
    pub fn decodes(&self) -> u64 {
        self.decodes.load(Ordering::Relaxed)
    }

    /// Reads served without decoding.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Bytes of chunks held now.
    pub fn held_bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Chunk `idx` of `array` in `scope`, decoded by `load` unless held.
    /// `reads` is how many reads the plan makes of this chunk in all: the
    /// entry is dropped after that many.
    pub fn get<T: Send + Sync + 'static>(
        &self,
        scope: u64,
        array: &str,
        idx: &[u64],
        reads: u32,
        load: impl FnOnce() -> Result<Vec<T>>,
    ) -> Result<Arc<Vec<T>>> {
        let key: Key = (scope, array.to_string(), idx.to_vec());
        let cell = {
            let mut g = self.lock();
            g.clock += 1;
            let now = g.clock;
            let e = g.map.entry(key.clone()).or_insert_with(|| Entry {
                cell: Arc::default(),
                bytes: 0,
                reads_left: reads.max(1),
                used: now,
            });
            e.used = now;
            e.reads_left = e.reads_left.saturating_sub(1);
            let cell = e.cell.clone();
            if e.reads_left == 0 {
                let bytes = e.bytes;
                g.map.remove(&key);
                g.bytes -= bytes;
            }
            cell
        };
        let mut loaded = None;
        let v = cell.get_or_init(|| {
            self.decodes.fetch_add(1, Ordering::Relaxed);
            load()
                .map(|v| {
                    loaded = Some(std::mem::size_of::<T>() * v.len());
                    Arc::new(v) as Value
                })
                .map_err(|e| e.to_string())
        });
        let v = match v {
            Ok(v) => v.clone(),
            Err(e) => {
                self.forget(&key, &cell);
                return Err(Error::Task(e.clone()));
            }
        };
        match loaded {
            Some(bytes) => self.account(&key, &cell, bytes),
            None => {
                self.hits.fetch_add(1, Ordering::Relaxed);
            }
        }
        v.downcast::<Vec<T>>()
            .map_err(|_| Error::Task(format!("{array}: cached chunk has another type")))
    }

    /// Hold a chunk this process just produced, for `reads` later reads.
    pub fn put<T: Send + Sync + 'static>(
        &self,
        scope: u64,
        array: &str,
        idx: &[u64],
        reads: u32,
        data: Vec<T>,
    ) {
        if reads == 0 {
            return;
        }
        let bytes = std::mem::size_of::<T>() * data.len();
        let cell: Cell = Arc::new(OnceLock::from(Ok(Arc::new(data) as Value)));
        let key: Key = (scope, array.to_string(), idx.to_vec());
        let mut g = self.lock();
        g.clock += 1;
        let now = g.clock;
        if let Some(old) = g.map.insert(
            key,
            Entry {
                cell,
                bytes,
                reads_left: reads,
                used: now,
            },
        ) {
            g.bytes -= old.bytes;
        }
        g.bytes += bytes;
        Self::evict(&mut g, self.budget);
    }

    /// Count a freshly decoded chunk against the budget (if still held).
    fn account(&self, key: &Key, cell: &Cell, bytes: usize) {
        let mut g = self.lock();
        let Some(e) = g.map.get_mut(key) else { return };
        if !Arc::ptr_eq(&e.cell, cell) || e.bytes != 0 {
            return;
        }
        e.bytes = bytes;
        g.bytes += bytes;
        Self::evict(&mut g, self.budget);
    }

    /// Drop a failed decode so the next read tries again.
    fn forget(&self, key: &Key, cell: &Cell) {
        let mut g = self.lock();
        if g.map.get(key).is_some_and(|e| Arc::ptr_eq(&e.cell, cell)) {
            let e = g.map.remove(key).expect("checked");
            g.bytes -= e.bytes;
        }
    }

    /// Drop least-recently-used decoded entries until within `budget`.
    fn evict(g: &mut Inner, budget: usize) {
        while g.bytes > budget {
            let Some(k) = g
                .map
                .iter()
                .filter(|(_, e)| e.bytes > 0)
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                return;
            };
            let e = g.map.remove(&k).expect("found");
            g.bytes -= e.bytes;
        }
    }

    /// Drop every chunk of `scope` (its job ended).
    pub fn drop_scope(&self, scope: u64) {
        let mut g = self.lock();
        let freed: usize = g
            .map
            .iter()
            .filter(|(k, _)| k.0 == scope)
            .map(|(_, e)| e.bytes)
            .sum();
        g.map.retain(|k, _| k.0 != scope);
        g.bytes -= freed;
    }
}

/// A cache and the scope (job) a task's reads belong to.
#[derive(Clone, Debug)]
pub struct CacheRef {
    /// The process's cache.
    pub cache: Arc<ChunkCache>,
    /// The job.
    pub scope: u64,
}

/// How many reads of the 2-D source chunk `idx` (chunk shape `chunk`, array
/// shape `shape`) tasks make whose square source windows are `step` wide
/// and aligned on multiples of `step`.
pub fn readers(idx: [u64; 2], chunk: [u64; 2], shape: [u64; 2], step: u64) -> u32 {
    (0..2)
        .map(|d| axis_readers(idx[d], chunk[d], shape[d], step))
        .product()
}

/// [`readers`] along one axis.
fn axis_readers(i: u64, chunk: u64, len: u64, step: u64) -> u32 {
    let start = i * chunk;
    let end = ((i + 1) * chunk).min(len);
    if end <= start || step == 0 {
        return 0;
    }
    ((end - 1) / step - start / step + 1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(n: usize, calls: &AtomicU64) -> Result<Vec<u16>> {
        calls.fetch_add(1, Ordering::Relaxed);
        Ok(vec![7; n])
    }

    #[test]
    fn one_decode_for_all_planned_reads_then_dropped() {
        let c = ChunkCache::new(1 << 20);
        let calls = AtomicU64::new(0);
        for _ in 0..3 {
            let v = c.get(1, "a", &[0, 1], 3, || load(10, &calls)).unwrap();
            assert_eq!(v.len(), 10);
        }
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        assert_eq!((c.decodes(), c.hits()), (1, 2));
        assert_eq!(c.held_bytes(), 0, "dropped after its last planned read");
        c.get(1, "a", &[0, 1], 3, || load(10, &calls)).unwrap();
        assert_eq!(calls.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn scopes_and_indices_are_apart_and_budget_evicts_lru() {
        let c = ChunkCache::new(100);
        let calls = AtomicU64::new(0);
        c.get(1, "a", &[0], 9, || load(20, &calls)).unwrap(); // 40 B
        c.get(2, "a", &[0], 9, || load(20, &calls)).unwrap(); // 80 B
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        c.get(1, "a", &[0], 9, || load(20, &calls)).unwrap(); // hit, now newest
        c.get(1, "a", &[1], 9, || load(20, &calls)).unwrap(); // 120 B > 100: evict scope 2
        assert_eq!(c.held_bytes(), 80);
        c.get(1, "a", &[0], 9, || load(20, &calls)).unwrap();
        assert_eq!(calls.load(Ordering::Relaxed), 3, "scope 1 chunk 0 kept");
        c.get(2, "a", &[0], 9, || load(20, &calls)).unwrap();
        assert_eq!(
            calls.load(Ordering::Relaxed),
            4,
            "scope 2 chunk 0 was evicted"
        );
        c.drop_scope(1);
        c.drop_scope(2);
        assert_eq!(c.held_bytes(), 0);
    }

    #[test]
    fn put_serves_reads_and_a_failed_decode_is_retried() {
        let c = ChunkCache::new(1 << 20);
        c.put(5, "b", &[2, 2], 1, vec![1u8, 2, 3]);
        let v: Arc<Vec<u8>> = c
            .get(5, "b", &[2, 2], 1, || -> Result<Vec<u8>> { panic!("held") })
            .unwrap();
        assert_eq!(*v, vec![1, 2, 3]);
        assert_eq!(c.held_bytes(), 0);
        let e = c.get::<u8>(5, "b", &[0, 0], 2, || Err(Error::Task("boom".into())));
        assert!(e.unwrap_err().to_string().contains("boom"));
        let calls = AtomicU64::new(0);
        c.get(5, "b", &[0, 0], 2, || load(1, &calls)).unwrap();
        assert_eq!(
            calls.load(Ordering::Relaxed),
            1,
            "retried after the failure"
        );
    }

    #[test]
    fn readers_count_windows_over_a_chunk() {
        // input chunks 5490 over 10980 rows, output chunks 3660
        assert_eq!(axis_readers(0, 5490, 10980, 3660), 2);
        assert_eq!(axis_readers(1, 5490, 10980, 3660), 2);
        // level-0 chunks 3660 read by level-1 windows of 2 × 2745 = 5490
        assert_eq!(axis_readers(0, 3660, 10980, 5490), 1);
        assert_eq!(axis_readers(1, 3660, 10980, 5490), 2);
        assert_eq!(axis_readers(2, 3660, 10980, 5490), 1);
        // a chunk past the end is read by nobody
        assert_eq!(axis_readers(3, 3660, 10980, 5490), 0);
        // both axes: the middle chunk of a 3 × 3 grid, read 2 × 2 times
        assert_eq!(readers([1, 1], [3660; 2], [10980; 2], 5490), 4);
        assert_eq!(readers([1, 3], [3660; 2], [10980; 2], 5490), 0);
    }
}
