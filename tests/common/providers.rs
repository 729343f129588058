//! Stand-ins for the balance APIs of SPEC §10 other than Exotel: for each provider, the
//! request it must receive (path and exact `Authorization` value, computed here and not
//! by the code under test), its documented success body, its error body, and the config
//! keys and `AccountConfig` that point an account at a stand-in.

use std::time::Duration;

use balance_alert::config::Secret;
use balance_alert::core::Thresholds;
use balance_alert::provider::AccountConfig;
use balance_alert::provider::ProviderConfig;
use balance_alert::provider::infobip::InfobipConfig;
use balance_alert::provider::plivo::PlivoConfig;
use balance_alert::provider::telnyx::TelnyxConfig;
use balance_alert::provider::twilio::TwilioConfig;
use balance_alert::provider::vonage::VonageConfig;
use wiremock::{Mock, MockServer, Respond, ResponseTemplate, matchers};

/// One provider as the tests see it.
#[derive(Debug, Clone, Copy)]
pub struct Provider {
    pub name: &'static str,
    /// The identifier events carry as `sid` (the account name for Telnyx, Infobip).
    pub id: Option<&'static str>,
    /// The secret: the token, secret or key.
    pub secret: &'static str,
    pub path: &'static str,
    /// The exact `Authorization` value.
    pub authorization: &'static str,
    /// The currency of amounts in [`Provider::body`] (from the body or the default).
    pub currency: &'static str,
    /// Where the amount goes, as a format with `{amount}` for the literal.
    body_template: &'static str,
    /// The provider's error body, and the text it must surface.
    pub error_body: &'static str,
    pub error_text: &'static str,
}

pub const TWILIO: Provider = Provider {
    name: "twilio",
    id: Some("AC0123456789abcdef"),
    secret: "twilio-auth-token-5ecret",
    path: "/2010-04-01/Accounts/AC0123456789abcdef/Balance.json",
    // base64("AC0123456789abcdef:twilio-auth-token-5ecret")
    authorization: "Basic QUMwMTIzNDU2Nzg5YWJjZGVmOnR3aWxpby1hdXRoLXRva2VuLTVlY3JldA==",
    currency: "USD",
    body_template: r#"{"account_sid":"AC0123456789abcdef","balance":{amount},"currency":"USD","uri":"/x"}"#,
    error_body: r#"{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}"#,
    error_text: "Authenticate (code 20003)",
};

pub const PLIVO: Provider = Provider {
    name: "plivo",
    id: Some("MA0123456789ABCDEFGH"),
    secret: "plivo-auth-token-5ecret",
    path: "/v1/Account/MA0123456789ABCDEFGH/",
    // base64("MA0123456789ABCDEFGH:plivo-auth-token-5ecret")
    authorization: "Basic TUEwMTIzNDU2Nzg5QUJDREVGR0g6cGxpdm8tYXV0aC10b2tlbi01ZWNyZXQ=",
    currency: "USD",
    body_template: r#"{"account_type":"standard","auth_id":"MA0123456789ABCDEFGH","auto_recharge":false,"billing_mode":"prepaid","cash_credits":{amount},"resource_uri":"/v1/Account/MA0123456789ABCDEFGH/"}"#,
    error_body: r#"{"api_id":"5a9fcb68-0c5b-11ef-a8d1-0242ac110002","error":"authentication failed"}"#,
    error_text: "authentication failed",
};

pub const VONAGE: Provider = Provider {
    name: "vonage",
    id: Some("abcd1234"),
    secret: "vonage-api-5ecret",
    path: "/account/get-balance",
    // base64("abcd1234:vonage-api-5ecret")
    authorization: "Basic YWJjZDEyMzQ6dm9uYWdlLWFwaS01ZWNyZXQ=",
    currency: "EUR",
    body_template: r#"{"value":{amount},"autoReload":false}"#,
    error_body: r#"{"error-code":"401","error-code-label":"authentication failed"}"#,
    error_text: "authentication failed (code 401)",
};

pub const TELNYX: Provider = Provider {
    name: "telnyx",
    id: None,
    secret: "KEY0123456789TELNYXsecret",
    path: "/v2/balance",
    authorization: "Bearer KEY0123456789TELNYXsecret",
    currency: "USD",
    body_template: r#"{"data":{"balance":"1.00","credit_limit":"0.00","available_credit":{amount},"currency":"USD","pending":"0.00","record_type":"balance"}}"#,
    error_body: r#"{"errors":[{"code":"10009","title":"Authentication failed","detail":"The API key looks malformed.","meta":{"url":"https://developers.telnyx.com/docs/overview/errors/10009"}}]}"#,
    error_text: "Authentication failed: The API key looks malformed. (code 10009)",
};

pub const INFOBIP: Provider = Provider {
    name: "infobip",
    id: None,
    secret: "infobip-app-key-0123456789",
    path: "/account/1/balance",
    authorization: "App infobip-app-key-0123456789",
    currency: "EUR",
    body_template: r#"{"balance":{amount},"currency":"EUR"}"#,
    error_body: r#"{"requestError":{"serviceException":{"messageId":"UNAUTHORIZED","text":"Invalid login details"}}}"#,
    error_text: "Invalid login details (code UNAUTHORIZED)",
};

pub const ALL: [Provider; 5] = [TWILIO, PLIVO, VONAGE, TELNYX, INFOBIP];

impl Provider {
    /// The success body with `literal` (a JSON number or string) as the amount.
    pub fn body(&self, literal: &str) -> String {
        self.body_template.replace("{amount}", literal)
    }

    /// A 200 with the body for `literal`.
    pub fn ok(&self, literal: &str) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_raw(self.body(literal), "application/json")
    }

    /// The provider's error body with `status`.
    pub fn error(&self, status: u16) -> ResponseTemplate {
        ResponseTemplate::new(status).set_body_raw(self.error_body, "application/json")
    }

    /// The `sid` events carry for an account named `name`.
    pub fn sid<'a>(&self, name: &'a str) -> &'a str {
        self.id.unwrap_or(name)
    }

    /// The provider's keys of an account pointed at `base`, as TOML lines.
    pub fn toml_keys(&self, base: &str) -> String {
        let secret = self.secret;
        let keys = match self.name {
            "twilio" => format!(
                "account_sid = \"{}\"\nauth_token = \"{secret}\"",
                self.id.unwrap()
            ),
            "plivo" => format!(
                "auth_id = \"{}\"\nauth_token = \"{secret}\"",
                self.id.unwrap()
            ),
            "vonage" => format!(
                "api_key = \"{}\"\napi_secret = \"{secret}\"",
                self.id.unwrap()
            ),
            "telnyx" | "infobip" => format!("api_key = \"{secret}\""),
            other => panic!("no such provider {other}"),
        };
        format!(
            "provider = \"{}\"\n{keys}\nbase_url = \"{base}\"\n",
            self.name
        )
    }

    /// An account of this provider pointed at `base`, no thresholds.
    pub fn account(&self, name: &str, base: &str) -> AccountConfig {
        let base_url = base.trim_end_matches('/').to_string();
        let secret = Secret::new(self.secret);
        let provider = match self.name {
            "twilio" => ProviderConfig::Twilio(TwilioConfig {
                account_sid: self.id.unwrap().into(),
                auth_token: secret,
                base_url,
                currency: None,
            }),
            "plivo" => ProviderConfig::Plivo(PlivoConfig {
                auth_id: self.id.unwrap().into(),
                auth_token: secret,
                base_url,
                currency: None,
            }),
            "vonage" => ProviderConfig::Vonage(VonageConfig {
                api_key: self.id.unwrap().into(),
                api_secret: secret,
                base_url,
                currency: None,
            }),
            "telnyx" => ProviderConfig::Telnyx(TelnyxConfig {
                api_key: secret,
                base_url,
                currency: None,
            }),
            "infobip" => ProviderConfig::Infobip(InfobipConfig {
                api_key: secret,
                base_url,
                currency: None,
            }),
            other => panic!("no such provider {other}"),
        };
        AccountConfig {
            labels: Default::default(),
            name: name.into(),
            provider,
            poll_interval: Duration::from_secs(300),
            repeat_every: None,
            blind_after: Duration::from_secs(900),
            timeout: Duration::from_secs(5),
            ca_file: None,
            notify: Vec::new(),
            thresholds: Thresholds::default(),
            runway: Default::default(),
            topup_min: rust_decimal::Decimal::ONE,
            escalate: Vec::new(),
        }
    }

    /// A stand-in that answers the provider's balance request (exact path and
    /// `Authorization`) from `responder`; anything else gets wiremock's 404.
    pub async fn stand_in(&self, responder: impl Respond + 'static) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(matchers::method("GET"))
            .and(matchers::path(self.path))
            .and(matchers::header("authorization", self.authorization))
            .respond_with(responder)
            .mount(&server)
            .await;
        server
    }
}
