//! Where `${VAR}` and `*_file` values come from ([`Env`], injected so parsing is pure)
//! and the `${VAR}` / `$$` expansion itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::raw::{Node, line_col};

/// Where `${VAR}` and `_file` values come from; injected so [`crate::settings::parse`] is pure.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
    fn read_file(&self, path: &Path) -> std::io::Result<String>;
}

/// The process environment and file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn read_file(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
}

/// A fixed environment for tests.
#[derive(Debug, Default, Clone)]
pub struct MapEnv {
    pub vars: BTreeMap<String, String>,
    pub files: BTreeMap<PathBuf, String>,
}

impl Env for MapEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
    fn read_file(&self, path: &Path) -> std::io::Result<String> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"))
    }
}

/// Replaces `${VAR}` and `$$`; the bool says whether a variable was used. The error is
/// the message; the caller knows where the value was.
pub fn expand(raw: &str, env: &dyn Env) -> Result<(String, bool), String> {
    let mut out = String::with_capacity(raw.len());
    let mut used_var = false;
    let mut rest = raw;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(after) = after.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(after) = after.strip_prefix('{') {
            let Some(end) = after.find('}') else {
                return Err("unterminated ${ (write $$ for a literal $)".to_owned());
            };
            let name = &after[..end];
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!("invalid environment variable name ${{{name}}}"));
            }
            let Some(value) = env.var(name) else {
                return Err(format!("environment variable {name} is not set"));
            };
            out.push_str(&value);
            used_var = true;
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok((out, used_var))
}

/// `NAME (line N)` for each `${NAME}` in any string value that `env` does not set, in
/// file order, except the one `already` names.
pub(crate) fn unset_variables(text: &str, env: &dyn Env, already: &str) -> Vec<String> {
    fn walk(node: &Spanned<Node>, out: &mut Vec<(usize, String)>) {
        match node.get_ref() {
            Node::Table(entries) => entries.iter().for_each(|(_, n)| walk(n, out)),
            Node::Array(items) => items.iter().for_each(|n| walk(n, out)),
            Node::Str(s) => {
                let mut rest = s.as_str();
                while let Some(pos) = rest.find('$') {
                    let after = &rest[pos + 1..];
                    if let Some(after) = after.strip_prefix('$') {
                        rest = after;
                    } else if let Some(name_end) = after
                        .strip_prefix('{')
                        .and_then(|a| a.find('}').map(|e| (a, e)))
                    {
                        let (a, end) = name_end;
                        out.push((node.span().start, a[..end].to_string()));
                        rest = &a[end + 1..];
                    } else {
                        rest = after;
                    }
                }
            }
            Node::Datetime | Node::Other => {}
        }
    }
    let Ok(doc) = super::raw::parse(text) else {
        return Vec::new();
    };
    let tree = super::raw::tree(&doc);
    let mut found = Vec::new();
    walk(&tree, &mut found);
    let mut seen = BTreeSet::new();
    found
        .into_iter()
        .filter(|(_, name)| env.var(name).is_none())
        .filter(|(_, name)| !already.contains(&format!("variable {name} is")))
        .filter(|(_, name)| seen.insert(name.clone()))
        .map(|(at, name)| format!("{name} (line {})", line_col(text, at).0))
        .collect()
}
