//! The JSON tree the `nft -j` reader walks: a document borrowed from the
//! text where it can be (a string without escapes is a slice of it), its
//! objects kept as lists of entries in document order. `serde_json` parses
//! it (and gives a malformed document's line and column, and its limit of
//! 128 nested arrays and objects); `serde_json::Value` would copy every
//! string and build a sorted map per object, which is most of reading a
//! large ruleset.
//!
//! Stricter than `Value`, which keeps the last of duplicate keys: an object
//! that names a key twice is an error, since the reader cannot know which
//! of the two the device meant. [`J::sole`] answers for the objects whose
//! one key names what they are (`{"accept": null}`).
//!
//! [`J`]'s `Display` prints what `Value`'s does, compact with each object's
//! keys sorted, so messages and `Other` values that quote a piece of the
//! document stay as they were.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Number;

/// A JSON value borrowed from the document's text where it can be.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum J<'a> {
    Null,
    Bool(bool),
    Number(Number),
    Str(Cow<'a, str>),
    Array(Vec<J<'a>>),
    /// Entries in document order, no key twice.
    Object(Vec<(Cow<'a, str>, J<'a>)>),
}

impl<'a> J<'a> {
    /// The value of `key`, when this is an object that has it.
    pub(super) fn get(&self, key: &str) -> Option<&J<'a>> {
        match self {
            J::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            J::Str(s) => Some(s.as_ref()),
            _ => None,
        }
    }

    pub(super) fn as_array(&self) -> Option<&[J<'a>]> {
        match self {
            J::Array(a) => Some(a.as_slice()),
            _ => None,
        }
    }

    pub(super) fn as_u64(&self) -> Option<u64> {
        match self {
            J::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    pub(super) fn as_i64(&self) -> Option<i64> {
        match self {
            J::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    /// The key and value of an object whose one key names what it is
    /// (`{"match": {...}}`, `{"accept": null}`): `None` for anything else
    /// but an object of several keys, which is an error naming `what` was
    /// expected (reading one of its keys and ignoring the rest would read
    /// a document the device did not print).
    pub(super) fn sole(&self, what: &str) -> Result<Option<(&str, &J<'a>)>, String> {
        match self {
            J::Object(entries) => match entries.as_slice() {
                [] => Ok(None),
                [(k, v)] => Ok(Some((k.as_ref(), v))),
                several => {
                    let keys: Vec<String> = several.iter().map(|(k, _)| quoted(k)).collect();
                    Err(format!(
                        "expected {what}: an object of one key, found one of keys {}",
                        keys.join(", ")
                    ))
                }
            },
            _ => Ok(None),
        }
    }
}

/// `s` as a JSON string, escaped as `serde_json` escapes it.
fn quoted(s: &str) -> String {
    // Serialising a `str` to a `String` cannot fail.
    serde_json::to_string(s).unwrap_or_default()
}

impl Serialize for J<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            J::Null => s.serialize_unit(),
            J::Bool(b) => s.serialize_bool(*b),
            J::Number(n) => n.serialize(s),
            J::Str(t) => s.serialize_str(t),
            J::Array(a) => a.serialize(s),
            J::Object(entries) => {
                // Sorted as `Value`'s map sorts them, so what is quoted
                // from a document prints as it did.
                let mut sorted: Vec<&(Cow<str>, J)> = entries.iter().collect();
                sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                let mut map = s.serialize_map(Some(sorted.len()))?;
                for (k, v) in sorted {
                    map.serialize_entry(k.as_ref(), v)?;
                }
                map.end()
            }
        }
    }
}

impl fmt::Display for J<'_> {
    /// Compact JSON with each object's keys sorted, as
    /// `serde_json::Value`'s `Display` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&serde_json::to_string(self).map_err(|_| fmt::Error)?)
    }
}

impl<'de> Deserialize<'de> for J<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TreeVisitor {
            scratch: &mut Scratch::default(),
        })
    }
}

/// The elements and entries of the arrays and objects being read, from the
/// outermost in: a container's own are moved out when it closes, into a
/// list of exactly their number (serde_json cannot say how many are coming,
/// and a list grown one element at a time would be copied as it grows and
/// hold room for several where most objects have one key).
#[derive(Default)]
struct Scratch<'de> {
    values: Vec<J<'de>>,
    entries: Vec<(Cow<'de, str>, J<'de>)>,
}

struct TreeVisitor<'s, 'de> {
    scratch: &'s mut Scratch<'de>,
}

impl<'de> DeserializeSeed<'de> for TreeVisitor<'_, 'de> {
    type Value = J<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<J<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

/// The number of keys up to which a duplicate is looked for by a scan of
/// the object's entries; beyond it a set answers, so an object of many
/// keys costs no quadratic search.
const SCAN_KEYS: usize = 16;

impl<'de> Visitor<'de> for TreeVisitor<'_, 'de> {
    type Value = J<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, b: bool) -> Result<J<'de>, E> {
        Ok(J::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<J<'de>, E> {
        Ok(J::Number(n.into()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<J<'de>, E> {
        Ok(J::Number(n.into()))
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<J<'de>, E> {
        // serde_json's parser yields only finite numbers.
        Number::from_f64(n)
            .map(J::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<J<'de>, E> {
        Ok(J::Str(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<J<'de>, E> {
        Ok(J::Str(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<J<'de>, E> {
        Ok(J::Str(Cow::Owned(s)))
    }

    fn visit_unit<E>(self) -> Result<J<'de>, E> {
        Ok(J::Null)
    }

    fn visit_none<E>(self) -> Result<J<'de>, E> {
        Ok(J::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<J<'de>, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<J<'de>, A::Error> {
        let start = self.scratch.values.len();
        while let Some(v) = seq.next_element_seed(TreeVisitor {
            scratch: &mut *self.scratch,
        })? {
            self.scratch.values.push(v);
        }
        Ok(J::Array(self.scratch.values.drain(start..).collect()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<J<'de>, A::Error> {
        let start = self.scratch.entries.len();
        let mut seen: Option<HashSet<Cow<'de, str>>> = None;
        while let Some(Key(k)) = map.next_key()? {
            let again = match &mut seen {
                Some(set) => !set.insert(k.clone()),
                None => self.scratch.entries[start..].iter().any(|(e, _)| *e == k),
            };
            if again {
                // Checked before the value is read, so serde_json's
                // position is the duplicate key's.
                return Err(de::Error::custom(format_args!(
                    "the key {} appears twice in one object",
                    quoted(&k)
                )));
            }
            let v = map.next_value_seed(TreeVisitor {
                scratch: &mut *self.scratch,
            })?;
            let entries = &mut self.scratch.entries;
            entries.push((k, v));
            if seen.is_none() && entries.len() - start == SCAN_KEYS {
                seen = Some(entries[start..].iter().map(|(k, _)| k.clone()).collect());
            }
        }
        Ok(J::Object(self.scratch.entries.drain(start..).collect()))
    }
}

/// An object's key, borrowed from the text when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> J<'_> {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn strings_without_escapes_are_borrowed_and_escaped_ones_owned() {
        let doc = tree(r#"{"plain": "eth0", "esc\u0061ped": "a\"b\\c\u00e9\n"}"#);
        let J::Object(entries) = &doc else {
            panic!("not an object: {doc:?}")
        };
        assert!(matches!(entries[0].0, Cow::Borrowed("plain")));
        assert!(matches!(&entries[0].1, J::Str(Cow::Borrowed("eth0"))));
        assert!(matches!(&entries[1].0, Cow::Owned(k) if k == "escaped"));
        assert!(matches!(&entries[1].1, J::Str(Cow::Owned(s)) if s == "a\"b\\c\u{e9}\n"));
        assert_eq!(
            doc.get("escaped").and_then(J::as_str),
            Some("a\"b\\c\u{e9}\n")
        );
        assert_eq!(doc.get("plain").and_then(J::as_str), Some("eth0"));
        assert_eq!(doc.get("missing"), None);
    }

    #[test]
    fn accessors_answer_only_for_their_kind() {
        let doc = tree(r#"{"u": 7, "i": -3, "f": 1.5, "a": [1, "x"], "n": null, "b": true}"#);
        assert_eq!(doc.get("u").and_then(J::as_u64), Some(7));
        assert_eq!(doc.get("u").and_then(J::as_i64), Some(7));
        assert_eq!(doc.get("i").and_then(J::as_u64), None);
        assert_eq!(doc.get("i").and_then(J::as_i64), Some(-3));
        assert_eq!(doc.get("f").and_then(J::as_u64), None);
        assert_eq!(doc.get("f").and_then(J::as_i64), None);
        assert_eq!(doc.get("a").and_then(J::as_array).map(<[J]>::len), Some(2));
        assert_eq!(doc.get("u").and_then(J::as_str), None);
        assert_eq!(doc.get("n"), Some(&J::Null));
        assert_eq!(doc.get("b"), Some(&J::Bool(true)));
        assert_eq!(doc.get("a").and_then(|a| a.get("u")), None);
    }

    #[test]
    fn a_key_named_twice_is_an_error_where_the_second_one_is() {
        for text in [
            r#"{"a": 1, "a": 2}"#,
            r#"{"a": 1, "b": {"x": [], "y": 2, "x": 3}}"#,
            r#"{"a": 1, "\u0061": 2}"#,
        ] {
            let e = serde_json::from_str::<J>(text).unwrap_err();
            assert!(e.to_string().contains("appears twice"), "{text}: {e}");
        }
        let e = serde_json::from_str::<J>("{\n\"k\": 1,\n  \"k\": 2}").unwrap_err();
        assert!(
            e.to_string().contains(r#"the key "k" appears twice"#),
            "{e}"
        );
        assert_eq!(e.line(), 3);
        // Past the scan, the set answers.
        let many: Vec<String> = (0..40).map(|i| format!("\"k{i}\": {i}")).collect();
        let ok = format!("{{{}}}", many.join(", "));
        assert_eq!(tree(&ok).get("k39").and_then(J::as_u64), Some(39));
        for dup in [0, 15, 16, 39] {
            let text = format!("{{{}, \"k{dup}\": 0}}", many.join(", "));
            let e = serde_json::from_str::<J>(&text).unwrap_err();
            assert!(
                e.to_string().contains(&format!("\"k{dup}\" appears twice")),
                "{e}"
            );
        }
        // The same key in two objects is no duplicate.
        tree(r#"[{"a": 1}, {"a": 2}, {"a": {"a": 3}}]"#);
    }

    #[test]
    fn sole_requires_exactly_one_key() {
        let one = tree(r#"{"accept": null}"#);
        assert_eq!(one.sole("a verdict"), Ok(Some(("accept", &J::Null))));
        assert_eq!(tree("{}").sole("a verdict"), Ok(None));
        assert_eq!(tree(r#""accept""#).sole("a verdict"), Ok(None));
        assert_eq!(tree("[1]").sole("a verdict"), Ok(None));
        let e = tree(r#"{"drop": null, "accept": null}"#)
            .sole("a verdict")
            .unwrap_err();
        assert_eq!(
            e,
            r#"expected a verdict: an object of one key, found one of keys "drop", "accept""#
        );
    }

    #[test]
    fn display_prints_what_serde_json_value_prints() {
        for text in [
            "null",
            "true",
            "[]",
            "{}",
            r#""plain""#,
            r#"{"zeta": 1, "alpha": {"y": [3, {"b": null, "a": false}], "x": "s"}, "Mid": -2}"#,
            r#"{"esc": "quote \" back \\ slash / tab \t nl \n cr \r bell \u0007 del \u007f é \ud83d\ude00"}"#,
            r#"{"\u00e9": 1, "e": 2, "\"": 3, "E": 4}"#,
            r#"[0, -0, 1.0, -1.5, 1e3, 2.5E-7, 1.7976931348623157e308, -9223372036854775808, 18446744073709551615, 0.1, 100000000000000000000]"#,
            r#"{"limit": {"rate": 10, "burst": 5, "per": "second", "inv": true}}"#,
            r#"{"payload": {"base": "th", "offset": 96, "len": 8}}"#,
        ] {
            let ours = tree(text).to_string();
            let value: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(ours, value.to_string(), "{text}");
        }
    }

    #[test]
    fn nesting_is_limited_as_serde_json_limits_it() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        for n in 100..140 {
            assert_eq!(
                serde_json::from_str::<J>(&deep(n)).is_ok(),
                serde_json::from_str::<serde_json::Value>(&deep(n)).is_ok(),
                "{n}"
            );
        }
        assert!(serde_json::from_str::<J>(&deep(127)).is_ok());
        let e = serde_json::from_str::<J>(&deep(129)).unwrap_err();
        assert!(e.to_string().contains("recursion limit"), "{e}");
    }
}
