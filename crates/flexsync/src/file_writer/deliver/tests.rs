//! Delivery tests: a temporary local folder, and a real OpenSSH server on a loopback port.

use super::*;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::Child;

fn files(users: &str, groups: &str) -> Vec<(String, String)> {
    vec![
        ("wt_users.csv".to_string(), users.to_string()),
        ("wt_groups.csv".to_string(), groups.to_string()),
    ]
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn folder_delivery_writes_the_content_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let delivery = deliver(
        &files("ExternalId\n1;Å\n", "ExternalId\n"),
        &Destination::Folder(dir.path().into()),
    )
    .unwrap();
    assert_eq!(names_in(dir.path()), vec!["wt_groups.csv", "wt_users.csv"]);
    assert_eq!(
        fs::read_to_string(dir.path().join("wt_users.csv")).unwrap(),
        "ExternalId\n1;Å\n"
    );
    assert_eq!(delivery.files[0].bytes, "ExternalId\n1;Å\n".len());
    assert!(
        delivery
            .destination
            .contains(&dir.path().display().to_string())
    );
}

#[test]
fn folder_delivery_replaces_an_existing_file_by_rename_not_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wt_users.csv");
    fs::write(&path, "old content\n").unwrap();
    // A reader that opened the old file keeps reading the old file whole: the new one is a
    // different file renamed over the name, never the old one truncated and rewritten.
    let mut reader = fs::File::open(&path).unwrap();
    deliver(
        &files("new\n", "g\n"),
        &Destination::Folder(dir.path().into()),
    )
    .unwrap();
    let mut seen = String::new();
    reader.read_to_string(&mut seen).unwrap();
    assert_eq!(seen, "old content\n");
    assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
    assert_eq!(names_in(dir.path()), vec!["wt_groups.csv", "wt_users.csv"]);
}

#[test]
fn folder_delivery_to_a_missing_folder_fails_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("not-mounted");
    let error = deliver(&files("u\n", "g\n"), &Destination::Folder(missing.clone())).unwrap_err();
    assert!(
        matches!(error, FileError::MissingFolder(ref p) if *p == missing),
        "{error}"
    );
    assert!(!missing.exists());
}

#[test]
fn folder_delivery_failing_midway_removes_its_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    // The second file's final name is taken by a folder, so its rename fails.
    fs::create_dir(dir.path().join("wt_groups.csv")).unwrap();
    fs::write(dir.path().join("wt_groups.csv").join("x"), "x").unwrap();
    let error = deliver(
        &files("u\n", "g\n"),
        &Destination::Folder(dir.path().into()),
    )
    .unwrap_err();
    assert!(error.to_string().contains("wt_groups.csv"), "{error}");
    assert!(
        names_in(dir.path()).iter().all(|n| !n.contains(".tmp-")),
        "{:?}",
        names_in(dir.path())
    );
}

#[test]
fn file_names_that_could_escape_the_folder_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["../x.csv", "a/b.csv", "", "..", "-rf", "x\".csv", "*.csv"] {
        let error = deliver(
            &[(name.to_string(), "x".to_string())],
            &Destination::Folder(dir.path().into()),
        )
        .unwrap_err();
        assert!(
            matches!(error, FileError::BadName { .. }),
            "{name:?}: {error}"
        );
    }
    assert!(names_in(dir.path()).is_empty());
}

#[test]
fn the_change_report_compares_with_the_remembered_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let last = dir.path().join("last-delivery");
    let first = files("ExternalId;Name\n1;A\n2;B\n", "ExternalId\ng1\n");
    let changes = changes_since_last(&last, &first).unwrap();
    assert_eq!(changes["wt_users.csv"].added, vec!["1", "2"]);
    assert_eq!(changes["wt_groups.csv"].added, vec!["g1"]);
    remember_delivery(&last, &first).unwrap();
    assert_eq!(
        load_last_delivery(&last, "wt_users.csv")
            .unwrap()
            .as_deref(),
        Some("ExternalId;Name\n1;A\n2;B\n")
    );

    let second = files("ExternalId;Name\n1;A2\n3;C\n", "ExternalId\ng1\n");
    let changes = changes_since_last(&last, &second).unwrap();
    let users = &changes["wt_users.csv"];
    assert_eq!(
        (&users.added, &users.changed, &users.removed),
        (
            &vec!["3".to_string()],
            &vec!["1".to_string()],
            &vec!["2".to_string()]
        )
    );
    assert!(changes["wt_groups.csv"].is_empty());
}

// ---- SFTP against a real OpenSSH server ----

const SSHD: &str = "/usr/sbin/sshd";

/// Whether OpenSSH (server, sftp, ssh-keygen) is here. Missing it fails under
/// `FLEXSYNC_REQUIRE_INTEROP=1` (as `.ci/test` sets) and otherwise prints SKIPPED.
fn openssh_present(test: &str) -> bool {
    let on_path = |program: &str| {
        std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
            .unwrap_or(false)
    };
    let missing: Vec<&str> = [
        (SSHD, Path::new(SSHD).is_file()),
        ("sftp", on_path("sftp")),
        ("ssh", on_path("ssh")),
        ("ssh-keygen", on_path("ssh-keygen")),
    ]
    .into_iter()
    .filter(|(_, present)| !present)
    .map(|(name, _)| name)
    .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("FLEXSYNC_REQUIRE_INTEROP").as_deref() == Ok("1") {
        panic!("{test}: OpenSSH is missing ({missing:?}) and FLEXSYNC_REQUIRE_INTEROP=1");
    }
    eprintln!("SKIPPED {test}: OpenSSH is missing ({missing:?})");
    false
}

fn keygen(path: &Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "flexsync-test", "-f"])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "ssh-keygen failed for {}", path.display());
}

fn public_key(private: &Path) -> String {
    let text = fs::read_to_string(private.with_extension("pub")).unwrap();
    let mut parts = text.split_whitespace();
    format!("{} {}", parts.next().unwrap(), parts.next().unwrap())
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A real sshd on a loopback port with internal-sftp, killed on drop.
struct Server {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    client_key: PathBuf,
    /// A known_hosts file holding this server's host key.
    known_hosts: PathBuf,
    /// Where deliveries land (an absolute path on this machine).
    remote: PathBuf,
}

impl Server {
    fn start() -> Server {
        Server::start_with("internal-sftp")
    }

    /// A server whose sftp subsystem is `subsystem` (e.g. with some requests denied).
    fn start_with(subsystem: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let host_key = dir.path().join("host_key");
        let client_key = dir.path().join("client_key");
        keygen(&host_key);
        keygen(&client_key);
        let authorized = dir.path().join("authorized_keys");
        fs::write(&authorized, format!("{}\n", public_key(&client_key))).unwrap();
        let remote = dir.path().join("remote");
        fs::create_dir(&remote).unwrap();

        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.path().join("sshd_config");
        fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nAuthorizedKeysFile {auth}\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nStrictModes no\n\
                 UsePAM no\nPidFile {pid}\nSubsystem sftp {subsystem}\nLogLevel INFO\n",
                host = host_key.display(),
                auth = authorized.display(),
                pid = dir.path().join("sshd.pid").display(),
            ),
        )
        .unwrap();
        // sshd's privilege-separation folder; only root can (and needs to) create it.
        let _ = fs::create_dir_all("/run/sshd");
        let mut child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Ready once it logs that it listens; its log is drained afterwards so it never blocks.
        let mut log = BufReader::new(child.stderr.take().unwrap());
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            if log.read_line(&mut line).unwrap() == 0 {
                let _ = child.kill();
                panic!("sshd exited before listening:\n{seen}");
            }
            seen.push_str(&line);
            if line.contains("Server listening on 127.0.0.1") {
                break;
            }
        }
        std::thread::spawn(move || std::io::copy(&mut log, &mut std::io::sink()));

        let known_hosts = dir.path().join("known_hosts");
        fs::write(
            &known_hosts,
            format!("[127.0.0.1]:{port} {}\n", public_key(&host_key)),
        )
        .unwrap();
        Server {
            child,
            port,
            dir,
            client_key,
            known_hosts,
            remote,
        }
    }

    fn target(&self) -> SftpTarget {
        SftpTarget {
            host: "127.0.0.1".into(),
            port: self.port,
            user: current_user(),
            private_key: self.client_key.clone(),
            known_hosts: self.known_hosts.clone(),
            remote_dir: self.remote.display().to_string(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sftp_delivery_uploads_whole_files_and_replaces_older_ones() {
    if !openssh_present("sftp_delivery_uploads_whole_files_and_replaces_older_ones") {
        return;
    }
    let server = Server::start();
    let target = server.target();
    let first = files("ExternalId;Name\n1;Åsa \"Ö\"\n", "ExternalId\ng1\n");
    let delivery = deliver(&first, &Destination::Sftp(target.clone())).unwrap();
    assert_eq!(
        names_in(&server.remote),
        vec!["wt_groups.csv", "wt_users.csv"]
    );
    assert_eq!(
        fs::read_to_string(server.remote.join("wt_users.csv")).unwrap(),
        first[0].1
    );
    assert!(
        delivery.destination.starts_with("sftp://"),
        "{}",
        delivery.destination
    );
    assert_eq!(delivery.files[1].bytes, first[1].1.len());

    // The second delivery renames over existing files: this needs posix-rename, as a plain
    // SFTP rename refuses an existing target.
    let mut reader = fs::File::open(server.remote.join("wt_users.csv")).unwrap();
    let second = files("ExternalId;Name\n2;Bo\n", "ExternalId\ng2\n");
    deliver(&second, &Destination::Sftp(target)).unwrap();
    assert_eq!(
        names_in(&server.remote),
        vec!["wt_groups.csv", "wt_users.csv"]
    );
    assert_eq!(
        fs::read_to_string(server.remote.join("wt_users.csv")).unwrap(),
        second[0].1
    );
    assert_eq!(
        fs::read_to_string(server.remote.join("wt_groups.csv")).unwrap(),
        second[1].1
    );
    let mut old = String::new();
    reader.read_to_string(&mut old).unwrap();
    assert_eq!(old, first[0].1, "the old file was rewritten in place");
}

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn delivered_files_are_owner_only_unless_a_mode_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    deliver(
        &files("u\n", "g\n"),
        &Destination::Folder(dir.path().into()),
    )
    .unwrap();
    assert_eq!(mode_of(&dir.path().join("wt_users.csv")), 0o600);
    let mode = FileMode::parse("0640").unwrap();
    deliver_with_mode(
        &files("u2\n", "g2\n"),
        &Destination::Folder(dir.path().into()),
        mode,
    )
    .unwrap();
    assert_eq!(mode_of(&dir.path().join("wt_users.csv")), 0o640);
    assert_eq!(mode_of(&dir.path().join("wt_groups.csv")), 0o640);
    assert_eq!(names_in(dir.path()), vec!["wt_groups.csv", "wt_users.csv"]);
}

#[test]
fn a_file_mode_must_be_octal_owner_writable_and_never_executable() {
    assert_eq!(FileMode::parse("640").unwrap().to_string(), "0640");
    assert_eq!(FileMode::parse(" 0666 ").unwrap().bits(), 0o666);
    for (bad, says) in [
        ("0755", "more than read and write"),
        ("4600", "more than read and write"),
        ("0440", "owner read and write"),
        ("rw-r-----", "not an octal file mode"),
        ("0688", "not an octal file mode"),
        ("", "not an octal file mode"),
        ("00600", "not an octal file mode"),
    ] {
        let error = FileMode::parse(bad).unwrap_err();
        assert!(error.contains(says), "{bad:?}: {error}");
    }
}

#[test]
fn sftp_delivery_sets_a_configured_mode_on_the_server() {
    if !openssh_present("sftp_delivery_sets_a_configured_mode_on_the_server") {
        return;
    }
    let server = Server::start();
    deliver(&files("u\n", "g\n"), &Destination::Sftp(server.target())).unwrap();
    assert_eq!(mode_of(&server.remote.join("wt_users.csv")) & 0o077, 0);
    let mode = FileMode::parse("0644").unwrap();
    deliver_with_mode(
        &files("u\n", "g\n"),
        &Destination::Sftp(server.target()),
        mode,
    )
    .unwrap();
    assert_eq!(mode_of(&server.remote.join("wt_users.csv")), 0o644);
    assert_eq!(mode_of(&server.remote.join("wt_groups.csv")), 0o644);
    assert_eq!(
        names_in(&server.remote),
        vec!["wt_groups.csv", "wt_users.csv"]
    );
}

#[test]
fn sftp_delivery_works_with_a_key_whose_path_has_a_space() {
    if !openssh_present("sftp_delivery_works_with_a_key_whose_path_has_a_space") {
        return;
    }
    let server = Server::start();
    let folder = server.dir.path().join("My Keys");
    fs::create_dir_all(&folder).unwrap();
    let key = folder.join("id key");
    fs::copy(&server.client_key, &key).unwrap();
    let mut target = server.target();
    target.private_key = key;
    deliver(&files("u\n", "g\n"), &Destination::Sftp(target)).unwrap();
    assert_eq!(
        names_in(&server.remote),
        vec!["wt_groups.csv", "wt_users.csv"]
    );
}

#[test]
fn sftp_delivery_replaces_files_on_a_server_without_posix_rename() {
    if !openssh_present("sftp_delivery_replaces_files_on_a_server_without_posix_rename") {
        return;
    }
    // Plain SFTP rename refuses an existing target; this server offers nothing better.
    let server = Server::start_with("internal-sftp -P posix-rename");
    let target = server.target();
    let first = files("ExternalId\n1\n", "ExternalId\ng1\n");
    deliver(&first, &Destination::Sftp(target.clone())).unwrap();
    let second = files("ExternalId\n2\n", "ExternalId\ng2\n");
    deliver(&second, &Destination::Sftp(target)).unwrap();
    assert_eq!(
        names_in(&server.remote),
        vec!["wt_groups.csv", "wt_users.csv"]
    );
    assert_eq!(
        fs::read_to_string(server.remote.join("wt_users.csv")).unwrap(),
        second[0].1
    );
}

#[test]
fn sftp_delivery_refuses_an_unknown_host_key() {
    if !openssh_present("sftp_delivery_refuses_an_unknown_host_key") {
        return;
    }
    let server = Server::start();
    // A known_hosts naming this host with some other key, and one that does not know it.
    let other = server.dir.path().join("other_host_key");
    keygen(&other);
    let wrong = server.dir.path().join("known_hosts_wrong");
    fs::write(
        &wrong,
        format!("[127.0.0.1]:{} {}\n", server.port, public_key(&other)),
    )
    .unwrap();
    let empty = server.dir.path().join("known_hosts_empty");
    fs::write(&empty, "").unwrap();
    for known_hosts in [wrong, empty] {
        let mut target = server.target();
        target.known_hosts = known_hosts.clone();
        let error = deliver(&files("u\n", "g\n"), &Destination::Sftp(target)).unwrap_err();
        match &error {
            FileError::HostKeyRejected { host, port, .. } => {
                assert_eq!((host.as_str(), *port), ("127.0.0.1", server.port));
            }
            other => panic!(
                "{}: expected a host key refusal, got {other}",
                known_hosts.display()
            ),
        }
        assert!(error.to_string().contains("127.0.0.1"), "{error}");
        // The known_hosts file was not extended behind our back.
        let _ = fs::read_to_string(&known_hosts).unwrap();
    }
    assert!(names_in(&server.remote).is_empty());
    assert_eq!(
        fs::read_to_string(server.dir.path().join("known_hosts_empty")).unwrap(),
        ""
    );
}

#[test]
fn sftp_delivery_with_a_key_the_server_does_not_accept_fails_with_its_message() {
    if !openssh_present(
        "sftp_delivery_with_a_key_the_server_does_not_accept_fails_with_its_message",
    ) {
        return;
    }
    let server = Server::start();
    let stranger = server.dir.path().join("stranger_key");
    keygen(&stranger);
    let mut target = server.target();
    target.private_key = stranger;
    let error = deliver(&files("u\n", "g\n"), &Destination::Sftp(target)).unwrap_err();
    match &error {
        FileError::Sftp { stderr, .. } => assert!(stderr.contains("Permission denied"), "{stderr}"),
        other => panic!("expected an sftp failure, got {other}"),
    }
    assert!(names_in(&server.remote).is_empty());
}

#[test]
fn sftp_delivery_to_a_missing_remote_folder_fails_and_leaves_nothing() {
    if !openssh_present("sftp_delivery_to_a_missing_remote_folder_fails_and_leaves_nothing") {
        return;
    }
    let server = Server::start();
    let mut target = server.target();
    target.remote_dir = server.remote.join("absent").display().to_string();
    let error = deliver(&files("u\n", "g\n"), &Destination::Sftp(target)).unwrap_err();
    assert!(matches!(error, FileError::Sftp { .. }), "{error}");
    assert!(error.to_string().contains("absent"), "{error}");
    assert!(names_in(&server.remote).is_empty());
}

#[test]
fn sftp_delivery_failing_after_an_upload_removes_the_temporary_file() {
    if !openssh_present("sftp_delivery_failing_after_an_upload_removes_the_temporary_file") {
        return;
    }
    let server = Server::start();
    // The groups file's final name is a non-empty folder: its upload works, its rename fails.
    fs::create_dir(server.remote.join("wt_groups.csv")).unwrap();
    fs::write(server.remote.join("wt_groups.csv").join("keep"), "x").unwrap();
    let error = deliver(&files("u\n", "g\n"), &Destination::Sftp(server.target())).unwrap_err();
    assert!(matches!(error, FileError::Sftp { .. }), "{error}");
    let left = names_in(&server.remote);
    assert!(left.iter().all(|n| !n.contains(".tmp-")), "{left:?}");
}

/// Another user planted links at every temporary name a delivery from this process used to take
/// (`<name>.tmp-<pid>`, `<name>.tmp-<pid>-<n>`), pointing at a file they may not write.
#[cfg(unix)]
#[test]
fn folder_delivery_never_writes_through_a_planted_link() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    fs::write(&victim, "precious").unwrap();
    let pid = std::process::id();
    for name in ["wt_users.csv", "wt_groups.csv"] {
        let mut planted = vec![format!("{name}.tmp-{pid}")];
        planted.extend((1..300).map(|n| format!("{name}.tmp-{pid}-{n}")));
        for link in planted {
            std::os::unix::fs::symlink(&victim, dir.path().join(link)).unwrap();
        }
    }
    deliver(
        &files("ExternalId\n1\n", "ExternalId\n"),
        &Destination::Folder(dir.path().into()),
    )
    .unwrap();
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    assert_eq!(
        fs::read_to_string(dir.path().join("wt_users.csv")).unwrap(),
        "ExternalId\n1\n"
    );
}
