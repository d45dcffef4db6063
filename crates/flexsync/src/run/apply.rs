//! The one stage that writes: users, then groups over SCIM, then the files; and what the state
//! store must remember of it.

use std::sync::{Arc, Mutex};

use flexsync_core::desired::Desired;
use flexsync_winningtemp::StepOutcome;
use flexsync_winningtemp::groups;
use flexsync_winningtemp::users::Applier;

use super::Ends;
use super::files::deliver_files;
use super::memory::{
    StoreJournal, reconcile_memory, remember_empty_groups, remember_groups, user_ids,
};
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
    if let Some(scim) = &ends.scim {
        let journal = StoreJournal {
            store: session.store.clone(),
            run,
        };
        let map = config.attribute_map();
        let current = &observed.current;
        // What the target shows wins over what we remember.
        let known = user_ids(current, &recalled.memory);
        let applier = Applier {
            client: scim,
            map: &map,
            capabilities: &current.capabilities,
            concurrency: config.concurrency,
            known: Arc::new(Mutex::new(known)),
            journal: &journal,
        };
        applied.outcomes = applier.apply(&planned.plan).await;
        reconcile_memory(
            &session.store,
            desired,
            current,
            &recalled.memory,
            &planned.plan,
            &recalled.failures,
            &planned.deferred,
        );
        if !planned.group_plan.is_empty() {
            let known = applier.known.lock().map(|k| k.clone()).unwrap_or_default();
            let outcomes = groups::apply_group_plan(
                scim,
                &planned.group_plan,
                &known,
                &config.group_parent_attribute,
            )
            .await;
            remember_groups(&session.store, &outcomes);
            applied.outcomes.extend(outcomes);
        }
    }
    remember_empty_groups(&session.store, &recalled.empty_since, &planned.grace);
    if let (Some(channel), Some(files)) = (&config.files, &planned.files) {
        applied.delivery = Some(deliver_files(channel, files.rendered.clone()).await);
    }
    applied
}
