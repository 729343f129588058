//! What the HTTP channels of SPEC §11.1 share: sending one request and reading the
//! answer with every secret (a token in the URL path, a routing key in the body) kept
//! out of the error text, plus the per-account facts they need that an event does not
//! carry (its provider and Alertmanager labels, from the validated accounts).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use super::DeliveryError;
use crate::config::redact_secrets;
use crate::core::Event;
use crate::http;
use crate::provider::AccountConfig;

/// A peer's answer: status, headers and (the start of) its body.
#[derive(Debug)]
pub(super) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    /// `Retry-After` as seconds or an HTTP date.
    pub fn retry_after(&self) -> Option<Duration> {
        http::retry_after(&self.headers, SystemTime::now())
    }

    /// `"{peer} answered HTTP 400 Bad Request: {body}"`, secrets masked.
    pub fn reason(&self, peer: &str, secrets: &[&str]) -> String {
        let text = if self.body.is_empty() {
            format!("{peer} answered HTTP {}", self.status)
        } else {
            format!(
                "{peer} answered HTTP {}: {}",
                self.status,
                http::snippet(self.body.as_bytes())
            )
        };
        redact_secrets(&text, secrets)
    }
}

/// Sends `request`; a failure to reach the peer is worth a retry. The error text never
/// holds the URL (reqwest's `Display` would print it, token and all) nor any of
/// `secrets`.
pub(super) async fn send(
    request: reqwest::RequestBuilder,
    peer: &str,
    secrets: &[&str],
) -> Result<Answer, DeliveryError> {
    let response = request.send().await.map_err(|e| {
        let e = e.without_url();
        DeliveryError::retry(redact_secrets(
            &format!("{peer}: {}", http::describe(&e)),
            secrets,
        ))
    })?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = http::read_limited(response, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// The classification most chat and paging APIs share: 429 and 5xx (and 408) are
/// retried, honouring `retry_after`; any other 4xx (and a redirect, which these APIs
/// never send for a correct request) is a refusal of this message for good.
pub(super) fn classify(
    answer: &Answer,
    peer: &str,
    secrets: &[&str],
    retry_after: Option<Duration>,
) -> DeliveryError {
    let reason = answer.reason(peer, secrets);
    match answer.status.as_u16() {
        408 | 429 | 500..=599 => DeliveryError::Retry {
            reason,
            retry_after,
        },
        _ => DeliveryError::Permanent(reason),
    }
}

/// What a channel knows of each account beyond the event: its provider (for dedup
/// keys and labels) and its `labels` table. Taken from the validated accounts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Accounts(BTreeMap<String, AccountFacts>);

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountFacts {
    pub provider: String,
    pub labels: BTreeMap<String, String>,
}

impl Accounts {
    pub fn from_config(accounts: &[Arc<AccountConfig>]) -> Self {
        Accounts(
            accounts
                .iter()
                .map(|a| {
                    let facts = AccountFacts {
                        provider: a.provider.type_name().to_owned(),
                        labels: a.labels.clone(),
                    };
                    (a.name.clone(), facts)
                })
                .collect(),
        )
    }

    /// The event's provider (events name it since providers exist).
    pub fn provider<'e>(&self, event: &'e Event) -> &'e str {
        &event.provider
    }

    pub fn labels(&self, event: &Event) -> Option<&BTreeMap<String, String>> {
        self.0.get(&event.account).map(|f| &f.labels)
    }

    #[cfg(test)]
    pub fn insert(&mut self, name: &str, facts: AccountFacts) {
        self.0.insert(name.to_owned(), facts);
    }
}

/// The event's JSON object as the webhook sends it (SPEC §5), plus `instance` (SPEC
/// §11.3; null when unset): the `custom_details` of PagerDuty and the webhook body.
pub fn event_json(event: &Event, instance: Option<&str>) -> serde_json::Value {
    let mut value = serde_json::to_value(event).expect("an Event always serializes");
    if let Some(object) = value.as_object_mut() {
        object.insert("instance".into(), instance.into());
    }
    value
}
