//! `[winningtemp]`: the SCIM channel, when configured, and where its attributes live.

use std::path::Path;

use anyhow::{Result, anyhow, bail};

use flexsync_scim::ScimSettings;

use super::DEFAULT_USER_EXTENSION;
use super::connection::{http_settings, plain_http_warning, secret, with_body_limit, with_network};
use super::paths::resolve;
use super::raw::RawWinningtemp;

/// What `[winningtemp]` adds to the `Config`.
pub(super) struct WinningtempPart {
    pub(super) scim: Option<ScimSettings>,
    pub(super) user_extension: String,
    pub(super) group_parent_attribute: String,
    /// Whether writes go in `/Bulk` requests where the server advertises Bulk.
    pub(super) bulk: bool,
}

pub(super) fn winningtemp_part(
    raw: Option<RawWinningtemp>,
    base: &Path,
    warnings: &mut Vec<String>,
) -> Result<WinningtempPart> {
    let (scim, user_extension, group_parent_attribute, bulk) = match raw {
        Some(mut wt) => {
            let user_extension = wt.user_extension.take();
            let group_parent_attribute = wt.group_parent_attribute.take();
            let bulk = wt.bulk.take();
            let scim = scim_settings(wt, base, warnings)?;
            (Some(scim), user_extension, group_parent_attribute, bulk)
        }
        None => (None, None, None, None),
    };
    Ok(WinningtempPart {
        scim,
        user_extension: user_extension.unwrap_or_else(|| DEFAULT_USER_EXTENSION.to_string()),
        group_parent_attribute: group_parent_attribute
            .unwrap_or_else(|| flexsync_winningtemp::groups::DEFAULT_PARENT_ATTRIBUTE.to_string()),
        bulk: bulk.unwrap_or(true),
    })
}

fn scim_settings(
    wt: RawWinningtemp,
    base: &Path,
    warnings: &mut Vec<String>,
) -> Result<ScimSettings> {
    let token = secret(
        "winningtemp.token",
        wt.token,
        wt.token_env,
        wt.token_file.as_deref().map(|p| resolve(base, p)),
        warnings,
    )?;
    let url = url::Url::parse(&wt.scim_url).map_err(|e| anyhow!("winningtemp.scim_url: {e}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        // Not repeated: what sits before the @ may be a password.
        bail!(
            "winningtemp.scim_url holds credentials (user:password@): remove them; the token \
             goes in token_file or token_env"
        );
    }
    warnings.extend(plain_http_warning("winningtemp.scim_url", &url));
    let http = http_settings(
        wt.timeout_seconds,
        wt.max_concurrent,
        wt.rate_per_second,
        wt.danger_accept_invalid_certs,
        "winningtemp",
        warnings,
    );
    let http = with_body_limit(http, wt.max_response_mb, "winningtemp")?;
    let ca_file = wt.ca_file.as_deref().map(|p| resolve(base, p));
    let http = with_network(http, ca_file.as_deref(), wt.proxy.as_deref(), "winningtemp")?;
    Ok(ScimSettings {
        base_url: wt.scim_url,
        token,
        page_size: wt.page_size.unwrap_or(200),
        largest_page: wt.page_size.is_none(),
        max_pages: 10_000,
        http,
    })
}
