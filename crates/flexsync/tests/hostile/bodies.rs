//! Oversized and endless bodies: the read fails once the configured cap is passed (exit 4),
//! quickly and without holding more than the cap; nothing is written.

use std::time::{Duration, Instant};

use flexsync_testkit::hostile::Attack;

use super::*;

/// A JSON array that never closes: `[{"Id":"x"},{"Id":"x"},...`
fn array_of(total: Option<u64>) -> Attack {
    Attack::Stream {
        chunk: br#"{"Id":"00000000-0000-0000-0000-000000000000","Name":"padding"},"#.repeat(1000),
        total,
    }
}

/// The run fails at the cap, quickly, having held little more than the cap in memory.
async fn assert_capped(rig: &HostileRig, limit_mb: u64) {
    let started = Instant::now();
    let (ran, rss_kb) = rig.sync_measured().await;
    let took = started.elapsed();
    let printed = ran.printed();
    eprintln!("cap {limit_mb} MB: {took:?}, max RSS {rss_kb:?} kB");
    if let Some(kb) = rss_kb {
        assert!(kb < (limit_mb * 3 + 100) * 1024, "held {kb} kB: {printed}");
    }
    assert_eq!(ran.code, 4, "{printed}");
    assert!(
        printed.contains(&format!("larger than {limit_mb} MB")),
        "{printed}"
    );
    assert!(took < Duration::from_secs(8), "took {took:?}: {printed}");
    assert_eq!(rig.write_requests(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_flex_body_fails_the_read_at_the_cap() {
    let rig = HostileRig::start("").await;
    rig.edit_config(
        "[winningtemp]",
        "max_response_mb = 2\ntimeout_seconds = 6\n\n[winningtemp]",
    );
    rig.flex_proxy.attack(rule(None, "/", array_of(None)));
    assert_capped(&rig, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_scim_list_fails_the_read_at_the_cap() {
    let rig = HostileRig::start("").await;
    rig.edit_config(
        "[state]",
        "max_response_mb = 1\ntimeout_seconds = 6\n\n[state]",
    );
    rig.scim_proxy.attack(rule(
        Some("GET"),
        "/api/scim/Users",
        array_of(Some(8 * 1024 * 1024)),
    ));
    assert_capped(&rig, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_body_stops_at_the_default_cap_of_64_mb() {
    let rig = HostileRig::start("").await;
    rig.edit_config("[winningtemp]", "timeout_seconds = 6\n\n[winningtemp]");
    rig.flex_proxy.attack(rule(None, "/", array_of(None)));
    assert_capped(&rig, 64).await;
}

/// The largest page the default cap lets through, valid JSON with a million records, a page
/// that comes again (a server ignoring paging): read once, parsed once. 3.4 GB and 20 s before
/// pages were moved rather than copied and compared by fingerprint; about 1 GB and 6 s after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_page_just_under_the_cap_is_read_in_bounded_memory() {
    let rig = HostileRig::start("").await;
    let item = r#"{"Id":"00000000-0000-0000-0000-000000000000","Name":"padding"},"#;
    let count = 63 * 1024 * 1024 / item.len();
    let body = format!("[{}{{}}]", item.repeat(count));
    rig.flex_proxy.attack(rule(None, "/", respond(200, &body)));
    let started = Instant::now();
    let (ran, rss_kb) = rig.sync_measured().await;
    let printed = ran.printed();
    eprintln!(
        "a valid 63 MB page: {:?}, max RSS {rss_kb:?} kB",
        started.elapsed()
    );
    assert_eq!(ran.code, 4, "{printed}");
    assert!(
        printed.contains("is not among the companies Flex lists"),
        "{printed}"
    );
    if let Some(kb) = rss_kb {
        assert!(kb < 1536 * 1024, "held {kb} kB");
    }
}
