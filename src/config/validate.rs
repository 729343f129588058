//! The shared validation helpers: [`Ctx`] turns raw spanned values into typed ones
//! (strings, lists, choices, durations, decimals, secrets, URLs, CA files, names) and
//! every failure into a [`ConfigError`] at the value's line and column, with its key.
//! The daemon section, the account keys, every provider and every channel call these.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;
use toml::Spanned;

use super::env::{self, Env};
use serde::de::DeserializeOwned;

use super::raw::{
    Node, Opt, RawDuration, RawNumber, StrList, datetime_at, describe_serde_error, key_at,
    line_col, read_tables, value_of_key,
};
use super::secret::Secret;
use super::{ConfigError, MAX_DURATION};

/// Validation state: where errors point and what was learned on the way.
pub struct Ctx<'a> {
    pub(crate) text: &'a str,
    pub(crate) path: &'a Path,
    pub(crate) env: &'a dyn Env,
    /// Keys of secrets written inline in the file (for the permission warning).
    pub(crate) literal_secrets: Vec<String>,
    pub(crate) warnings: Vec<String>,
    /// The schema-free read of `text`: names the key behind a serde error.
    pub(crate) tree: Spanned<Node>,
    /// The document, parsed once; the typed reads of each provider and channel type.
    pub(crate) doc: super::raw::Doc<'a>,
}

/// A validation result.
pub type Res<T> = Result<T, ConfigError>;

impl Ctx<'_> {
    pub fn err(
        &self,
        span: Option<Range<usize>>,
        key: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        let (line, column) = match span {
            Some(span) => {
                let (line, column) = line_col(self.text, span.start);
                (Some(line), Some(column))
            }
            None => (None, None),
        };
        ConfigError {
            file: self.path.to_path_buf(),
            line,
            column,
            key: (!key.is_empty()).then(|| key.to_owned()),
            message: message.into(),
        }
    }

    /// A non-fatal finding, printed by `validate` and logged at start.
    pub fn warn(&mut self, warning: impl Into<String>) {
        self.warnings.push(warning.into());
    }

    /// Records that the secret at `key` is written inline in the file.
    pub fn literal_secret(&mut self, key: impl Into<String>) {
        self.literal_secrets.push(key.into());
    }

    /// Names are unique per kind: the second use is an error pointing at the first.
    /// `seen` maps each name to where it was first written (a byte offset): the line is
    /// worked out only for an error, since counting lines from the top of the file for
    /// every name made loading 10,000 accounts quadratic (9.8 s).
    pub(crate) fn unique(
        &self,
        seen: &mut HashMap<String, usize>,
        kind: &str,
        name: &str,
        span: Range<usize>,
        base: &str,
    ) -> Result<(), ConfigError> {
        if let Some(first) = seen.get(name) {
            let first = line_col(self.text, *first).0;
            return Err(self.err(
                Some(span),
                &format!("{base}.name"),
                format!("duplicate {kind} name \"{name}\" (first on line {first})"),
            ));
        }
        seen.insert(name.to_string(), span.start);
        Ok(())
    }

    /// A required field, or an error at the enclosing table.
    pub fn required<'r, T>(
        &self,
        v: &'r Opt<T>,
        table: &Range<usize>,
        key: &str,
    ) -> Res<&'r Spanned<T>> {
        v.as_ref()
            .ok_or_else(|| self.err(Some(table.clone()), key, "missing required key"))
    }

    /// Replaces `${VAR}` and `$$`; the bool says whether a variable was used.
    pub fn expand(&self, raw: &str, span: &Range<usize>, key: &str) -> Res<(String, bool)> {
        env::expand(raw, self.env).map_err(|message| self.err(Some(span.clone()), key, message))
    }

    /// An expanded string that must not be empty.
    pub fn string(&self, v: &Spanned<String>, key: &str) -> Res<String> {
        let (value, _) = self.expand(v.get_ref(), &v.span(), key)?;
        if value.trim().is_empty() {
            return Err(self.err(Some(v.span()), key, "must not be empty"));
        }
        Ok(value)
    }

    pub fn opt_string(&self, v: &Opt<String>, key: &str) -> Res<Option<String>> {
        v.as_ref().map(|v| self.string(v, key)).transpose()
    }

    /// A non-empty list of non-empty strings.
    pub fn list(&self, v: &StrList, key: &str) -> Res<Vec<String>> {
        if v.get_ref().is_empty() {
            return Err(self.err(Some(v.span()), key, "must list at least one entry"));
        }
        v.get_ref()
            .iter()
            .enumerate()
            .map(|(i, item)| self.string(item, &format!("{key}[{i}]")))
            .collect()
    }

    /// One of the names in `choices`.
    pub fn choice<T: Copy>(&self, v: &Spanned<String>, key: &str, choices: &[(&str, T)]) -> Res<T> {
        let value = self.string(v, key)?;
        choices
            .iter()
            .find(|(name, _)| *name == value)
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
                self.err(
                    Some(v.span()),
                    key,
                    format!(
                        "unknown value \"{value}\": expected one of {}",
                        names.join(", ")
                    ),
                )
            })
    }

    pub fn duration(&self, v: &Spanned<RawDuration>, key: &str) -> Res<Duration> {
        let (text, _) = self.expand(&v.get_ref().0, &v.span(), key)?;
        let d = humantime::parse_duration(text.trim()).map_err(|e| {
            self.err(
                Some(v.span()),
                key,
                format!("bad duration \"{text}\": {e} (write e.g. \"90s\", \"5m\", \"1h 30m\")"),
            )
        })?;
        // Timers add durations to "now"; absurd values would overflow them.
        if d > MAX_DURATION {
            return Err(self.err(Some(v.span()), key, "must be at most 365 days"));
        }
        Ok(d)
    }

    /// An optional duration with a default, which must be greater than zero.
    pub fn positive_duration(
        &self,
        v: &Opt<RawDuration>,
        key: &str,
        default: Duration,
    ) -> Res<Duration> {
        let Some(v) = v else { return Ok(default) };
        let d = self.duration(v, key)?;
        if d.is_zero() {
            return Err(self.err(Some(v.span()), key, "must be greater than zero"));
        }
        Ok(d)
    }

    pub fn decimal(&self, v: &Spanned<RawNumber>, key: &str) -> Res<Decimal> {
        let bad = |what: &str| {
            self.err(
                Some(v.span()),
                key,
                format!("bad decimal {what} (write a number or a string like \"1000.50\")"),
            )
        };
        match v.get_ref() {
            RawNumber::Int(i) => Ok(Decimal::from(*i)),
            RawNumber::Float(f) => {
                if !f.is_finite() {
                    return Err(bad(&f.to_string()));
                }
                // Display gives the shortest form that round-trips, so 0.1 is 0.1.
                Decimal::from_str(&f.to_string()).map_err(|_| bad(&f.to_string()))
            }
            RawNumber::Text(t) => {
                let (t, _) = self.expand(t, &v.span(), key)?;
                crate::core::exact_decimal(t.trim()).map_err(|_| bad(&format!("\"{t}\"")))
            }
        }
    }

    /// A secret given inline or as `<field>_file`; exactly one when `required`.
    pub fn secret(
        &mut self,
        inline: &Opt<String>,
        file: &Opt<String>,
        at: &Place<'_>,
        field: &str,
        required: bool,
    ) -> Res<Option<Secret>> {
        let key = at.key(field);
        let file_key = at.key(&format!("{field}_file"));
        match (inline, file) {
            (Some(_), Some(f)) => Err(self.err(
                Some(f.span()),
                &file_key,
                format!("set either {field} or {field}_file, not both"),
            )),
            (None, None) if required => Err(self.err(
                Some(at.table.clone()),
                &key,
                format!("missing required key (or {field}_file)"),
            )),
            (None, None) => Ok(None),
            (Some(v), None) => {
                let (value, used_var) = self.expand(v.get_ref(), &v.span(), &key)?;
                if value.trim().is_empty() {
                    return Err(self.err(Some(v.span()), &key, "must not be empty"));
                }
                if !used_var {
                    self.literal_secrets.push(key);
                }
                Ok(Some(Secret::new(value)))
            }
            (None, Some(f)) => {
                let path = PathBuf::from(self.string(f, &file_key)?);
                let content = self.env.read_file(&path).map_err(|e| {
                    self.err(
                        Some(f.span()),
                        &file_key,
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                let content = content.trim();
                if content.is_empty() {
                    return Err(self.err(
                        Some(f.span()),
                        &file_key,
                        format!("{} is empty", path.display()),
                    ));
                }
                Ok(Some(Secret::new(content)))
            }
        }
    }

    /// An http(s) URL. `secret` URLs (webhooks) are never echoed into an error.
    pub fn http_url(
        &self,
        value: &str,
        span: &Range<usize>,
        key: &str,
        secret: bool,
    ) -> Res<url::Url> {
        let shown = if secret {
            String::new()
        } else {
            format!(" \"{value}\"")
        };
        let url = url::Url::parse(value).map_err(|e| {
            self.err(
                Some(span.clone()),
                key,
                format!("not a valid URL{shown}: {e}"),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(self.err(
                Some(span.clone()),
                key,
                format!("not an http(s) URL{shown}"),
            ));
        }
        Ok(url)
    }

    /// An API base URL: http(s), no credentials, query or fragment; no trailing slash.
    pub fn base_url(&self, v: &Spanned<String>, key: &str) -> Res<String> {
        let value = self.string(v, key)?;
        let url = self.http_url(&value, &v.span(), key, false)?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(self.err(
                Some(v.span()),
                key,
                "must not carry credentials (they are sent in the Authorization header)",
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(self.err(Some(v.span()), key, "must not have a query or fragment"));
        }
        Ok(value.trim().trim_end_matches('/').to_owned())
    }

    /// A PEM file of extra CA certificates, checked now so `validate` catches a typo.
    pub fn ca_file(&self, v: &Opt<String>, key: &str) -> Res<Option<PathBuf>> {
        let Some(v) = v else { return Ok(None) };
        let path = PathBuf::from(self.string(v, key)?);
        let pem = self.env.read_file(&path).map_err(|e| {
            self.err(
                Some(v.span()),
                key,
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        if !pem.contains("-----BEGIN CERTIFICATE-----") {
            return Err(self.err(
                Some(v.span()),
                key,
                format!("{} holds no PEM certificate", path.display()),
            ));
        }
        Ok(Some(path))
    }

    /// A file named by `v`, read now (so `validate` catches a typo): its path and text.
    pub fn file_text(&self, v: &Spanned<String>, key: &str) -> Res<(PathBuf, String)> {
        let path = PathBuf::from(self.string(v, key)?);
        let text = self.env.read_file(&path).map_err(|e| {
            self.err(
                Some(v.span()),
                key,
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        Ok((path, text))
    }

    /// A name (account, channel): non-empty and printable, as it ends up in metrics labels
    /// and messages.
    pub fn name(&self, v: &Spanned<String>, key: &str) -> Res<String> {
        let name = self.string(v, key)?;
        if name.chars().any(char::is_control) || name.trim() != name {
            return Err(self.err(
                Some(v.span()),
                key,
                "must not contain control characters or surrounding spaces",
            ));
        }
        Ok(name)
    }
}

/// Where the keys a provider or channel type validates are: the key prefix its errors
/// carry (`account[0]`, `channel "ops"`) and its table's span (where a missing key is
/// reported).
pub struct Place<'a> {
    pub base: &'a str,
    pub table: Range<usize>,
}

impl Place<'_> {
    /// The dotted key of `field` in this table, e.g. `channel "ops".to`.
    pub fn key(&self, field: &str) -> String {
        format!("{}.{field}", self.base)
    }
}

/// The `[[account]]` or `[[channel]]` tables of a file: for each, the provider or
/// channel type it names (when known) and the key prefix its errors carry.
pub struct Tables {
    pub(crate) section: &'static str,
    pub(crate) kinds: Vec<Option<String>>,
    pub(crate) bases: Vec<String>,
}

/// One table validated by the provider or channel type that owns it. Its warnings and
/// literal secrets are held back so they are reported in file order, and its error only
/// if the table's common keys are fine.
pub struct Checked<T> {
    pub(crate) index: usize,
    /// Taken (left `None`) by [`Ctx::take`].
    pub(crate) result: Option<Res<T>>,
    pub(crate) warnings: Vec<String>,
    pub(crate) literal_secrets: Vec<String>,
}

impl Ctx<'_> {
    /// Reads, as `T`, every table of `tables` whose type is `kind` (one pass over the
    /// text) and validates each with `check(ctx, raw, place)`. Errors of the read itself
    /// (a value of the wrong type) return at once, as serde errors always have.
    pub fn typed_tables<T: DeserializeOwned, U>(
        &mut self,
        tables: &Tables,
        kind: &str,
        mut check: impl FnMut(&mut Self, &T, &Place<'_>) -> Res<U>,
    ) -> Res<Vec<Checked<U>>> {
        let wanted: Vec<bool> = tables
            .kinds
            .iter()
            .map(|k| k.as_deref() == Some(kind))
            .collect();
        if !wanted.contains(&true) {
            return Ok(Vec::new());
        }
        let raws = read_tables::<T>(&mut self.doc, tables.section, &wanted)
            .map_err(|e| self.serde_error(&e))?;
        let mut out = Vec::new();
        for (index, raw) in raws.iter().enumerate() {
            let Some(raw) = raw else { continue };
            let (warnings, literal) = (self.warnings.len(), self.literal_secrets.len());
            let place = Place {
                base: &tables.bases[index],
                table: raw.span(),
            };
            let result = check(self, raw.get_ref(), &place);
            out.push(Checked {
                index,
                result: Some(result),
                warnings: self.warnings.split_off(warnings),
                literal_secrets: self.literal_secrets.split_off(literal),
            });
        }
        Ok(out)
    }

    /// Takes the table at `index` out of `checked`, keeping its findings.
    pub(crate) fn take<T>(&mut self, checked: &mut [Checked<T>], index: usize) -> Res<T> {
        // One type's tables are in index order (10,000 accounts of one provider):
        // binary search, and leave the slot empty, since a linear search with
        // `swap_remove` per table was quadratic in the number of accounts. Several
        // types' tables concatenated are not sorted: then search linearly.
        let at = match checked.binary_search_by_key(&index, |c| c.index) {
            Ok(at) => at,
            Err(_) => checked
                .iter()
                .position(|c| c.index == index)
                .expect("every table of a known type was read"),
        };
        let c = &mut checked[at];
        self.warnings.append(&mut c.warnings);
        self.literal_secrets.append(&mut c.literal_secrets);
        c.result.take().expect("each table is taken once")
    }

    /// A serde error as a [`ConfigError`], in TOML's words and at the key its span is in.
    pub(crate) fn serde_error(&self, e: &toml::de::Error) -> ConfigError {
        let offset = e.span().map_or(0, |s| s.start);
        let mut key = key_at(self.tree.get_ref(), offset);
        let message = e.message();
        let message = match message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split_once('`'))
        {
            Some((field, rest)) => {
                key = match value_of_key(&self.tree, self.text, field, offset) {
                    Some(at) => key_at(self.tree.get_ref(), at),
                    None if key.is_empty() => field.to_owned(),
                    None => format!("{key}.{field}"),
                };
                format!(
                    "unknown key{}",
                    rest.replacen(", expected", "; expected", 1)
                )
            }
            None if datetime_at(&self.tree, offset) => {
                "a date or time is not valid here (put quotes around text)".to_owned()
            }
            None => {
                let mut m = describe_serde_error(message);
                if (key == "account" || key == "channel") && m.starts_with("expected an array") {
                    m = format!("{m} (write [[{key}]] for each entry)");
                }
                m
            }
        };
        self.err(e.span(), &key, message)
    }
}
