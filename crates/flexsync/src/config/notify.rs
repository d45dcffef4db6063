//! `[notify.email]` and `[notify.webhook]`: checked into settings the notify adapters take,
//! with their secrets read from the environment or a file (never from the configuration).

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};

use flexsync_notify::email::{Address, Security, SmtpSettings};
use flexsync_notify::webhook::WebhookSettings;

use super::connection::secret;
use super::paths::resolve;
use super::raw::{RawEmail, RawNotify, RawWebhook};
use crate::notify::When;

/// Who hears how each sync went.
#[derive(Debug, Clone, Default)]
pub struct NotifySettings {
    pub email: Option<EmailNotify>,
    pub webhook: Option<WebhookNotify>,
}

#[derive(Debug, Clone)]
pub struct EmailNotify {
    pub smtp: SmtpSettings,
    pub when: When,
}

#[derive(Debug, Clone)]
pub struct WebhookNotify {
    pub settings: WebhookSettings,
    pub when: When,
}

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) fn notify_settings(
    raw: RawNotify,
    base: &Path,
    warnings: &mut Vec<String>,
) -> Result<NotifySettings> {
    Ok(NotifySettings {
        email: raw
            .email
            .map(|email| email_settings(email, base, warnings))
            .transpose()?,
        webhook: raw
            .webhook
            .map(|hook| webhook_settings(hook, base, warnings))
            .transpose()?,
    })
}

fn email_settings(raw: RawEmail, base: &Path, warnings: &mut Vec<String>) -> Result<EmailNotify> {
    let security = match raw.security.as_deref().unwrap_or("starttls") {
        "starttls" => Security::StartTls,
        "tls" => Security::Tls,
        "none" => Security::None,
        other => bail!("notify.email.security: {other:?} is not one of starttls, tls, none"),
    };
    if security == Security::None && !is_loopback(&raw.smtp_host) {
        bail!(
            "notify.email.security = \"none\" sends the report unencrypted: only for a server on \
             loopback, and {:?} is not; use \"starttls\" or \"tls\"",
            raw.smtp_host
        );
    }
    if raw.password.is_some() {
        bail!(
            "{}",
            super::connection::inline_secret("notify.email.password")
        );
    }
    let login = login(&raw, base, warnings)?;
    let extra_root = match &raw.tls_ca_file {
        Some(file) => {
            let path = resolve(base, file);
            let pem = std::fs::read(&path).map_err(|e| {
                anyhow!(
                    "notify.email.tls_ca_file: cannot read {}: {e}",
                    path.display()
                )
            })?;
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                bail!(
                    "notify.email.tls_ca_file: {} holds no PEM certificate",
                    path.display()
                );
            }
            Some(pem)
        }
        None => None,
    };
    if raw.to.is_empty() {
        bail!("notify.email.to: name at least one recipient");
    }
    let to = raw
        .to
        .iter()
        .map(|to| Address::parse("notify.email.to", to))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(EmailNotify {
        smtp: SmtpSettings {
            port: raw.smtp_port.unwrap_or(security.default_port()),
            host: raw.smtp_host,
            security,
            login,
            from: Address::parse("notify.email.from", &raw.from)?,
            to,
            timeout: raw
                .timeout_seconds
                .map_or(DEFAULT_TIMEOUT, |s| Duration::from_secs(s.max(1))),
            extra_root,
        },
        when: when("notify.email.when", raw.when.as_deref())?,
    })
}

/// The SMTP login: a user name and its password, or neither.
fn login(
    raw: &RawEmail,
    base: &Path,
    warnings: &mut Vec<String>,
) -> Result<Option<(String, secrecy::SecretString)>> {
    let password_given = raw.password_env.is_some() || raw.password_file.is_some();
    match (&raw.username, password_given) {
        (None, false) => Ok(None),
        (None, true) => bail!("notify.email.username: a password is given but no user name"),
        (Some(_), false) => {
            bail!("notify.email.username: give its password in password_env or password_file")
        }
        (Some(user), true) => {
            let password = secret(
                "notify.email.password",
                None,
                raw.password_env.clone(),
                raw.password_file.as_deref().map(|p| resolve(base, p)),
                warnings,
            )?;
            Ok(Some((user.clone(), password)))
        }
    }
}

fn webhook_settings(
    raw: RawWebhook,
    base: &Path,
    warnings: &mut Vec<String>,
) -> Result<WebhookNotify> {
    let url = url::Url::parse(&raw.url)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https"))
        .ok_or_else(|| anyhow!("notify.webhook.url: {:?} is not an http(s) URL", raw.url))?;
    let secret_given = raw.secret_env.is_some() || raw.secret_file.is_some();
    let header = match (raw.secret_header, secret_given) {
        (None, false) => None,
        (None, true) => bail!("notify.webhook.secret_header: name the header the secret goes in"),
        (Some(_), false) => {
            bail!("notify.webhook.secret_header: give the secret in secret_env or secret_file")
        }
        (Some(name), true) => {
            reqwest_header_name(&name)?;
            let value = secret(
                "notify.webhook.secret",
                None,
                raw.secret_env,
                raw.secret_file.as_deref().map(|p| resolve(base, p)),
                warnings,
            )?;
            Some((name, value))
        }
    };
    Ok(WebhookNotify {
        settings: WebhookSettings {
            url,
            header,
            timeout: raw
                .timeout_seconds
                .map_or(DEFAULT_TIMEOUT, |s| Duration::from_secs(s.max(1))),
        },
        when: when("notify.webhook.when", raw.when.as_deref())?,
    })
}

fn reqwest_header_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
    if !valid {
        bail!("notify.webhook.secret_header: {name:?} is not a header name");
    }
    Ok(())
}

fn when(key: &str, text: Option<&str>) -> Result<When> {
    match text.unwrap_or("problems") {
        "always" => Ok(When::Always),
        "changes" => Ok(When::Changes),
        "problems" => Ok(When::Problems),
        other => bail!("{key}: {other:?} is not one of always, changes, problems"),
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
