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
    let mode = match files.mode.as_deref() {
        Some(text) => FileMode::parse(text).map_err(|e| anyhow!("files.mode: {e}"))?,
        None => FileMode::OWNER_ONLY,
    };
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
