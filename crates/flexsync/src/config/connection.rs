//! What both ends share: a secret read from exactly one place, and HTTP settings.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use secrecy::SecretString;

use flexsync_http::HttpSettings;

pub(super) fn http_settings(
    timeout_seconds: Option<u64>,
    max_concurrent: Option<usize>,
    rate_per_second: Option<f64>,
    insecure: Option<bool>,
    section: &str,
    warnings: &mut Vec<String>,
) -> HttpSettings {
    let mut http = HttpSettings::default();
    if let Some(seconds) = timeout_seconds {
        http.timeout = Duration::from_secs(seconds.max(1));
    }
    if let Some(n) = max_concurrent {
        http.max_concurrent = n.clamp(1, 64);
    }
    http.rate_per_second = rate_per_second.filter(|r| r.is_finite() && *r > 0.0);
    if insecure == Some(true) {
        http.accept_invalid_certs = true;
        warnings.push(format!(
            "{section}.danger_accept_invalid_certs is on: TLS certificates are NOT verified"
        ));
    }
    http
}

/// Sets the largest answer read from an end (`max_response_mb`, default 64 MB).
pub(super) fn with_body_limit(
    mut http: HttpSettings,
    max_response_mb: Option<u64>,
    section: &str,
) -> Result<HttpSettings> {
    if let Some(mb) = max_response_mb {
        if mb == 0 || mb > 4096 {
            bail!("{section}.max_response_mb: {mb} is not between 1 and 4096");
        }
        http.max_body_bytes = mb * 1024 * 1024;
    }
    Ok(http)
}

/// Resolves a secret from exactly one of: inline value, environment variable, file.
pub(super) fn secret(
    key: &str,
    inline: Option<String>,
    env: Option<String>,
    file: Option<PathBuf>,
    warnings: &mut Vec<String>,
) -> Result<SecretString> {
    let given = [inline.is_some(), env.is_some(), file.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if given != 1 {
        bail!("{key}: give exactly one of `{key}`, `{key}_env` or `{key}_file`");
    }
    if let Some(value) = inline {
        return Ok(SecretString::from(value));
    }
    if let Some(var) = env {
        let value = std::env::var(&var)
            .map_err(|_| anyhow!("{key}_env: the environment variable {var} is not set"))?;
        return Ok(SecretString::from(value));
    }
    let Some(path) = file else {
        bail!("{key}: no value")
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{key}_file: cannot read {}", path.display()))?;
    if readable_by_others(&path) {
        warnings.push(format!(
            "{key}_file {} is readable by other users: chmod 600 it",
            path.display()
        ));
    }
    Ok(SecretString::from(
        text.trim_end_matches(['\r', '\n']).to_string(),
    ))
}

#[cfg(unix)]
fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o044 != 0)
}

#[cfg(not(unix))]
fn readable_by_others(_path: &Path) -> bool {
    false
}
