//! `[files]`: where the CSV files go, their columns, and where the last delivery is kept.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};

use crate::file_writer::deliver::check_remote_dir;
use crate::file_writer::{Cells, Destination, FileMode, SftpTarget};

use super::FileChannel;
use super::paths::{beside, resolve};
use super::raw::{RawFiles, RawSftp};

pub(super) fn file_channel(
    raw: Option<RawFiles>,
    base: &Path,
    state_path: &Path,
    warnings: &mut Vec<String>,
) -> Result<Option<FileChannel>> {
    let Some(files) = raw else {
        return Ok(None);
    };
    let destination = destination(files.dir, files.sftp, base)?;
    files
        .columns
        .validate()
        .map_err(|e| anyhow!("files.columns: {e}"))?;
    let last_delivery_dir = match files.last_delivery_dir {
        Some(dir) => resolve(base, &dir),
        None => beside(state_path, "last-delivery"),
    };
    if let Destination::Folder(dir) = &destination
        && same_folder(dir, &last_delivery_dir)
    {
        bail!(
            "files.last_delivery_dir: {} is the delivery folder itself (files.dir); it holds \
             flexsync's own copy of the last delivery, to tell what changed: leave it out (the \
             default is last-delivery beside the state) or give another folder",
            last_delivery_dir.display()
        );
    }
    let mode = match &files.mode {
        Some(toml::Value::String(text)) => {
            FileMode::parse(text).map_err(|e| anyhow!("files.mode: {e}"))?
        }
        Some(_) => bail!("files.mode: write the mode in quotes, as octal text: mode = \"0640\""),
        None => FileMode::OWNER_ONLY,
    };
    if mode.bits() & 0o022 != 0 {
        warnings.push(format!(
            "files.mode {mode} lets other users change the delivered files: give write to the \
             owner only (e.g. \"0640\")"
        ));
    } else if mode.bits() & 0o004 != 0 {
        warnings.push(format!(
            "files.mode {mode} lets every user of this machine read the delivered files, names \
             and birth dates included: \"0640\" lets the owner's group alone read them"
        ));
    }
    Ok(Some(FileChannel {
        mode,
        destination,
        last_delivery_dir,
        columns: files.columns,
        cells: if files.raw_values == Some(true) {
            Cells::Raw
        } else {
            Cells::Neutralised
        },
    }))
}

fn destination(dir: Option<PathBuf>, sftp: Option<RawSftp>, base: &Path) -> Result<Destination> {
    Ok(match (dir, sftp) {
        (Some(dir), None) => Destination::Folder(resolve(base, &dir)),
        (None, Some(sftp)) => {
            check_remote_dir(&sftp.remote_dir)
                .map_err(|e| anyhow!("files.sftp.remote_dir: {e}"))?;
            Destination::Sftp(SftpTarget {
                host: sftp.host,
                port: sftp.port.unwrap_or(22),
                user: sftp.user,
                private_key: resolve(base, &sftp.private_key_file),
                known_hosts: resolve(base, &sftp.known_hosts_file),
                remote_dir: sftp.remote_dir,
            })
        }
        _ => bail!("files: give exactly one of `dir` or `[files.sftp]`"),
    })
}

/// Whether two configured folders are the same, by their real paths where they exist.
fn same_folder(a: &Path, b: &Path) -> bool {
    let real = |path: &Path| {
        std::fs::canonicalize(path).unwrap_or_else(|_| {
            let parts = path.components();
            parts
                .filter(|c| *c != std::path::Component::CurDir)
                .collect()
        })
    };
    real(a) == real(b)
}
