//! `[flex]`: where Flex HRM answers, who signs in, and which companies are read.

use std::path::Path;

use anyhow::{Result, anyhow, bail};

use flexsync_flex::{AuthScheme, CompanyRef, FlexSettings};

use super::connection::{http_settings, plain_http_warning, secret, with_body_limit, with_network};
use super::paths::resolve;
use super::raw::{CompanyOrText, RawFlex};

pub(super) fn flex_settings(
    flex: RawFlex,
    base: &Path,
    warnings: &mut Vec<String>,
) -> Result<FlexSettings> {
    let password = secret(
        "flex.password",
        flex.password,
        flex.password_env,
        flex.password_file.as_deref().map(|p| resolve(base, p)),
        warnings,
    )?;
    let companies = companies(&flex.companies)?;
    let auth = auth_scheme(flex.auth.as_deref())?;
    let http = http_settings(
        flex.timeout_seconds,
        flex.max_concurrent,
        flex.rate_per_second,
        flex.danger_accept_invalid_certs,
        "flex",
        warnings,
    );
    let http = with_body_limit(http, flex.max_response_mb, "flex")?;
    let ca_file = flex.ca_file.as_deref().map(|p| resolve(base, p));
    let http = with_network(http, ca_file.as_deref(), flex.proxy.as_deref(), "flex")?;
    let api_prefix = flex.api_prefix.unwrap_or_else(|| "/webapi/api".to_string());
    let url = flexsync_flex::api_base_url(&flex.base_url, &api_prefix)
        .map_err(|e| anyhow!("flex.base_url: {e}"))?;
    warnings.extend(plain_http_warning("flex.base_url", &url));
    Ok(FlexSettings {
        base_url: flex.base_url,
        api_prefix,
        username: flex.username,
        password,
        instance: flex.instance.text(),
        companies,
        auth,
        page_size: flex.page_size.unwrap_or(1000),
        max_pages: 10_000,
        http,
    })
}

fn companies(list: &[CompanyOrText]) -> Result<Vec<CompanyRef>> {
    if list.is_empty() {
        bail!("flex.companies: name at least one company number or GUID");
    }
    list.iter()
        .map(|c| {
            c.text().parse::<CompanyRef>().map_err(|e| {
                anyhow!(
                    "flex.companies: {:?} is not a company number or GUID: {e}",
                    c.text()
                )
            })
        })
        .collect()
}

fn auth_scheme(name: Option<&str>) -> Result<AuthScheme> {
    Ok(match name.unwrap_or("literal") {
        "literal" => AuthScheme::Literal,
        "base64" => AuthScheme::Base64Full,
        "base64-user" => AuthScheme::Base64UserPass,
        other => bail!("flex.auth: {other:?} is not one of literal, base64, base64-user"),
    })
}
