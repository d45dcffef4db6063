//! What the run starts from: the Flex read, what the state store remembers, and what
//! Winningtemp holds. Reads only; a failed read stops the run before anything is written.

use std::collections::BTreeMap;

use anyhow::Context;

use flexsync_core::current::{Current, Memory};
use flexsync_core::group_plan::{GroupCapabilities, TargetGroup};
use flexsync_core::mapping::NamedFields;
use flexsync_core::retry_hold::RecordFailure;
use flexsync_flex::FlexRead;
use flexsync_state::{StateError, StateStore};
use flexsync_winningtemp::{AttributeMap, groups, users};

use super::Ends;
use super::session::Session;
use crate::config::Config;
use crate::progress::{Measure, Phase};

/// "#12" for a sync, "plan" for a plan (which is not recorded), for logs.
fn run_label(session: &Session) -> String {
    session
        .run_id
        .map_or_else(|| "plan".to_string(), |id| format!("#{}", id.0))
}

/// Reads every configured company from Flex, keeping of each record the fields the
/// configuration names.
pub(super) async fn read_flex(
    ends: &Ends,
    config: &Config,
    session: &Session,
) -> anyhow::Result<FlexRead> {
    tracing::info!(run = %run_label(session), "reading Flex");
    let _progress = Phase::start(
        "reading Flex",
        Measure::Requests(ends.flex.transport_stats().clone()),
    );
    let named = NamedFields::of(&config.mapping, &config.groups);
    ends.flex
        .keeping_only(&named)
        .read()
        .await
        .map_err(|error| {
            let check = error.settings_to_check();
            anyhow::anyhow!(
                "reading Flex at {} failed; nothing was written: {error} (check: {check})",
                flexsync_http::bare(ends.flex.base_url())
            )
        })
}

/// What the state store remembers from earlier runs.
pub(super) struct Recalled {
    pub(super) memory: Memory,
    /// Records whose writes failed lately.
    pub(super) failures: Vec<RecordFailure>,
    /// Groups waiting out their grace period, with the day each was first seen empty.
    pub(super) empty_since: BTreeMap<flexsync_core::ids::ExternalId, jiff::civil::Date>,
    /// How many records the last completed sync read (the source-drop guard's baseline).
    pub(super) last_source_records: Option<usize>,
}

pub(super) fn recall(store: &StateStore) -> Result<Recalled, StateError> {
    let failures = store
        .failures()?
        .into_iter()
        .map(|f| RecordFailure {
            external_id: f.external_id,
            count: f.count,
            last_at: f.last_at,
            class: f.class,
            failed_step: f.failed_step,
        })
        .collect();
    let last_source_records = store.last_source_count().unwrap_or_else(|error| {
        tracing::warn!(%error, "could not read the last run's source count");
        None
    });
    Ok(Recalled {
        memory: store.links()?,
        failures,
        empty_since: store.empty_groups()?,
        last_source_records,
    })
}

/// What the SCIM end holds: users, and groups when the group tree is configured.
#[derive(Default)]
pub(super) struct Observed {
    pub(super) current: Current,
    pub(super) groups: Option<(GroupCapabilities, Vec<TargetGroup>)>,
    /// False when only the file channel is configured (nothing was read, nothing is planned).
    pub(super) over_scim: bool,
    /// What one `/Bulk` request may carry, where the server advertises Bulk.
    pub(super) bulk: Option<flexsync_scim::BulkLimits>,
}

/// Reads Winningtemp over SCIM; with only the file channel configured, there is nothing to read.
pub(super) async fn observe(
    ends: &Ends,
    config: &Config,
    session: &Session,
) -> anyhow::Result<Observed> {
    let Some(scim) = &ends.scim else {
        return Ok(Observed::default());
    };
    tracing::info!(run = %run_label(session), "reading Winningtemp");
    let _progress = Phase::start(
        "reading Winningtemp",
        Measure::Requests(scim.stats().clone()),
    );
    observe_scim(scim, &config.attribute_map(), config)
        .await
        .with_context(|| {
            format!(
                "reading Winningtemp at {} failed; nothing was written (check: \
                 winningtemp.scim_url, and winningtemp.token_env or token_file)",
                scim.base_url()
            )
        })
}

async fn observe_scim(
    scim: &flexsync_scim::ScimClient,
    map: &AttributeMap,
    config: &Config,
) -> anyhow::Result<Observed> {
    let (mut current, info) = users::observe(scim, map).await?;
    let groups = if config.groups.levels.is_empty() && !config.groups.company_top {
        None
    } else {
        let caps = groups::group_capabilities(&info, &config.group_parent_attribute);
        let target = groups::observe_groups(scim, &config.group_parent_attribute).await?;
        Some((caps, target))
    };
    let mut groups = groups;
    let target_groups = groups.as_mut().map(|(_, target)| target.as_mut_slice());
    current.share_ids(target_groups.unwrap_or_default());
    Ok(Observed {
        current,
        groups,
        over_scim: true,
        bulk: flexsync_scim::BulkLimits::advertised(&info),
    })
}
