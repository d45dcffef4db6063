//! The file-integration channel: the desired state as `wt_users.csv` and `wt_groups.csv`,
//! delivered whole to a local folder or an SFTP server, and what changed since the last delivery.
//!
//! - [`csv`]: pure rendering (column names, quoting) and the change report.
//! - [`deliver`]: writing the files under a temporary name and renaming them, locally or over
//!   SFTP with the system OpenSSH client; blocking, so async callers use `spawn_blocking`.
//! - [`named`]: what a delivery does to each person, named, for the report and `history`.
//! - [`reach`]: whether the destination can be reached, for `check`.

pub mod csv;
pub mod deliver;
pub mod named;
pub mod reach;

use std::fmt;
use std::path::PathBuf;

pub use csv::{
    CarriedRows, Cells, FileColumns, FileDiff, FilePauses, GROUPS_FILE, GroupColumns, USERS_FILE,
    UserColumns, diff_delivery, file_pauses, render_files, render_groups, render_users,
};
pub use deliver::{
    DeliveredFile, Delivery, Destination, FileMode, SftpTarget, changes_since_last, deliver,
    deliver_with_mode, load_last_delivery, remember_delivery,
};
pub use named::named_file_changes;
pub use reach::reachable;

/// What one delivery of the files came to, for the report: where they went, or why not.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryOutcome {
    /// The destination as people read it (a folder, or `sftp://user@host/folder`).
    pub destination: Option<String>,
    /// None when the files were delivered.
    pub error: Option<String>,
}

/// Why rendering settings were refused or a delivery failed. Nothing here carries a secret:
/// paths and the server's own messages only.
#[derive(Debug)]
pub enum FileError {
    /// The configured column names cannot make a readable file.
    Columns(String),
    /// A file name or remote folder we refuse to use (path separators, quotes, control
    /// characters).
    BadName { name: String, reason: &'static str },
    /// The destination folder does not exist (we never create a customer's folder).
    MissingFolder(PathBuf),
    /// A local file operation failed; `action` says which and on what path.
    Io {
        action: String,
        source: std::io::Error,
    },
    /// The SFTP server's host key is unknown or differs from the known_hosts file.
    HostKeyRejected {
        host: String,
        port: u16,
        stderr: String,
    },
    /// The `sftp` client failed (connection, login, or a command); its stderr is kept.
    Sftp {
        host: String,
        port: u16,
        status: Option<i32>,
        stderr: String,
    },
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::Columns(message) => write!(f, "file columns: {message}"),
            FileError::BadName { name, reason } => write!(f, "{name:?}: {reason}"),
            FileError::MissingFolder(path) => {
                write!(f, "the delivery folder {} does not exist", path.display())
            }
            FileError::Io { action, source } => write!(f, "{action}: {source}"),
            FileError::HostKeyRejected { host, port, stderr } => write!(
                f,
                "the host key of the SFTP server {host} port {port} is not in the known_hosts \
                 file or does not match it: {stderr}"
            ),
            FileError::Sftp {
                host,
                port,
                status,
                stderr,
            } => {
                let status = status.map_or("a signal".to_string(), |s| format!("status {s}"));
                write!(
                    f,
                    "SFTP delivery to {host} port {port} failed ({status}): {stderr}"
                )
            }
        }
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FileError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
