//! Reading JSON bodies the way every provider needs: values kept as their literal text
//! so amounts stay exact, keys matched case-insensitively, an HTML error page or a
//! cut-off snippet summed up in one line for the operator.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::value::RawValue;

use super::BodyError;
use crate::core::{DecimalError, exact_decimal};
use crate::http;

/// Exact key first, then case-insensitive: Exotel documents PascalCase, but nothing is
/// lost by also accepting `message` or `balance`.
pub(super) fn get_ci<'a>(
    map: &'a serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Option<&'a serde_json::Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// [`get_ci`] for a map of raw values.
pub(super) fn lookup_raw<'a>(
    map: &BTreeMap<String, &'a RawValue>,
    key: &str,
) -> Option<&'a RawValue> {
    map.get(key).copied().or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
    })
}

pub(super) enum ObjectError {
    NotJson(String),
    NotObject,
    /// The same key twice in one object, anywhere in the document: which value counts
    /// is anyone's guess, so the body is bad (SPEC §17).
    DuplicateKey(String),
}

/// One level of a JSON object with its values left as raw text. The whole document is
/// first checked for duplicate keys.
pub(super) fn object(text: &str) -> Result<BTreeMap<String, &RawValue>, ObjectError> {
    if let Err(key) = unique_keys(text) {
        return Err(ObjectError::DuplicateKey(key));
    }
    match serde_json::from_str::<BTreeMap<String, &RawValue>>(text) {
        Ok(map) => Ok(map),
        Err(e) if e.is_data() => Err(ObjectError::NotObject),
        Err(e) => Err(ObjectError::NotJson(e.to_string())),
    }
}

/// Walks a JSON document; `Err(key)` for the first key that appears twice in one
/// object. Anything that is not JSON passes here (the parse that follows says why).
pub(super) fn unique_keys(text: &str) -> Result<(), String> {
    use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
    struct Walk;
    impl<'de> DeserializeSeed<'de> for Walk {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> Visitor<'de> for Walk {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(Walk)?.is_some() {}
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if !seen.insert(key.to_string()) {
                    return Err(A::Error::custom(DUPLICATE.to_string() + &key));
                }
                map.next_value_seed(Walk)?;
            }
            Ok(())
        }
    }
    const DUPLICATE: &str = "\u{0}duplicate:";
    let mut de = serde_json::Deserializer::from_str(text);
    match Walk.deserialize(&mut de) {
        Err(e) => {
            let message = e.to_string();
            match message.strip_prefix(DUPLICATE) {
                // serde_json appends " at line L column C".
                Some(rest) => Err(rest
                    .rsplit_once(" at line ")
                    .map_or(rest, |(k, _)| k)
                    .to_string()),
                None => Ok(()),
            }
        }
        Ok(()) => Ok(()),
    }
}

/// Reads an amount from its literal JSON text: a number, or a string holding one.
pub(super) fn parse_amount(field: &'static str, raw: &RawValue) -> Result<Decimal, BodyError> {
    let literal = raw.get();
    let text = if literal.starts_with('"') {
        // A string: unescape it, then it must hold a plain decimal literal.
        let s: String = serde_json::from_str(literal).map_err(|_| not_a_number(field, literal))?;
        s.trim().to_string()
    } else {
        literal.to_string()
    };
    match exact_decimal(&text) {
        Ok(d) => Ok(d),
        Err(DecimalError::NotANumber) => Err(not_a_number(field, literal)),
        Err(DecimalError::OutOfRange) => Err(BodyError::OutOfRange {
            field,
            value: truncate(literal, 60),
        }),
    }
}

pub(super) fn not_a_number(field: &'static str, literal: &str) -> BodyError {
    BodyError::NotANumber {
        field,
        value: one_line(&truncate(literal, 60)),
    }
}

/// The currency, when present: it decides whether thresholds apply, so a currency that
/// is there but is not a string is an error rather than silently ignored.
pub(super) fn currency(
    map: &BTreeMap<String, &RawValue>,
    field: &'static str,
) -> Result<Option<String>, BodyError> {
    let Some(raw) = lookup_raw(map, "Currency") else {
        return Ok(None);
    };
    match serde_json::from_str::<Option<String>>(raw.get()) {
        Ok(Some(s)) => {
            let s = s.trim();
            Ok((!s.is_empty()).then(|| s.to_string()))
        }
        Ok(None) => Ok(None),
        Err(_) => Err(BodyError::NotAString {
            field,
            value: one_line(&truncate(raw.get(), 60)),
        }),
    }
}

/// An informational field (plan, date): a string as is, a number as written, anything
/// else ignored, because a cosmetic field must not fail the poll.
pub(super) fn optional_text(map: &BTreeMap<String, &RawValue>, key: &str) -> Option<String> {
    let raw = lookup_raw(map, key)?;
    let text = match serde_json::from_str::<serde_json::Value>(raw.get()).ok()? {
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(_) => raw.get().to_string(),
        _ => return None,
    };
    let text = one_line(&truncate(&text, 200));
    (!text.is_empty()).then_some(text)
}

pub(super) fn describe_keys(top: &BTreeMap<String, &RawValue>) -> String {
    if top.is_empty() {
        return "an empty object".into();
    }
    let keys: Vec<String> = top.keys().take(5).map(|k| truncate(k, 40)).collect();
    let more = if top.len() > keys.len() { ", …" } else { "" };
    format!("keys {}{more}", keys.join(", "))
}

pub(super) fn strip_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body)
}

pub(super) fn looks_like_html(text: &str) -> bool {
    let start: String = text.trim_start().chars().take(15).collect();
    let start = start.to_ascii_lowercase();
    start.starts_with("<!doctype html") || start.starts_with("<html")
}

/// An HTML error page (a proxy's 502, a login portal) summed up by its `<title>`.
pub(super) fn html_summary(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let title_at = lower.find("<title>").map(|i| i + "<title>".len());
    if let Some((start, len)) =
        title_at.and_then(|start| lower[start..].find("</title>").map(|len| (start, len)))
    {
        let title = one_line(&truncate(&text[start..start + len], 100));
        if !title.is_empty() {
            return format!("title \"{title}\"");
        }
    }
    one_line(&http::snippet(text.as_bytes()))
}

/// Collapses whitespace runs (newlines included) so a message stays one log line.
pub(super) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(super) fn truncate(text: &str, max_chars: usize) -> String {
    let mut out: String = text.chars().take(max_chars).collect();
    if text.chars().count() > max_chars {
        out.push('…');
    }
    out
}
