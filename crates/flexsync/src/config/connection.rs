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

/// How an end is reached on a company network: a certificate authority to trust besides the
/// system's (`ca_file`) and an outbound proxy (`proxy`).
pub(super) fn with_network(
    mut http: HttpSettings,
    ca_file: Option<&Path>,
    proxy: Option<&str>,
    section: &str,
) -> Result<HttpSettings> {
    if let Some(path) = ca_file {
        let pem = std::fs::read(path)
            .with_context(|| format!("{section}.ca_file: cannot read {}", path.display()))?;
        if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
            bail!(
                "{section}.ca_file: {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            );
        }
        http.ca_pem = Some(pem);
    }
    if let Some(text) = proxy {
        let url = url::Url::parse(text).map_err(|e| {
            anyhow!("{section}.proxy: not a URL such as http://proxy.example.se:3128 ({e})")
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            bail!("{section}.proxy: give an http:// or https:// URL with a host");
        }
        if url.password().is_some() {
            bail!(
                "{section}.proxy: a password is never written in the configuration; give the \
                 proxy without its login here, or leave `proxy` out and set the HTTPS_PROXY \
                 environment variable (http://user:password@host:port) instead"
            );
        }
        http.proxy = Some(url);
    }
    Ok(http)
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

/// Resolves a secret from exactly one of: environment variable, file. A value written in the
/// configuration itself is refused with how to pass it instead: a configuration file is read,
/// copied and backed up by more people than a secret should be.
pub(super) fn secret(
    key: &str,
    inline: Option<String>,
    env: Option<String>,
    file: Option<PathBuf>,
    warnings: &mut Vec<String>,
) -> Result<SecretString> {
    if inline.is_some() {
        bail!("{}", inline_secret(key));
    }
    if env.is_some() == file.is_some() {
        bail!("{key}: give exactly one of `{key}_env` or `{key}_file`");
    }
    if let Some(var) = env {
        let value = std::env::var(&var)
            .map_err(|_| anyhow!("{key}_env: the environment variable {var} is not set"))?;
        return non_empty(&format!("{key}_env ({var})"), value);
    }
    let Some(path) = file else {
        bail!("{key}: no value")
    };
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{key}_file: cannot read {}", path.display()))?;
    let (readable, writable) = open_to_others(&path);
    if readable {
        warnings.push(format!(
            "{key}_file {} is readable by other users: chmod 600 it",
            path.display()
        ));
    }
    if writable {
        warnings.push(format!(
            "{key}_file {} is writable by other users (anyone could replace the secret): \
             chmod 600 it",
            path.display()
        ));
    }
    non_empty(key, text.trim_end_matches(['\r', '\n']).to_string())
}

/// The refusal of a secret written in the configuration, saying how to pass it instead, in the
/// section it belongs to (`flex.password` -> `password_env` under `[flex]`).
pub(super) fn inline_secret(key: &str) -> String {
    let (section, field) = key.rsplit_once('.').unwrap_or(("", key));
    format!(
        "{key}: a secret is never written in the configuration file; under [{section}], give \
         `{field}_env = \"VARIABLE\"` (an environment variable holding it) or \
         `{field}_file = \"/path/to/file\"` (a file readable only by the user flexsync runs as) \
         instead of `{field}`"
    )
}

/// A secret that is empty (or only blanks) is a mistake, never a credential.
fn non_empty(key: &str, value: String) -> Result<SecretString> {
    if value.trim().is_empty() {
        bail!("{key}: the secret is empty");
    }
    Ok(SecretString::from(value))
}

/// Whether users other than the owner may read, or write, the file (group or other bits).
#[cfg(unix)]
fn open_to_others(path: &Path) -> (bool, bool) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).map_or(0, |m| m.permissions().mode());
    (mode & 0o044 != 0, mode & 0o022 != 0)
}

#[cfg(not(unix))]
fn open_to_others(_path: &Path) -> (bool, bool) {
    (false, false)
}

/// A warning for a URL that sends credentials in the clear to a host beyond this machine.
pub(super) fn plain_http_warning(key: &str, url: &url::Url) -> Option<String> {
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    (url.scheme() == "http" && !loopback).then(|| {
        format!(
            "{key} uses plain http to {}: credentials and personal data travel unencrypted; \
             use https",
            url.host_str().unwrap_or_default()
        )
    })
}
