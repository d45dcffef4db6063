//! A tenant's schedule under a lease: the daemon runs the tenant only while it holds the tenant's
//! lease in the shared database, renewing it as it waits and runs; each slot is claimed there
//! before it runs and marked when it ends, so a slot runs once, and a slot its holder did not
//! finish (killed, or cut off) is run by the next holder.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{Semaphore, watch};

use flexsync_state::{Claim, Lease, LeaseBoard};

use crate::config::Config;
use crate::schedule::next_run;

use super::{Shared, lock, scheduled_sync, stopped};

/// Who this daemon is in the leases: host, process and start.
pub fn holder_name() -> String {
    format!(
        "{} pid {} since {}",
        crate::run::host_name(),
        std::process::id(),
        Timestamp::now()
    )
}

/// One tenant of a daemon that shares tenants.
pub struct Leased {
    pub tenant: String,
    pub me: String,
    pub board: Arc<LeaseBoard>,
    pub ttl: Duration,
}

/// How holding a lease ended.
enum Ended {
    Stopped,
    Lost,
}

impl Leased {
    /// Takes the tenant's lease whenever it is free, runs its slots while held, until stopped.
    pub async fn run(
        self,
        config: Arc<Config>,
        state: Shared,
        mut stop_rx: watch::Receiver<bool>,
        gate: Arc<Semaphore>,
    ) {
        loop {
            let Some(lease) = self.wait_for_lease(&mut stop_rx).await else {
                return;
            };
            tracing::info!(generation = lease.generation, "holding the tenant's lease");
            match self
                .hold(&lease, &config, &state, &mut stop_rx, &gate)
                .await
            {
                Ended::Stopped => {
                    if let Err(error) = self.board.release(&lease) {
                        tracing::warn!(%error, "could not release the tenant's lease");
                    }
                    return;
                }
                Ended::Lost => tracing::warn!("lost the tenant's lease; another daemon has it"),
            }
        }
    }

    fn poll(&self) -> Duration {
        self.ttl / 3
    }

    async fn wait_for_lease(&self, stop_rx: &mut watch::Receiver<bool>) -> Option<Lease> {
        loop {
            match self.board.acquire(&self.tenant, &self.me, self.ttl) {
                Ok(Some(lease)) => return Some(lease),
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "cannot reach the leases"),
            }
            if !nap(self.poll(), stop_rx).await {
                return None;
            }
        }
    }

    /// Renews the lease; false when it is lost (or cannot be renewed).
    fn renew(&self, lease: &Lease) -> bool {
        match self.board.renew(lease, self.ttl) {
            Ok(held) => held,
            Err(error) => {
                tracing::warn!(%error, "cannot renew the tenant's lease");
                false
            }
        }
    }

    /// The first slot to run: an unfinished one left by an earlier holder, else the first
    /// after the newest recorded (or after the tenant's schedule began).
    fn first_due(&self, lease: &Lease, config: &Config) -> Timestamp {
        let last = match self.board.last_slot(&self.tenant) {
            Ok(last) => last,
            Err(error) => {
                tracing::warn!(%error, "cannot read the tenant's slots");
                None
            }
        };
        match last {
            Some(slot) if !slot.finished => slot.slot,
            Some(slot) => after(slot.slot, config),
            None => after(lease.scheduled_from, config),
        }
    }

    async fn hold(
        &self,
        lease: &Lease,
        config: &Config,
        state: &Shared,
        stop_rx: &mut watch::Receiver<bool>,
        gate: &Arc<Semaphore>,
    ) -> Ended {
        let mut due = self.first_due(lease, config);
        loop {
            lock(state).set_next_run(Some(due.to_zoned(config.time_zone.clone())));
            while Timestamp::now() < due {
                let left =
                    Duration::try_from(Timestamp::now().duration_until(due)).unwrap_or_default();
                if !nap(left.min(self.poll()), stop_rx).await {
                    return Ended::Stopped;
                }
                if !self.renew(lease) {
                    return Ended::Lost;
                }
            }
            let permit = loop {
                tokio::select! {
                    permit = gate.clone().acquire_owned() => break permit.ok(),
                    () = tokio::time::sleep(self.poll()) => {
                        if !self.renew(lease) {
                            return Ended::Lost;
                        }
                    }
                    () = stopped(stop_rx) => return Ended::Stopped,
                }
            };
            if let Some(ended) = self.run_slot(lease, due, config, state, stop_rx).await {
                return ended;
            }
            drop(permit);
            due = after(due, config);
        }
    }

    /// Claims and runs one slot; `Some` when holding the lease ended meanwhile.
    async fn run_slot(
        &self,
        lease: &Lease,
        slot: Timestamp,
        config: &Config,
        state: &Shared,
        stop_rx: &mut watch::Receiver<bool>,
    ) -> Option<Ended> {
        match self.board.claim(lease, slot) {
            Ok(Claim::New) => tracing::info!(%slot, "slot claimed"),
            Ok(Claim::TakenOver { from, claimed }) => {
                if let Some((run_id, outcome)) = completed_since(config, claimed) {
                    // The earlier holder's run completed (its report written) before it died:
                    // the slot is done, not run twice.
                    tracing::warn!(%slot, %from, run_id, "a slot its earlier holder ran to the end");
                    if let Err(error) = self.board.finish(lease, slot, Some(run_id), &outcome) {
                        tracing::warn!(%error, %slot, "cannot mark the slot finished");
                    }
                    return None;
                }
                tracing::warn!(%slot, %from, "running a slot its earlier holder did not finish")
            }
            Ok(Claim::Done) => return None,
            Ok(Claim::LeaseLost) => return Some(Ended::Lost),
            Err(error) => {
                tracing::warn!(%error, %slot, "cannot claim the slot");
                return Some(Ended::Lost);
            }
        }
        lock(state).set_next_run(None);
        let run = scheduled_sync(config);
        tokio::pin!(run);
        let finished = loop {
            tokio::select! {
                finished = &mut run => break finished,
                () = tokio::time::sleep(self.poll()) => {
                    if !self.renew(lease) {
                        // Another daemon may take the tenant now: stop here, as a crash would;
                        // the journal settles what this run left open.
                        return Some(Ended::Lost);
                    }
                }
                () = stopped(stop_rx) => {
                    match tokio::time::timeout(config.daemon.stop_timeout, &mut run).await {
                        Ok(finished) => break finished,
                        Err(_) => return Some(Ended::Stopped),
                    }
                }
            }
        };
        let outcome = finished.outcome.label();
        match self.board.finish(lease, slot, finished.id, outcome) {
            Ok(true) => {}
            Ok(false) => tracing::warn!(%slot, "the slot was taken over before it finished"),
            Err(error) => tracing::warn!(%error, %slot, "cannot mark the slot finished"),
        }
        let next = after(slot, config);
        lock(state).record(finished, Some(next.to_zoned(config.time_zone.clone())));
        None
    }
}

/// The sync a holder that died ran to the end after claiming a slot at `claimed`: finished in
/// the tenant's store, not closed as interrupted. A holder killed between recording the finish
/// and writing the report leaves a report saying so in its place (the store keeps the run's
/// changes). The claim time is the database's clock and a run's start this machine's; a second
/// of difference is allowed, far below any schedule's interval.
fn completed_since(config: &Config, claimed: Timestamp) -> Option<(i64, String)> {
    let store = config.open_state().ok()?;
    let runs = store
        .runs_of_kind(flexsync_core::outcome::RunKind::Sync, 10)
        .ok()?;
    let from = claimed - jiff::SignedDuration::from_secs(1);
    runs.into_iter().find_map(|run| {
        let interrupted = run
            .summary
            .as_ref()
            .is_some_and(|s| s["error"] == serde_json::json!("interrupted"));
        let report = config.report_dir.join(format!("run-{:06}.json", run.id.0));
        let completed = run.started >= from && run.finished.is_some() && !interrupted;
        completed.then(|| {
            if !report.is_file() {
                write_lost_report(config, &run);
            }
            let outcome = run.outcome.map_or("done", |o| o.label());
            (run.id.0, outcome.to_string())
        })
    })
}

/// The report of a run whose daemon died after recording it finished, before writing its own.
fn write_lost_report(config: &Config, run: &flexsync_state::RunRecord) {
    let outcome = run.outcome.unwrap_or(flexsync_core::outcome::Outcome::Done);
    let why = anyhow::anyhow!(
        "the daemon that ran this sync stopped after recording it finished and before writing \
         its report; its changes are in `flexsync history --run {}`",
        run.id.0
    );
    let mut report = crate::report::RunReport::failed(Some(run.id.0), outcome, &why);
    report.started = run.started.to_string();
    if let Err(error) = report.write(&config.report_dir) {
        tracing::warn!(%error, run = run.id.0, "cannot write the report of a run its daemon left");
    }
}

/// The slot after `at` on the tenant's schedule.
fn after(at: Timestamp, config: &Config) -> Timestamp {
    next_run(&at.to_zoned(config.time_zone.clone()), &config.schedule).timestamp()
}

/// Sleeps `pause`; false when stopped meanwhile.
async fn nap(pause: Duration, stop_rx: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = tokio::time::sleep(pause) => true,
        () = stopped(stop_rx) => false,
    }
}
