//! The webhook: one JSON document posted to a URL (chat tools, incident systems), with an
//! optional secret header; anything but a 2xx answer is an error.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::NotifyError;

/// Where to post, and the secret header to send along.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub url: url::Url,
    /// Header name and its secret value, e.g. `Authorization` and `Bearer ...`.
    pub header: Option<(String, SecretString)>,
    pub timeout: Duration,
}

/// Posts `document` as `application/json`.
pub async fn post(
    settings: &WebhookSettings,
    document: &serde_json::Value,
) -> Result<(), NotifyError> {
    let url = redacted(&settings.url);
    let webhook_error = |reason: String| NotifyError::Webhook {
        url: url.clone(),
        reason,
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(settings.timeout)
        .build()
        .map_err(|e| webhook_error(e.to_string()))?;
    let mut request = client.post(settings.url.clone()).json(document);
    if let Some((name, value)) = &settings.header {
        let mut value = reqwest::header::HeaderValue::from_str(value.expose_secret())
            .map_err(|_| webhook_error(format!("the {name} value is not a valid header value")))?;
        value.set_sensitive(true);
        request = request.header(name.as_str(), value);
    }
    let response = request
        .send()
        .await
        .map_err(|e| webhook_error(without_url(e)))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    Err(webhook_error(format!("answered {status}")))
}

/// The URL without its query and user info, which may carry a token.
fn redacted(url: &url::Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    let _ = shown.set_password(None);
    let _ = shown.set_username("");
    shown.to_string()
}

/// reqwest's error without the URL it names (it may carry a token in its query).
fn without_url(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_in_the_url_is_never_shown() {
        let url = url::Url::parse("https://user:pw@hooks.example.se/x?token=s3cret").unwrap();
        let shown = redacted(&url);
        assert_eq!(shown, "https://hooks.example.se/x");
    }
}
