//! The raw layer: what serde reads, and a schema-free spanned tree of the same text.
//!
//! Every field is optional and spanned so that a missing or bad value is reported by
//! the validation code, at its line, with its key; serde itself only catches syntax,
//! unknown keys of fixed tables and gross type mismatches (which carry spans too).
//!
//! `[[account]]` and `[[channel]]` tables are read twice: first their common keys
//! (`RawAccount`, `RawChannel`), then, in `read_tables`, the keys of the provider
//! or channel type each names, into a struct that type's own file declares. Keys that
//! belong to neither are found on the `Node` tree (by `settings`).

use std::fmt;

use serde::Deserialize;
use serde::de::DeserializeOwned;
#[cfg(test)]
use serde::de::Visitor;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// An optional spanned value, the type of every raw field.
pub type Opt<T> = Option<Spanned<T>>;
/// A spanned list of spanned strings (`to`, `notify`).
pub type StrList = Spanned<Vec<Spanned<String>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    pub daemon: Opt<RawDaemon>,
    #[serde(default)]
    pub account: Vec<Spanned<RawAccount>>,
    #[serde(default)]
    pub channel: Vec<Spanned<RawChannel>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDaemon {
    pub state_file: Opt<String>,
    pub listen: Opt<String>,
    pub log_format: Opt<String>,
    pub give_up_after: Opt<RawDuration>,
    pub timezone: Opt<String>,
    pub shutdown_grace: Opt<RawDuration>,
    pub summary_at: Opt<String>,
    pub instance: Opt<String>,
    pub shard: Opt<RawShard>,
    pub heartbeat: Opt<RawHeartbeat>,
    pub web: Opt<crate::web::config::RawWeb>,
    pub admin_token: Opt<String>,
    pub admin_token_file: Opt<String>,
}

/// `[daemon] shard = { index, count }` (SPEC §11.3).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawShard {
    pub index: Opt<i64>,
    pub count: Opt<i64>,
}

/// `[daemon] heartbeat = { url, every, fail_url }` (SPEC §11.2).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHeartbeat {
    pub url: Opt<String>,
    pub url_file: Opt<String>,
    pub every: Opt<RawDuration>,
    pub fail_url: Opt<String>,
    pub fail_url_file: Opt<String>,
}

/// The keys every `[[account]]` has, whatever its provider; the provider's own keys are
/// read by [`read_tables`] into its file's struct.
#[derive(Deserialize)]
pub(crate) struct RawAccount {
    pub name: Opt<String>,
    pub provider: Opt<String>,
    pub poll_interval: Opt<RawDuration>,
    pub repeat_every: Opt<RawDuration>,
    pub blind_after: Opt<RawDuration>,
    pub timeout: Opt<RawDuration>,
    pub ca_file: Opt<String>,
    pub notify: Option<StrList>,
    pub warning: Opt<RawThreshold>,
    pub critical: Opt<RawThreshold>,
    pub runway: Opt<RawRunway>,
    pub topup_min: Opt<RawNumber>,
    pub labels: Opt<std::collections::BTreeMap<String, Spanned<String>>>,
    pub escalate: Opt<Vec<Spanned<RawEscalation>>>,
}

/// `runway = { window, floor, warning = {below, clear_above}, critical = {…} }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRunway {
    pub window: Opt<RawDuration>,
    pub floor: Opt<RawNumber>,
    pub warning: Opt<RawRunwayThreshold>,
    pub critical: Opt<RawRunwayThreshold>,
}

/// A runway latch: durations instead of amounts.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRunwayThreshold {
    pub below: Opt<RawDuration>,
    pub clear_above: Opt<RawDuration>,
}

/// One escalation step, `{ after = "30m", level = "critical", to = ["oncall"] }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEscalation {
    pub after: Opt<RawDuration>,
    pub level: Opt<String>,
    pub to: Option<StrList>,
}

/// The keys of `[[account]]` besides the provider's, in the order errors list them.
pub(crate) const ACCOUNT_KEYS: &[&str] = &[
    "poll_interval",
    "repeat_every",
    "blind_after",
    "timeout",
    "ca_file",
    "notify",
    "warning",
    "critical",
    "runway",
    "topup_min",
    "labels",
    "escalate",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawThreshold {
    pub below: Opt<RawNumber>,
    pub clear_above: Opt<RawNumber>,
}

/// The keys every `[[channel]]` has; the type's own keys are read by [`read_tables`]
/// into its file's struct.
#[derive(Deserialize)]
pub(crate) struct RawChannel {
    pub name: Opt<String>,
    #[serde(rename = "type")]
    pub kind: Opt<String>,
    pub min_level: Opt<String>,
    pub events: Option<StrList>,
    pub quiet_hours: Option<StrList>,
}

/// A duration as written (`"5m"`); its own type so a wrong type says what is wanted.
pub struct RawDuration(pub String);

impl<'de> Deserialize<'de> for RawDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = RawDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string like \"5m\" or \"1h 30m\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawDuration, E> {
                Ok(RawDuration(v.to_owned()))
            }
        }
        d.deserialize_str(V)
    }
}

/// A threshold amount as written: integers and strings are exact, floats are not.
pub enum RawNumber {
    Int(i64),
    Float(f64),
    Text(String),
}

impl<'de> Deserialize<'de> for RawNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = RawNumber;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a decimal string like \"1000.50\"")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawNumber, E> {
                Ok(RawNumber::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawNumber, E> {
                Ok(RawNumber::Text(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<RawNumber, E> {
                Ok(RawNumber::Float(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawNumber, E> {
                Ok(RawNumber::Text(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------------------
// A schema-free tree of the document with spans: it names the key behind an error that
// serde reports with a span but no path (wrong type, unknown key), and finds the keys
// of an account or channel that neither the common part nor its type declares.

pub(crate) enum Node {
    Table(Vec<(String, Spanned<Node>)>),
    Array(Vec<Spanned<Node>>),
    Str(String),
    Datetime,
    Other,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any TOML value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
                Ok(Node::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
                Ok(Node::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
                Ok(Node::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
                Ok(Node::Other)
            }
            fn visit_str<E>(self, v: &str) -> Result<Node, E> {
                Ok(Node::Str(v.to_owned()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = a.next_element()? {
                    items.push(item);
                }
                Ok(Node::Array(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = a.next_key::<String>()? {
                    // toml presents a datetime as a one-entry map whose value is not
                    // spanned; it is a leaf here.
                    if key.starts_with("$__toml_private") {
                        let _: serde::de::IgnoredAny = a.next_value()?;
                        return Ok(Node::Datetime);
                    }
                    entries.push((key, a.next_value()?));
                }
                Ok(Node::Table(entries))
            }
        }
        d.deserialize_any(V)
    }
}

/// The dotted key path of the deepest value whose span holds `offset`, in the same form
/// the validator uses (`account[0].warning.below`, `channel "ops".to[1]`).
pub(crate) fn key_at(root: &Node, offset: usize) -> String {
    fn walk(node: &Node, offset: usize, top: Option<&str>, out: &mut Vec<String>) -> bool {
        match node {
            Node::Table(entries) => {
                for (key, value) in entries {
                    // Only a top-level `channel` array names its items by `name`.
                    let top_key = out.is_empty().then_some(key.as_str());
                    out.push(format!(".{key}"));
                    if walk(value.get_ref(), offset, top_key, out) || contains(value, offset) {
                        return true;
                    }
                    out.pop();
                }
                false
            }
            Node::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let segment = match (top, item.get_ref()) {
                        (Some("channel"), Node::Table(entries)) => {
                            match entries.iter().find(|(k, _)| k == "name") {
                                Some((_, name)) => match name.get_ref() {
                                    Node::Str(name) => format!(" \"{name}\""),
                                    _ => format!("[{i}]"),
                                },
                                None => format!("[{i}]"),
                            }
                        }
                        _ => format!("[{i}]"),
                    };
                    out.push(segment);
                    if walk(item.get_ref(), offset, None, out) || contains(item, offset) {
                        return true;
                    }
                    out.pop();
                }
                false
            }
            Node::Str(_) | Node::Datetime | Node::Other => false,
        }
    }
    fn contains(node: &Spanned<Node>, offset: usize) -> bool {
        let span = node.span();
        span.start <= offset && offset < span.end.max(span.start + 1)
    }
    let mut out = Vec::new();
    walk(root, offset, None, &mut out);
    out.concat().trim_start_matches('.').to_owned()
}

/// Where the value of the entry `field` whose key starts at `key_offset` begins: serde
/// reports an unknown key at the key itself, which lies in no value's span (and a
/// `[table]`'s span is its header only), so [`key_at`] alone cannot name its table.
pub(crate) fn value_of_key(
    node: &Spanned<Node>,
    text: &str,
    field: &str,
    key_offset: usize,
) -> Option<usize> {
    match node.get_ref() {
        Node::Table(entries) => entries.iter().find_map(|(k, v)| {
            if k == field && key_start(text, v.span().start) == key_offset {
                Some(v.span().start)
            } else {
                value_of_key(v, text, field, key_offset)
            }
        }),
        Node::Array(items) => items
            .iter()
            .find_map(|v| value_of_key(v, text, field, key_offset)),
        Node::Str(_) | Node::Datetime | Node::Other => None,
    }
}

/// True when the value at `offset` is a TOML date or time, which serde reports
/// confusingly (as a table or a string).
pub(crate) fn datetime_at(node: &Spanned<Node>, offset: usize) -> bool {
    let span = node.span();
    match node.get_ref() {
        Node::Datetime => span.start <= offset && offset < span.end,
        Node::Table(entries) => entries.iter().any(|(_, v)| datetime_at(v, offset)),
        Node::Array(items) => items.iter().any(|v| datetime_at(v, offset)),
        Node::Str(_) | Node::Other => false,
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// Rewrites serde's wording into TOML's and drops the offending value: a secret given as
/// the wrong type must not be echoed into an error.
pub(crate) fn describe_serde_error(message: &str) -> String {
    fn kind(found: &str) -> &str {
        let found = found.split([' ', '`', '"']).next().unwrap_or(found);
        match found {
            "sequence" => "an array",
            "map" => "a table",
            "floating" => "a float",
            "integer" => "an integer",
            "string" => "a string",
            "boolean" => "a boolean",
            other => other,
        }
    }
    fn expected(what: &str) -> String {
        let what = what.trim();
        if what.starts_with("struct ") {
            "a table".to_owned()
        } else if what == "a sequence" {
            "an array".to_owned()
        } else if what == "a map" {
            "a table".to_owned()
        } else if matches!(
            what,
            "u8" | "u16" | "u32" | "u64" | "i8" | "i16" | "i32" | "i64"
        ) {
            "an integer".to_owned()
        } else {
            what.to_owned()
        }
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            if let Some((found, wanted)) = rest.rsplit_once(", expected ") {
                return if prefix == "invalid type: " {
                    format!("expected {}, found {}", expected(wanted), kind(found))
                } else {
                    format!("invalid value: expected {}", expected(wanted))
                };
            }
        }
    }
    message
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The entries of the `index`-th table of the top-level array `section` (`account`,
/// `channel`): each key with its value.
pub(crate) fn table_entries<'a>(
    root: &'a Node,
    section: &str,
    index: usize,
) -> &'a [(String, Spanned<Node>)] {
    let Node::Table(top) = root else { return &[] };
    let Some((_, array)) = top.iter().find(|(k, _)| k == section) else {
        return &[];
    };
    match array.get_ref() {
        Node::Array(items) => match items.get(index).map(Spanned::get_ref) {
            Some(Node::Table(entries)) => entries,
            _ => &[],
        },
        _ => &[],
    }
}

/// Where the key of the `key = value` whose value starts at `value_start` begins: the
/// spanned tree knows where values are, and an unknown key is reported at its key.
pub(crate) fn key_start(text: &str, value_start: usize) -> usize {
    let before = &text[..value_start.min(text.len())];
    let Some(eq) = before.rfind('=') else {
        return value_start;
    };
    let key = before[..eq].trim_end();
    let start = key.rfind(['\n', '{', ',']).map_or(0, |i| i + 1);
    start + (key.len() - start - key[start..].trim_start().len())
}

/// Reads the tables of the top-level array `section` whose `wanted` entry is true as
/// `T`, with spans (the others are skipped): the second read of `[[account]]` and
/// `[[channel]]`, into the struct of the provider or channel type that owns their keys.
/// Reads the document parsed once by [`parse`], not the text again, and takes each
/// table it reads out of it (every table belongs to one type, so it is read once):
/// no copy of 10,000 tables is made.
pub(crate) fn read_tables<T: DeserializeOwned>(
    doc: &mut Doc<'_>,
    section: &str,
    wanted: &[bool],
) -> Result<Vec<Option<Spanned<T>>>, toml::de::Error> {
    use serde::de::IntoDeserializer as _;
    let Some(DeValue::Array(items)) = doc.get_mut().get_mut(section).map(Spanned::get_mut) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter_mut().enumerate() {
        if wanted.get(i).copied().unwrap_or(false) {
            let taken = Spanned::new(item.span(), DeValue::Boolean(false));
            let taken = std::mem::replace(item, taken);
            out.push(Some(Spanned::<T>::deserialize(taken.into_deserializer())?));
        } else {
            out.push(None);
        }
    }
    Ok(out)
}

/// The document, parsed once ([`parse`]): every typed read deserializes from it, and
/// [`tree`] is built from it, so a 10,000-account file is not parsed once per reader.
pub(crate) type Doc<'a> = Spanned<DeTable<'a>>;

/// Parses the text (TOML syntax only).
pub(crate) fn parse(text: &str) -> Result<Doc<'_>, toml::de::Error> {
    DeTable::parse(text)
}

/// Reads `T` from the whole parsed document.
pub(crate) fn read_doc<T: DeserializeOwned>(doc: &Doc<'_>) -> Result<T, toml::de::Error> {
    T::deserialize(toml::de::Deserializer::from(doc.clone()))
}

/// The schema-free [`Node`] tree of a parsed document.
pub(crate) fn tree(doc: &Doc<'_>) -> Spanned<Node> {
    fn table(t: &DeTable<'_>) -> Node {
        Node::Table(
            t.iter()
                .map(|(k, v)| (k.get_ref().to_string(), value(v)))
                .collect(),
        )
    }
    fn value(v: &Spanned<DeValue<'_>>) -> Spanned<Node> {
        let node = match v.get_ref() {
            DeValue::String(s) => Node::Str(s.to_string()),
            DeValue::Datetime(_) => Node::Datetime,
            DeValue::Array(items) => Node::Array(items.iter().map(value).collect()),
            DeValue::Table(t) => table(t),
            DeValue::Integer(_) | DeValue::Float(_) | DeValue::Boolean(_) => Node::Other,
        };
        Spanned::new(v.span(), node)
    }
    Spanned::new(doc.span(), table(doc.get_ref()))
}

/// The field names serde reads into `T` (what `#[derive(Deserialize)]` declares), so a
/// test can hold a provider's or channel's `FIELDS` to its `Raw` struct.
#[cfg(test)]
pub(crate) fn serde_fields<T: DeserializeOwned>() -> Vec<&'static str> {
    use serde::de::Error as _;
    use serde::de::value::Error;
    struct Capture<'a>(&'a mut Vec<&'static str>);
    impl<'de> serde::Deserializer<'de> for Capture<'_> {
        type Error = Error;
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Error> {
            self.0.extend(fields);
            Err(Error::custom("fields captured"))
        }
        fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Error> {
            Err(Error::custom("not a struct"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut fields = Vec::new();
    let _ = T::deserialize(Capture(&mut fields));
    fields
}
