//! Delivering rendered files whole: to a local folder or to an SFTP server through the system
//! OpenSSH `sftp` client, always under a temporary name first and then renamed, so a reader
//! never sees half a file. Also keeps the last delivered copy for the change report.
//!
//! Everything here blocks (files, a child process): async callers wrap it in
//! `tokio::task::spawn_blocking`.

use crate::safe_write::{create_exclusive, open_new, temp_suffix};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::FileError;
use super::csv::{FileDiff, diff_delivery};

/// Where the files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A local (or mounted) folder that must already exist.
    Folder(PathBuf),
    Sftp(SftpTarget),
}

/// An SFTP server reached with key login only and a checked host key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SftpTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// The private key file (mode 0600; OpenSSH refuses keys others can read).
    pub private_key: PathBuf,
    /// The known_hosts file holding the server's host key (for a port other than 22 the entry
    /// reads `[host]:port key`). An unknown or different host key fails the delivery.
    pub known_hosts: PathBuf,
    /// The folder on the server; empty means the login folder.
    pub remote_dir: String,
}

/// What was delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Where to, for the report (`folder /path` or `sftp://user@host:port/dir`).
    pub destination: String,
    pub files: Vec<DeliveredFile>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveredFile {
    pub name: String,
    pub bytes: usize,
}

/// The permission bits delivered files get (`[files] mode`): readable and writable by their
/// owner always, by group and others at most readable and writable, never executable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMode(u32);

impl FileMode {
    /// 0600, the default: the files name people.
    pub const OWNER_ONLY: FileMode = FileMode(0o600);

    /// Reads an octal mode such as `"0640"` or `"640"`.
    pub fn parse(text: &str) -> Result<FileMode, String> {
        let digits = text.trim();
        let bits = (!digits.is_empty() && digits.len() <= 4)
            .then(|| u32::from_str_radix(digits, 8).ok())
            .flatten()
            .ok_or_else(|| format!("{text:?} is not an octal file mode such as \"0640\""))?;
        if bits & !0o666 != 0 {
            return Err(format!(
                "{text:?} gives more than read and write (execute or special bits)"
            ));
        }
        if bits & 0o600 != 0o600 {
            return Err(format!(
                "{text:?} must let the owner read and write (flexsync replaces the files)"
            ));
        }
        Ok(FileMode(bits))
    }

    pub fn bits(self) -> u32 {
        self.0
    }
}

impl std::fmt::Display for FileMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

/// [`deliver_with_mode`] readable by the owner only.
pub fn deliver(
    files: &[(String, String)],
    destination: &Destination,
) -> Result<Delivery, FileError> {
    deliver_with_mode(files, destination, FileMode::OWNER_ONLY)
}

/// Delivers every file, `(name, content)`, whole, with `mode`. All files are first written
/// under `name.tmp-<random>` and then each is renamed over its final name (replacing an older
/// one atomically), so a reader sees either the old or the new file, never a part of one.
/// Blocking; see the module documentation.
pub fn deliver_with_mode(
    files: &[(String, String)],
    destination: &Destination,
    mode: FileMode,
) -> Result<Delivery, FileError> {
    for (name, _) in files {
        check_file_name(name)?;
    }
    let destination_text = match destination {
        Destination::Folder(dir) => {
            to_folder(files, dir, mode)?;
            format!("folder {}", dir.display())
        }
        Destination::Sftp(target) => {
            to_sftp(files, target, mode)?;
            format!(
                "sftp://{}@{}:{}/{}",
                target.user,
                target.host,
                target.port,
                target.remote_dir.trim_start_matches('/')
            )
        }
    };
    Ok(Delivery {
        destination: destination_text,
        files: files
            .iter()
            .map(|(name, content)| DeliveredFile {
                name: name.clone(),
                bytes: content.len(),
            })
            .collect(),
    })
}

/// The content of `name` as last delivered (kept in `last_dir`, e.g. `last-delivery/` beside
/// the state), or `None` before the first delivery.
pub fn load_last_delivery(last_dir: &Path, name: &str) -> Result<Option<String>, FileError> {
    check_file_name(name)?;
    let path = last_dir.join(name);
    match fs::read_to_string(&path) {
        Ok(content) => Ok(Some(content)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(io_error(format!("reading {}", path.display()), source)),
    }
}

/// What changed in each file since the copy kept in `last_dir`, by file name.
pub fn changes_since_last(
    last_dir: &Path,
    files: &[(String, String)],
) -> Result<BTreeMap<String, FileDiff>, FileError> {
    let mut changes = BTreeMap::new();
    for (name, content) in files {
        let previous = load_last_delivery(last_dir, name)?;
        changes.insert(name.clone(), diff_delivery(previous.as_deref(), content));
    }
    Ok(changes)
}

/// Keeps a copy of what was just delivered in `last_dir` (created if missing). Call it only
/// after [`deliver`] succeeded, so a failed delivery is reported again next time.
pub fn remember_delivery(last_dir: &Path, files: &[(String, String)]) -> Result<(), FileError> {
    crate::safe_write::private_dir(last_dir)
        .map_err(|source| io_error(format!("creating {}", last_dir.display()), source))?;
    deliver(files, &Destination::Folder(last_dir.to_path_buf())).map(|_| ())
}

fn to_folder(files: &[(String, String)], dir: &Path, mode: FileMode) -> Result<(), FileError> {
    if !dir.is_dir() {
        return Err(FileError::MissingFolder(dir.to_path_buf()));
    }
    let mut temps: Vec<(PathBuf, PathBuf)> = Vec::new();
    let result = write_then_rename(files, dir, mode, &mut temps);
    if result.is_err() {
        for (temp, _) in &temps {
            let _ = fs::remove_file(temp);
        }
    }
    result?;
    // Make the renames durable; a failure here is reported, the files are already in place.
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| io_error(format!("syncing {}", dir.display()), source))
}

/// Writes every file under an exclusive, unpredictable temporary name in `dir` (kept in `temps`
/// for the clean-up), then renames them all into place.
fn write_then_rename(
    files: &[(String, String)],
    dir: &Path,
    mode: FileMode,
    temps: &mut Vec<(PathBuf, PathBuf)>,
) -> Result<(), FileError> {
    use std::os::unix::fs::PermissionsExt;
    for (name, content) in files {
        let (temp, file) = create_exclusive(dir, name).map_err(|source| {
            io_error(
                format!("creating a temporary {name} in {}", dir.display()),
                source,
            )
        })?;
        temps.push((temp.clone(), dir.join(name)));
        // On the open file, so the mode lands on the file created, whatever the umask.
        file.set_permissions(fs::Permissions::from_mode(mode.bits()))
            .map_err(|source| {
                io_error(format!("setting the mode of {}", temp.display()), source)
            })?;
        write_all(file, &temp, content)?;
    }
    for (temp, path) in temps.iter() {
        fs::rename(temp, path).map_err(|source| {
            io_error(
                format!("renaming {} to {}", temp.display(), path.display()),
                source,
            )
        })?;
    }
    Ok(())
}

fn write_file(path: &Path, content: &str) -> Result<(), FileError> {
    let file =
        open_new(path).map_err(|source| io_error(format!("writing {}", path.display()), source))?;
    write_all(file, path, content)
}

fn write_all(mut file: fs::File, path: &Path, content: &str) -> Result<(), FileError> {
    file.write_all(content.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|source| io_error(format!("writing {}", path.display()), source))
}

fn to_sftp(
    files: &[(String, String)],
    target: &SftpTarget,
    mode: FileMode,
) -> Result<(), FileError> {
    check_remote_dir(&target.remote_dir)?;
    let staging = Staging::create()?;
    for (name, content) in files {
        write_file(&staging.path.join(name), content)?;
    }
    let suffix = temp_suffix();
    let remote = |name: &str| quote(&remote_path(&target.remote_dir, name));
    let mut batch = String::new();
    for (name, _) in files {
        let temp = remote(&format!("{name}{suffix}"));
        batch.push_str(&format!("put {} {temp}\n", quote(name)));
        // The upload carries the staged file's 0600; another mode is set on the server, and
        // only when asked for, as some servers refuse to change modes.
        if mode != FileMode::OWNER_ONLY {
            batch.push_str(&format!("chmod {:o} {temp}\n", mode.bits()));
        }
    }
    for (name, _) in files {
        let temp = remote(&format!("{name}{suffix}"));
        // OpenSSH's sftp renames with the posix-rename extension when the server offers it,
        // which replaces an existing file atomically (a plain SFTP rename would refuse).
        batch.push_str(&format!("rename {temp} {}\n", remote(name)));
    }
    let mut outcome = run_sftp(target, &staging.path, &batch)?;
    if outcome.success {
        return Ok(());
    }
    // A server without the posix-rename extension refuses to rename over an existing file.
    // The batch stopped at the first such rename; the files before it are in place. For that
    // one and the rest: remove the old file, then rename (a reader may briefly find no file,
    // never half a file).
    let stuck = files.iter().position(|(name, _)| {
        let temp = remote_path(&target.remote_dir, &format!("{name}{suffix}"));
        outcome.connected && outcome.stderr.contains(&format!("rename \"{temp}\""))
    });
    if let Some(first) = stuck {
        let replace: String = files[first..]
            .iter()
            .map(|(name, _)| {
                let temp = remote(&format!("{name}{suffix}"));
                format!("-rm {}\nrename {temp} {}\n", remote(name), remote(name))
            })
            .collect();
        outcome = run_sftp(target, &staging.path, &replace)?;
        if outcome.success {
            return Ok(());
        }
    }
    let host_key = outcome.stderr.contains("Host key verification failed");
    if !host_key && outcome.connected {
        // Best effort: take away temporary files an aborted batch may have left.
        let cleanup: String = files
            .iter()
            .map(|(name, _)| format!("-rm {}\n", remote(&format!("{name}{suffix}"))))
            .collect();
        let _ = run_sftp(target, &staging.path, &cleanup);
    }
    if host_key {
        Err(FileError::HostKeyRejected {
            host: target.host.clone(),
            port: target.port,
            stderr: outcome.stderr,
        })
    } else {
        Err(FileError::Sftp {
            host: target.host.clone(),
            port: target.port,
            status: outcome.status,
            stderr: outcome.stderr,
        })
    }
}

struct SftpOutcome {
    success: bool,
    status: Option<i32>,
    /// The session reached the `sftp>` prompt (login worked).
    connected: bool,
    stderr: String,
}

/// The environment variables the `sftp` child keeps; all others are dropped.
const SFTP_ENVIRONMENT: [&str; 9] = [
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TMPDIR",
    "SSH_AUTH_SOCK",
];

/// Runs `sftp` in batch mode with the commands on stdin, from `local_dir` (where `put` finds
/// its files). No user or system ssh configuration is read; only key login is tried.
fn run_sftp(target: &SftpTarget, local_dir: &Path, batch: &str) -> Result<SftpOutcome, FileError> {
    let known_hosts = ssh_option_path(&target.known_hosts)?;
    // `-i` is an argument of its own: no quotes (they would become part of the name).
    let key = ssh_option_path(&target.private_key)?
        .trim_matches('"')
        .to_string();
    let mut child = Command::new("sftp")
        // Only what ssh needs: never the secrets the configuration reads from the environment.
        .env_clear()
        .envs(std::env::vars_os().filter(|(name, _)| {
            name.to_str()
                .is_some_and(|name| SFTP_ENVIRONMENT.contains(&name))
        }))
        .current_dir(local_dir)
        .args(["-b", "-", "-F", "none", "-i", &key, "-P"])
        .arg(target.port.to_string())
        .args(["-o", "BatchMode=yes"])
        .args(["-o", "StrictHostKeyChecking=yes"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={known_hosts}"))
        .args(["-o", "GlobalKnownHostsFile=none"])
        .args(["-o", "UpdateHostKeys=no"])
        .args(["-o", "IdentitiesOnly=yes"])
        .args(["-o", "PubkeyAuthentication=yes"])
        .args(["-o", "PasswordAuthentication=no"])
        .args(["-o", "KbdInteractiveAuthentication=no"])
        .args(["-o", "ConnectTimeout=30"])
        .args(["-o", "ServerAliveInterval=15"])
        .args(["-o", "ServerAliveCountMax=4"])
        .arg(format!("{}@{}", target.user, target.host))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| io_error("starting the OpenSSH sftp client".into(), source))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A write error means sftp exited early; its status and stderr say why.
        let _ = stdin.write_all(batch.as_bytes());
    }
    let output = child
        .wait_with_output()
        .map_err(|source| io_error("waiting for the sftp client".into(), source))?;
    Ok(SftpOutcome {
        success: output.status.success(),
        status: output.status.code(),
        connected: String::from_utf8_lossy(&output.stdout).contains("sftp>"),
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
    })
}

/// A private local folder holding the files for `put`, removed when dropped.
struct Staging {
    path: PathBuf,
}

impl Staging {
    fn create() -> Result<Staging, FileError> {
        let base = std::env::temp_dir();
        let mut last_error = None;
        for _ in 0..100 {
            let path = base.join(format!("flexsync-sftp{}", temp_suffix()));
            let mut builder = fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            match builder.create(&path) {
                Ok(()) => return Ok(Staging { path }),
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                    last_error = Some(error);
                }
                Err(source) => {
                    return Err(io_error(format!("creating {}", path.display()), source));
                }
            }
        }
        Err(io_error(
            format!("creating a staging folder in {}", base.display()),
            last_error.unwrap_or_else(|| std::io::Error::other("no free name")),
        ))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

fn remote_path(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{}/{name}", dir.trim_end_matches('/'))
    }
}

/// Double-quotes an argument for an sftp batch line (names are checked to hold no quote,
/// backslash or glob character).
fn quote(text: &str) -> String {
    format!("\"{text}\"")
}

/// A path as an `ssh -o`/`-i` value: `%` doubled (ssh expands `%` tokens), quoted when it
/// holds spaces.
fn ssh_option_path(path: &Path) -> Result<String, FileError> {
    let text = path.to_str().ok_or_else(|| FileError::BadName {
        name: path.display().to_string(),
        reason: "the path is not UTF-8",
    })?;
    if text.contains('"') || text.chars().any(char::is_control) {
        return Err(FileError::BadName {
            name: text.to_string(),
            reason: "ssh cannot take a path with a double quote or a control character",
        });
    }
    let text = text.replace('%', "%%");
    Ok(if text.contains(char::is_whitespace) {
        format!("\"{text}\"")
    } else {
        text
    })
}

const UNSAFE: &[char] = &['"', '\'', '\\', '*', '?', '[', ']'];

fn check_file_name(name: &str) -> Result<(), FileError> {
    let reason = if name.is_empty() || name == "." || name == ".." {
        Some("not a file name")
    } else if name.contains('/') {
        Some("a file name cannot hold '/'")
    } else if name.starts_with('-') {
        Some("a file name cannot start with '-'")
    } else if name.contains(UNSAFE) || name.chars().any(char::is_control) {
        Some("a file name cannot hold quotes, '\\', '*', '?', '[', ']' or control characters")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(FileError::BadName {
            name: name.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

pub fn check_remote_dir(dir: &str) -> Result<(), FileError> {
    if dir.starts_with('-') || dir.contains(UNSAFE) || dir.chars().any(char::is_control) {
        return Err(FileError::BadName {
            name: dir.to_string(),
            reason: "the remote folder cannot start with '-' or hold quotes, '\\', '*', '?', \
                     '[', ']' or control characters",
        });
    }
    if dir.split('/').any(|part| part == "..") {
        return Err(FileError::BadName {
            name: dir.to_string(),
            reason: "the remote folder cannot climb out with '..'",
        });
    }
    Ok(())
}

fn io_error(action: String, source: std::io::Error) -> FileError {
    FileError::Io { action, source }
}

#[cfg(test)]
mod tests;
