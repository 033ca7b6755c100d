//! Options passed to a plugin (`brainscale extract --option key=value`), with typed getters.
//!
//! The SDK remembers which keys the plugin read while it was created; any other key is
//! refused with an [`PluginError::InvalidArgument`] that lists the keys the plugin did read, so
//! a typo (`--option sed=3`) never passes silently.

use std::cell::RefCell;
use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::PluginError;

/// The reserved option that makes the SDK panic inside an entry point (`"create"`,
/// `"describe"` or `"extract"`), so that a conformance test can check that the panic is caught
/// and reported. The plugin never sees it.
pub const PANIC_FOR_TEST: &str = "panic_for_test";

/// The options of one extractor: a JSON object. A `null` value counts as absent.
///
/// ```
/// use brainscale_plugin_sdk::Options;
/// let options = Options::parse(r#"{"dim": 50, "seed": "x"}"#)?;
/// assert_eq!(options.usize("dim")?, Some(50));
/// assert_eq!(options.u64("missing")?, None);
/// let err = options.u64("seed").unwrap_err();
/// assert!(err.to_string().contains("option `seed`: expected a non-negative integer"));
/// # Ok::<(), brainscale_plugin_sdk::PluginError>(())
/// ```
#[derive(Debug, Default)]
pub struct Options {
    map: Map<String, Value>,
    read: RefCell<BTreeSet<String>>,
}

impl Options {
    /// Parses a JSON object.
    pub fn parse(json: &str) -> Result<Self, PluginError> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| PluginError::invalid(format!("options are not valid JSON ({e}): {json}")))?;
        Self::from_value(value)
    }

    /// Options from a JSON value, which must be an object (or null: no options).
    pub fn from_value(value: Value) -> Result<Self, PluginError> {
        match value {
            Value::Object(map) => Ok(Options { map, read: RefCell::default() }),
            Value::Null => Ok(Options::default()),
            other => Err(PluginError::invalid(format!("options must be a JSON object, got {other}"))),
        }
    }

    /// The value of `key` (marked as read), `None` when absent or null.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.read.borrow_mut().insert(key.to_owned());
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// A non-negative integer option.
    pub fn u64(&self, key: &str) -> Result<Option<u64>, PluginError> {
        self.typed(key, "a non-negative integer", Value::as_u64)
    }

    /// A non-negative integer option that fits a `usize`.
    pub fn usize(&self, key: &str) -> Result<Option<usize>, PluginError> {
        self.typed(key, "a non-negative integer", |v| v.as_u64().and_then(|n| usize::try_from(n).ok()))
    }

    /// A number option.
    pub fn f64(&self, key: &str) -> Result<Option<f64>, PluginError> {
        self.typed(key, "a number", Value::as_f64)
    }

    /// A boolean option.
    pub fn bool(&self, key: &str) -> Result<Option<bool>, PluginError> {
        self.typed(key, "true or false", Value::as_bool)
    }

    /// A string option.
    pub fn str(&self, key: &str) -> Result<Option<&str>, PluginError> {
        self.typed(key, "a string", Value::as_str)
    }

    fn typed<'a, T>(
        &'a self,
        key: &str,
        expected: &str,
        convert: impl Fn(&'a Value) -> Option<T>,
    ) -> Result<Option<T>, PluginError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => convert(v)
                .map(Some)
                .ok_or_else(|| PluginError::invalid(format!("option `{key}`: expected {expected}, got {v}"))),
        }
    }

    /// Removes `key` and returns its value (for options the SDK handles itself).
    pub(crate) fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key)
    }

    /// Refuses every key that was never read, naming the keys that were.
    pub fn check_all_read(&self, model: &str) -> Result<(), PluginError> {
        let read = self.read.borrow();
        let unknown: Vec<&str> = self.map.keys().map(String::as_str).filter(|k| !read.contains(*k)).collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let known = if read.is_empty() {
            "it takes no options".to_owned()
        } else {
            format!("it takes: {}", read.iter().map(String::as_str).collect::<Vec<_>>().join(", "))
        };
        let plural = if unknown.len() > 1 { "s" } else { "" };
        Err(PluginError::invalid(format!("unknown option{plural} `{}` for {model}: {known}", unknown.join("`, `"))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unread_keys_are_refused_with_the_known_ones() {
        let o = Options::parse(r#"{"dim": 3, "sed": 1}"#).unwrap();
        assert_eq!(o.usize("dim").unwrap(), Some(3));
        assert_eq!(o.u64("seed").unwrap(), None);
        let e = o.check_all_read("random-embeddings").unwrap_err().to_string();
        assert_eq!(e, "unknown option `sed` for random-embeddings: it takes: dim, seed");
    }

    #[test]
    fn null_is_absent_and_non_objects_are_refused() {
        let o = Options::parse(r#"{"dim": null}"#).unwrap();
        assert_eq!(o.usize("dim").unwrap(), None);
        assert!(o.check_all_read("m").is_ok());
        assert!(Options::parse("[1]").is_err());
        assert!(Options::parse("{").is_err());
        assert!(Options::parse("null").unwrap().check_all_read("m").is_ok());
    }

    #[test]
    fn wrong_types_name_the_option() {
        let o = Options::parse(r#"{"dim": -1, "on": "yes"}"#).unwrap();
        assert!(o.usize("dim").unwrap_err().to_string().starts_with("option `dim`: expected a non-negative integer"));
        assert!(o.bool("on").unwrap_err().to_string().contains("true or false"));
    }
}
