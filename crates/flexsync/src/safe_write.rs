//! Writing files where others may plant links: a temporary file created exclusively (`O_EXCL`,
//! and `O_NOFOLLOW`) under an unpredictable name in the destination folder, written and synced,
//! then renamed over the destination (a rename replaces a link, never follows it).

use std::collections::hash_map::RandomState;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `content` to `path` through an exclusive temporary file beside it.
pub fn write_atomically(path: &Path, content: &[u8]) -> io::Result<()> {
    write_atomically_with(path, |out| out.write_all(content))
}

/// [`write_atomically`], the content written by `write` as it is made (a large report is
/// never held whole in memory).
pub fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut io::BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (temp, file) = create_exclusive(dir, &name)?;
    let written = write_and_sync(file, write).and_then(|()| fs::rename(&temp, path));
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

/// Creates `<dir>/<name>.tmp-<random>` exclusively: never an existing file, never through a
/// link. Returns its path and the open file.
pub fn create_exclusive(dir: &Path, name: &str) -> io::Result<(PathBuf, File)> {
    let mut last = None;
    for _ in 0..16 {
        let path = dir.join(format!("{name}{}", temp_suffix()));
        match open_new(&path) {
            Ok(file) => return Ok((path, file)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => last = Some(error),
            Err(error) => return Err(error),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temporary name")))
}

/// `.tmp-` and 128 unpredictable bits in hex, for temporary names here and on SFTP servers.
pub fn temp_suffix() -> String {
    format!(".tmp-{:016x}{:016x}", random_u64(), random_u64())
}

/// Opens a new file for writing, readable by its owner only (what flexsync writes names
/// people): fails if the name exists (a planted file or link included).
pub fn open_new(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW).mode(0o600);
    }
    options.open(path)
}

/// Creates `dir` and its parents for their owner only (0700); an existing folder is kept as it
/// is.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn write_and_sync(
    file: File,
    write: impl FnOnce(&mut io::BufWriter<File>) -> io::Result<()>,
) -> io::Result<()> {
    let mut out = io::BufWriter::new(file);
    write(&mut out)?;
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()
}

/// 64 bits from a hasher keyed by the operating system's randomness (each `RandomState` is new
/// keys), over the process id, the time and a counter.
fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_replaces_the_file_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        fs::write(&path, "old").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn an_existing_name_or_a_planted_link_is_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        for path in [&victim, &link, &dangling] {
            assert!(open_new(path).is_err(), "{}", path.display());
        }
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert!(!dir.path().join("nowhere").exists());
    }

    #[test]
    fn temporary_names_are_unpredictable() {
        let names: std::collections::BTreeSet<String> = (0..1000).map(|_| temp_suffix()).collect();
        assert_eq!(names.len(), 1000);
        assert!(names.iter().all(|n| n.len() == ".tmp-".len() + 32));
    }

    /// A report written where another user planted links at the names a report's temporary
    /// file used to take (`run-000001.json.tmp`) and at the report's own name.
    #[cfg(unix)]
    #[test]
    fn a_report_is_never_written_through_a_planted_link() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        for name in ["run-000001.json.tmp", "run-000001.json"] {
            std::os::unix::fs::symlink(&victim, dir.path().join(name)).unwrap();
        }
        let report = crate::report::RunReport {
            run_id: Some(1),
            ..crate::report::RunReport::default()
        };
        let written = report.write_json(dir.path()).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert!(
            !fs::symlink_metadata(&written)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(
            fs::read_to_string(&written)
                .unwrap()
                .contains("\"run_id\": 1")
        );
    }
}
