//! The one stage that writes: users, then groups over SCIM, then the files; and what the state
//! store must remember of it. No write is made whose intent the store did not record (the
//! journal commits the intents pending together at once): once it cannot, writing stops and the
//! rest is left for the next run.

use std::sync::{Arc, Mutex};

use flexsync_core::desired::Desired;
use flexsync_scim::Writer;
use flexsync_winningtemp::groups;
use flexsync_winningtemp::users::Applier;
use flexsync_winningtemp::{Halt, StepOutcome};

use super::Ends;
use super::files::deliver_files;
use super::journal::StoreJournal;
use super::memory::{reconcile_groups, reconcile_memory, remember_empty_groups, user_ids};
use super::observe::{Observed, Recalled};
use super::plan::Planned;
use super::session::Session;
use crate::config::Config;
use crate::file_writer::DeliveryOutcome;

/// What the writes came to.
#[derive(Default)]
pub(super) struct Applied {
    /// One outcome per user step, then one per group step, in the order they ran.
    pub(super) outcomes: Vec<StepOutcome>,
    pub(super) delivery: Option<DeliveryOutcome>,
    /// Why writing stopped part-way: the state store could not record an intent. The writes
    /// after it were not made (they are failed outcomes saying so).
    pub(super) halted: Option<String>,
}

pub(super) async fn apply(
    config: &Config,
    ends: &Ends,
    session: &Session,
    desired: &Desired,
    observed: &Observed,
    recalled: &Recalled,
    planned: &Planned,
) -> Applied {
    let mut applied = Applied::default();
    // Only a sync applies, and every sync is a recorded run.
    let Some(run) = session.run_id else {
        return applied;
    };
    let halt = Halt::default();
    if let Some(scim) = &ends.scim {
        let journal = StoreJournal::start(session.store.clone(), run);
        let _progress = crate::progress::Phase::start(
            "applying",
            crate::progress::Measure::Steps {
                done: journal.done.clone(),
                total: (planned.plan.steps.len() + planned.group_plan.steps.len()) as u64,
            },
        );
        let map = config.attribute_map();
        let current = &observed.current;
        // What the target shows wins over what we remember.
        let known = user_ids(current, &recalled.memory);
        let limits = observed.bulk.filter(|_| config.bulk);
        let writer = match limits {
            Some(limits) => Writer::bulk(scim, limits, config.concurrency),
            None => Writer::single(scim),
        };
        let applier = Applier {
            writer: &writer,
            map: &map,
            capabilities: &current.capabilities,
            concurrency: config.concurrency,
            known: Arc::new(Mutex::new(known)),
            journal: &journal,
            halt: &halt,
        };
        applied.outcomes = applier.apply(&planned.plan).await;
        // What follows reads the store: every outcome of the users is in it first.
        journal.flush().await;
        reconcile_memory(
            &session.store,
            desired,
            current,
            &recalled.memory,
            &planned.plan,
            &recalled.failures,
            &planned.deferred,
            &session.interrupted_creates,
        );
        if let Some((_, target)) = &observed.groups {
            reconcile_groups(
                &session.store,
                target,
                &recalled.memory,
                &session.interrupted_creates,
            );
        }
        if !planned.group_plan.is_empty() {
            let known = applier.known.lock().map(|k| k.clone()).unwrap_or_default();
            let outcomes = groups::apply_group_plan(
                &writer,
                &planned.group_plan,
                &known,
                &config.group_parent_attribute,
                &journal,
                &halt,
                config.concurrency,
            )
            .await;
            applied.outcomes.extend(outcomes);
        }
        journal.flush().await;
    }
    applied.halted = halt.reason();
    if applied.halted.is_some() {
        // A store that cannot record is not written to again, and the files wait for it too.
        return applied;
    }
    remember_empty_groups(&session.store, &recalled.empty_since, &planned.grace);
    if let (Some(channel), Some(files)) = (&config.files, &planned.files) {
        applied.delivery = Some(deliver_files(channel, files.rendered.clone()).await);
    }
    applied
}
