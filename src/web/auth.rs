//! Who may see the dashboard and who may snooze (SPEC §13).
//!
//! Basic auth follows the Prometheus exporter-toolkit web config: the password is
//! stored as a bcrypt hash (`$2y$…`, `$2b$…`, `$2a$…`), the user name is compared in
//! constant time, and an unknown user still costs one bcrypt verification against a
//! dummy hash, so the response time does not tell which user names exist. A failed or
//! missing login gets 401 with `WWW-Authenticate: Basic realm="balance-alert"`.
//!
//! The admin token for the snooze endpoints is a bearer token compared in constant time.

use base64::Engine as _;
use subtle::ConstantTimeEq as _;

use crate::config::Secret;

/// The realm browsers show in their login prompt.
pub const CHALLENGE: &str = "Basic realm=\"balance-alert\", charset=\"UTF-8\"";

/// A well-formed bcrypt hash of a random password nobody knows (cost 10, as the
/// exporter-toolkit's own dummy), verified when the user name is wrong.
const DUMMY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DSmAAj0ZvN7T9dzjtS1V.";

/// `[daemon] web.basic_auth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicAuth {
    pub user: String,
    /// The bcrypt hash the server checks against.
    pub password_hash: Secret,
    /// The plain password, for this binary's own clients (`status`, `snooze`, …) only;
    /// optional, also from `BALANCE_ALERT_WEB_PASSWORD`.
    pub password: Option<Secret>,
}

/// Checks that `hash` is a bcrypt hash the server can verify against, for config
/// validation.
pub fn check_hash(hash: &str) -> Result<(), String> {
    let valid_prefix = ["$2a$", "$2b$", "$2x$", "$2y$"]
        .iter()
        .any(|p| hash.starts_with(p));
    let cost_ok = hash
        .parse::<bcrypt::HashParts>()
        .is_ok_and(|p| (4..=31).contains(&p.get_cost()));
    if !valid_prefix || !cost_ok {
        return Err(
            "is not a bcrypt hash (expected `$2y$10$` followed by 53 characters; make one \
             with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`)"
                .into(),
        );
    }
    Ok(())
}

/// Whether an `Authorization` header value carries this user and a password matching
/// the hash. Costs one bcrypt verification whenever a Basic header is present: run it
/// off the async executor.
pub fn basic_ok(header: Option<&[u8]>, auth: &BasicAuth) -> bool {
    let Some((user, password)) = header.and_then(parse_basic) else {
        return false;
    };
    let user_ok: bool = user.as_bytes().ct_eq(auth.user.as_bytes()).into();
    let hash = if user_ok {
        auth.password_hash.expose()
    } else {
        DUMMY_HASH
    };
    let password_ok = bcrypt::verify(password.as_bytes(), hash).unwrap_or(false);
    user_ok & password_ok
}

/// `Basic base64(user:password)` → (user, password).
fn parse_basic(header: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(header).ok()?.trim();
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Whether an `Authorization` header value is `Bearer <token>`, compared in constant
/// time (only the length can leak, and the token's length is no secret worth having).
pub fn bearer_ok(header: Option<&[u8]>, token: &Secret) -> bool {
    let Some(header) = header else {
        return false;
    };
    let Some(given) = header
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case(b"bearer "))
        .map(|_| header[7..].trim_ascii())
    else {
        return false;
    };
    given.ct_eq(token.expose().as_bytes()).into()
}

/// The `Authorization` header value for Basic auth, for this binary's clients.
pub fn basic_header(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// bcrypt of "s3cret" at the minimum cost, so the tests stay fast.
    fn auth() -> BasicAuth {
        BasicAuth {
            user: "ops".into(),
            password_hash: Secret::new(bcrypt::hash("s3cret", 4).unwrap()),
            password: None,
        }
    }

    #[test]
    fn basic_auth_accepts_only_the_right_user_and_password() {
        let auth = auth();
        let ok = basic_header("ops", "s3cret");
        assert!(basic_ok(Some(ok.as_bytes()), &auth));
        // The scheme is case-insensitive.
        let lower = ok.replacen("Basic", "basic", 1);
        assert!(basic_ok(Some(lower.as_bytes()), &auth));
        for bad in [
            basic_header("ops", "wrong"),
            basic_header("nobody", "s3cret"),
            basic_header("ops", ""),
            basic_header("", ""),
            "Basic !!!not-base64".into(),
            "Bearer s3cret".into(),
            "Basic".into(),
        ] {
            assert!(!basic_ok(Some(bad.as_bytes()), &auth), "{bad}");
        }
        assert!(!basic_ok(None, &auth));
    }

    #[test]
    fn a_password_with_a_colon_works() {
        let auth = BasicAuth {
            password_hash: Secret::new(bcrypt::hash("a:b", 4).unwrap()),
            ..auth()
        };
        assert!(basic_ok(Some(basic_header("ops", "a:b").as_bytes()), &auth));
    }

    #[test]
    fn the_dummy_hash_is_a_valid_hash() {
        // Or an unknown user would fail fast and the timing would tell.
        assert!(check_hash(DUMMY_HASH).is_ok());
        assert!(!bcrypt::verify("", DUMMY_HASH).unwrap());
    }

    #[test]
    fn hashes_are_checked() {
        assert!(check_hash(&bcrypt::hash("x", 4).unwrap()).is_ok());
        // htpasswd -B writes $2y$.
        assert!(check_hash("$2y$05$Ye5hdCArmRtCqkCZeCSfE.xZjWx5ZV0hAIx96PfvCI0xrZKgoPnye").is_ok());
        for bad in [
            "",
            "plain",
            "$1$abc",
            "$2y$10$short",
            "$2y$99$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DSmAAj0ZvN7T9dzjtS1V.",
        ] {
            assert!(check_hash(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bearer_tokens_compare_exactly() {
        let token = Secret::new("t0ken-123");
        assert!(bearer_ok(Some(b"Bearer t0ken-123"), &token));
        assert!(bearer_ok(Some(b"bearer t0ken-123 "), &token));
        for bad in [
            &b"Bearer t0ken-12"[..],
            b"Bearer t0ken-1234",
            b"Bearer ",
            b"Basic t0ken-123",
            b"t0ken-123",
            b"",
        ] {
            assert!(
                !bearer_ok(Some(bad), &token),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(!bearer_ok(None, &token));
    }
}
