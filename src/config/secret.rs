//! Secrets: the [`Secret`] wrapper every credential is held in from the moment it is
//! read, and [`redact_secrets`] for text a peer sent back that might echo one.

use std::fmt;

/// A secret string (API token, webhook URL, password). `Debug` and `Display` print a
/// mask so a secret cannot reach a log line, an error or a panic message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself; call sites are few and obvious (auth headers, URLs to POST to).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// Secrets shorter than this are not masked in place (see [`redact_secrets`]).
const SHORT_SECRET: usize = 8;

/// Replaces each secret with `****`, including one cut short at the end of a snippet.
pub fn redact_secrets(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        // An empty "secret" would match between every character.
        if secret.is_empty() {
            continue;
        }
        // Masking a very short secret inside words ("smtp.e****ample.com") would both
        // garble the text and hint at the secret: withhold the whole text instead.
        if secret.chars().count() < SHORT_SECRET && out.contains(secret) {
            return "(details withheld: they contain a credential)".to_string();
        }
        out = out.replace(secret, "****");
        if let Some(body) = out.strip_suffix('…') {
            let cut = (4..secret.len())
                .rev()
                .filter(|&k| secret.is_char_boundary(k))
                .find(|&k| body.ends_with(&secret[..k]));
            if let Some(k) = cut {
                out = format!("{}****…", &body[..body.len() - k]);
            }
        }
    }
    out
}
