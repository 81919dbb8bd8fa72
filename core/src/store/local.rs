//! The local output store: a zarrs [`FilesystemStore`] for reads and
//! listing, with writes made whole by a temporary file and a rename, and
//! without a per-file `fsync`. A reader or a resumed run never sees a torn
//! chunk, and a killed process loses nothing that was renamed into place.
//!
//! Durability against power loss is bought once per store instead of once
//! per chunk: writing the root `zarr.json` with consolidated metadata — the
//! commit point, written last — first flushes the whole file system
//! (`syncfs`). So a store whose root lists consolidated metadata has every
//! chunk on disk. Each file's write-out to disk is started as soon as it is
//! written (`sync_file_range`, without waiting), so that flush finds little
//! left to do and the disk works while the cores encode.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use zarrs::filesystem::FilesystemStore;
use zarrs::storage::byte_range::ByteRangeIterator;
use zarrs::storage::{
    Bytes, ListableStorageTraits, MaybeBytesIterator, OffsetBytesIterator, ReadableStorageTraits,
    StorageError, StoreKey, StoreKeys, StoreKeysPrefixes, StorePrefix, WritableStorageTraits,
};

/// A local directory store with atomic, unsynced writes (see the module docs).
#[derive(Debug)]
pub struct LocalStore {
    fs: FilesystemStore,
    root: PathBuf,
}

impl LocalStore {
    /// Open the directory `root` (which must exist).
    pub fn new(root: &Path) -> Result<Self, StorageError> {
        let fs = FilesystemStore::new(root).map_err(|e| StorageError::Other(e.to_string()))?;
        Ok(LocalStore {
            fs,
            root: root.to_path_buf(),
        })
    }

    /// Flush every file written so far to disk.
    fn sync_all(&self) -> Result<(), StorageError> {
        let dir = std::fs::File::open(&self.root)?;
        // SAFETY: syncfs only reads the file descriptor, which `dir` keeps open.
        if unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&dir)) } != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        Ok(())
    }
}

/// Is this root document the commit point (it lists consolidated metadata)?
/// The root written at the start has nothing before it worth flushing.
fn is_commit(root: &[u8]) -> bool {
    let key = b"\"consolidated_metadata\"";
    root.windows(key.len()).any(|w| w == key)
}

/// Start writing a file's dirty pages to disk, without waiting for them.
fn start_writeout(f: &std::fs::File) {
    // SAFETY: only reads the descriptor, which `f` keeps open. A failure
    // only means the final flush does this work instead.
    unsafe {
        libc::sync_file_range(
            std::os::fd::AsRawFd::as_raw_fd(f),
            0,
            0,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

/// A value written whole: a temporary file beside it, renamed into place by
/// [`ChunkFile::commit`] and removed if dropped before. Every
/// [`LocalStore`] write goes through one; chunks encoded as their rows
/// arrive are written piece by piece, so they are never held in memory whole.
#[derive(Debug)]
pub struct ChunkFile {
    file: std::fs::File,
    tmp: PathBuf,
    path: PathBuf,
    done: bool,
}

static TEMP_FILES: AtomicU64 = AtomicU64::new(0);

impl ChunkFile {
    /// Start writing the value of `key` in the local store at `root`.
    pub fn create(root: &Path, key: &str) -> std::io::Result<Self> {
        let path = root.join(key);
        let dir = path.parent().unwrap_or(root);
        std::fs::create_dir_all(dir)?;
        // a name unique to this process and write, so concurrent writers of
        // one key (a re-run task) never share a temporary file
        let n = TEMP_FILES.fetch_add(1, Ordering::Relaxed);
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let tmp = dir.join(format!(".{name}.{}-{n}.tmp", std::process::id()));
        let file = std::fs::File::create(&tmp)?;
        Ok(ChunkFile {
            file,
            tmp,
            path,
            done: false,
        })
    }

    /// Put the finished value in place.
    pub fn commit(mut self) -> std::io::Result<()> {
        start_writeout(&self.file);
        std::fs::rename(&self.tmp, &self.path)?;
        self.done = true;
        Ok(())
    }
}

impl std::io::Write for ChunkFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl std::io::Seek for ChunkFile {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.file.seek(pos)
    }
}

/// Copy the file `src` into the local store at `root` as `key`, whole
/// (temporary file, then rename) and without passing through memory
/// (`copy_file_range`). The bytes copied, `None` when `src` does not exist.
pub fn copy_in(root: &Path, key: &str, src: &Path) -> std::io::Result<Option<u64>> {
    let f = ChunkFile::create(root, key)?;
    match std::fs::copy(src, &f.tmp) {
        Ok(n) => f.commit().map(|_| Some(n)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !src.exists() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Remove the temporary files a killed writer left under `root` (a worker
/// killed mid-chunk never renames its `.{name}.{pid}-{n}.tmp`), so a resumed
/// store holds only whole chunks. Returns how many were removed.
pub fn remove_stale_temps(root: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            if e.file_type()?.is_dir() {
                dirs.push(e.path());
            } else if name.starts_with('.') && name.ends_with(".tmp") {
                std::fs::remove_file(e.path())?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// Remove a directory tree. A removal that finds a directory not empty
/// (files appearing while it runs, or a file system whose listing misses
/// entries being deleted) is tried again a few times before it gives up.
pub fn remove_tree(dir: &Path) -> std::io::Result<()> {
    let mut tries = 0;
    loop {
        match std::fs::remove_dir_all(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty && tries < 5 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(100 * tries));
            }
            r => return r,
        }
    }
}

impl Drop for ChunkFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

impl ReadableStorageTraits for LocalStore {
    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<MaybeBytesIterator<'a>, StorageError> {
        self.fs.get_partial_many(key, byte_ranges)
    }

    fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        self.fs.size_key(key)
    }

    fn supports_get_partial(&self) -> bool {
        self.fs.supports_get_partial()
    }
}

impl ListableStorageTraits for LocalStore {
    fn list(&self) -> Result<StoreKeys, StorageError> {
        self.fs.list()
    }

    fn list_prefix(&self, prefix: &StorePrefix) -> Result<StoreKeys, StorageError> {
        self.fs.list_prefix(prefix)
    }

    fn list_dir(&self, prefix: &StorePrefix) -> Result<StoreKeysPrefixes, StorageError> {
        self.fs.list_dir(prefix)
    }

    fn size_prefix(&self, prefix: &StorePrefix) -> Result<u64, StorageError> {
        self.fs.size_prefix(prefix)
    }
}

impl WritableStorageTraits for LocalStore {
    fn set(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
        if key.as_str() == "zarr.json" && is_commit(&value) {
            self.sync_all()?;
        }
        let mut f = ChunkFile::create(&self.root, key.as_str())?;
        std::io::Write::write_all(&mut f, &value)?;
        f.commit()?;
        Ok(())
    }

    fn set_partial_many(
        &self,
        key: &StoreKey,
        offset_values: OffsetBytesIterator,
    ) -> Result<(), StorageError> {
        // read, patch, write whole: partial writes stay atomic too
        let mut bytes = self.fs.get(key)?.map(|b| b.to_vec()).unwrap_or_default();
        for (offset, value) in offset_values {
            let o = usize::try_from(offset).map_err(|e| StorageError::Other(e.to_string()))?;
            if bytes.len() < o + value.len() {
                bytes.resize(o + value.len(), 0);
            }
            bytes[o..o + value.len()].copy_from_slice(&value);
        }
        self.set(key, Bytes::from(bytes))
    }

    fn erase(&self, key: &StoreKey) -> Result<(), StorageError> {
        self.fs.erase(key)
    }

    fn erase_prefix(&self, prefix: &StorePrefix) -> Result<(), StorageError> {
        self.fs.erase_prefix(prefix)
    }

    fn supports_set_partial(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn stale_temporary_files_are_removed_and_nothing_else() {
        let d = tempfile::tempdir().unwrap();
        let c = d.path().join("b02/c/0");
        std::fs::create_dir_all(&c).unwrap();
        std::fs::write(c.join("0"), b"chunk").unwrap();
        std::fs::write(c.join(".1.4242-7.tmp"), b"half").unwrap();
        std::fs::write(d.path().join(".zarr.json.4242-8.tmp"), b"half").unwrap();
        std::fs::write(d.path().join("zarr.json"), b"{}").unwrap();
        assert_eq!(remove_stale_temps(d.path()).unwrap(), 2);
        assert!(c.join("0").exists() && d.path().join("zarr.json").exists());
        assert!(!c.join(".1.4242-7.tmp").exists());
        assert_eq!(remove_stale_temps(d.path()).unwrap(), 0);
    }
    use super::*;

    #[test]
    fn writes_are_whole_and_leave_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStore::new(dir.path()).unwrap();
        let k = StoreKey::new("a/b/c/0.0").unwrap();
        s.set(&k, Bytes::from_static(b"hello")).unwrap();
        s.set(&k, Bytes::from_static(b"hi")).unwrap();
        assert_eq!(s.get(&k).unwrap().unwrap().as_ref(), b"hi");
        s.set(
            &StoreKey::new("zarr.json").unwrap(),
            Bytes::from_static(b"{}"),
        )
        .unwrap();
        let files: Vec<_> = walk(dir.path());
        assert_eq!(files.len(), 2, "{files:?}");
        assert!(files.iter().all(|f| !f.ends_with(".tmp")), "{files:?}");
        s.erase(&k).unwrap();
        assert!(s.get(&k).unwrap().is_none());
    }

    #[test]
    fn only_the_consolidated_root_is_a_commit_point() {
        assert!(is_commit(
            br#"{"zarr_format":3,"consolidated_metadata":{}}"#
        ));
        assert!(!is_commit(br#"{"zarr_format":3,"attributes":{}}"#));
    }

    #[test]
    fn chunk_files_appear_whole_on_commit_and_vanish_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        use std::io::{Seek, SeekFrom, Write};
        let mut f = ChunkFile::create(dir.path(), "a/c/0/1").unwrap();
        f.seek(SeekFrom::Start(4)).unwrap();
        f.write_all(b"tail").unwrap();
        assert!(!dir.path().join("a/c/0/1").exists());
        f.seek(SeekFrom::Start(0)).unwrap();
        f.write_all(b"head").unwrap();
        f.commit().unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("a/c/0/1")).unwrap(),
            b"headtail"
        );
        let mut g = ChunkFile::create(dir.path(), "a/c/0/2").unwrap();
        g.write_all(b"half").unwrap();
        drop(g);
        let only = dir.path().join("a/c/0/1").display().to_string();
        assert_eq!(walk(dir.path()), vec![only]);
    }

    fn walk(p: &Path) -> Vec<String> {
        let mut out = vec![];
        for e in std::fs::read_dir(p).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                out.extend(walk(&e.path()));
            } else {
                out.push(e.path().display().to_string());
            }
        }
        out
    }
}
