//! Whether the file channel's destination can be reached, for `check`: the folder exists, or
//! the SFTP server answers on its port (the delivery itself checks the host key and login).

use std::time::Duration;

use super::Destination;

/// How long `check` waits for the SFTP server to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `None` when the destination can be reached, else what is wrong with the key to fix.
pub async fn reachable(destination: &Destination) -> Option<String> {
    match destination {
        Destination::Folder(path) if path.is_dir() => None,
        Destination::Folder(path) => Some(format!(
            "files.dir: the delivery folder {} does not exist (flexsync never creates it)",
            path.display()
        )),
        Destination::Sftp(target) => {
            for (key, path) in [
                ("private_key_file", &target.private_key),
                ("known_hosts_file", &target.known_hosts),
            ] {
                if !path.is_file() {
                    return Some(format!(
                        "files.sftp.{key}: {} does not exist",
                        path.display()
                    ));
                }
            }
            let address = (target.host.as_str(), target.port);
            match tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(address))
                .await
            {
                Ok(Ok(_)) => None,
                Ok(Err(error)) => Some(format!(
                    "files.sftp.host: cannot connect to {} port {}: {error}",
                    target.host, target.port
                )),
                Err(_) => Some(format!(
                    "files.sftp.host: {} port {} did not accept a connection within {}s",
                    target.host,
                    target.port,
                    CONNECT_TIMEOUT.as_secs()
                )),
            }
        }
    }
}
