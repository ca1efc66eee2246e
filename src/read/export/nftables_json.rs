//! The JSON form, as `nft -j list ruleset` prints it (libnftables-json(5),
//! <https://man.archlinux.org/man/libnftables-json.5.en>): `{"nftables": [
//! ... ]}`, one object per table, set, map, chain, rule, flowtable or named
//! object, each naming its family and table; a rule's `expr` is its list of
//! statements. The document is read into [`J`], a tree borrowed from the
//! text that rejects a key named twice in an object. `serde_json` keeps no
//! positions, so a rule's origin is the line and column of its array
//! element (found by a small scan of the text) and its text names its
//! index and `handle`.

use super::json_tree::J;

use super::lower::chain_priority;
use super::{BaseChain, Chain, Key, Map, NamedSet, Op, Rule, Ruleset, Stmt, Table, Value, Verdict};
use crate::read::device::DeviceError;
use crate::read::export::{Ascending, LineIndex};

type R<T> = Result<T, String>;

/// The byte offsets of the elements of the top-level array (the objects
/// that open at nesting depth 2: `{"nftables": [ {...}, ... ]}`).
fn element_offsets(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, b) in text.bytes().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                if depth == 2 && b == b'{' {
                    out.push(i);
                }
                depth += 1;
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    out
}

fn str_of<'a>(o: &'a J, key: &str) -> R<&'a str> {
    o.get(key)
        .and_then(J::as_str)
        .ok_or_else(|| format!("expected a string `{key}`"))
}

/// Reads `nft -j list ruleset` output.
pub(super) fn parse(text: &str) -> Result<Ruleset, DeviceError> {
    let doc: J = serde_json::from_str(text).map_err(|e| {
        DeviceError::at(
            e.line(),
            e.column(),
            format!("not JSON as `nft -j list ruleset` prints it: {e}"),
        )
    })?;
    let items = doc
        .get("nftables")
        .and_then(J::as_array)
        .ok_or_else(|| DeviceError::at(1, 1, "expected `{\"nftables\": [ ... ]}`"))?;
    let offsets = element_offsets(text);
    let lines = LineIndex::new(text);
    let mut located = Ascending::new(&lines);
    let mut rs = Ruleset::default();
    for (i, item) in items.iter().enumerate() {
        let (line, column) = offsets.get(i).map_or((1, 1), |&o| located.at(text, o));
        object(&mut rs, item, i, line, column)
            .map_err(|m| DeviceError::at(line, column, format!("nftables[{i}]: {m}")))?;
    }
    Ok(rs)
}

fn table_of<'a>(rs: &'a mut Ruleset, o: &J) -> R<&'a mut Table> {
    let family = str_of(o, "family")?;
    let name = str_of(o, "table")?;
    rs.tables
        .iter_mut()
        .find(|t| t.family == family && t.name == name)
        .ok_or_else(|| format!("table {family} {name} is not listed before its objects"))
}

fn object(rs: &mut Ruleset, item: &J, index: usize, line: usize, column: usize) -> R<()> {
    let Some((kind, o)) = item.sole("a table, set, map, chain, rule, flowtable or named object")?
    else {
        return Err("expected an object".into());
    };
    match kind {
        "metainfo" => {}
        "table" => {
            let flags = o.get("flags");
            let dormant = match flags {
                Some(J::Str(s)) => s == "dormant",
                Some(J::Array(a)) => a.iter().any(|f| f.as_str() == Some("dormant")),
                _ => false,
            };
            rs.tables.push(Table {
                family: str_of(o, "family")?.to_string(),
                name: str_of(o, "name")?.to_string(),
                dormant,
                ..Table::default()
            });
        }
        "set" | "map" => {
            let name = str_of(o, "name")?.to_string();
            let set = named_set(o, kind == "map")?;
            table_of(rs, o)?.sets.insert(name, set);
        }
        "chain" => {
            let base = match o.get("hook") {
                None => None,
                Some(h) => Some(BaseChain {
                    kind: str_of(o, "type")?.to_string(),
                    hook: h.as_str().ok_or("expected a string `hook`")?.to_string(),
                    priority: match o.get("prio") {
                        Some(n @ J::Number(_)) => n.as_i64().ok_or("expected an integer `prio`")?,
                        Some(J::Str(s)) => {
                            let words: Vec<&str> = s.split_whitespace().collect();
                            chain_priority(&words)?
                        }
                        _ => return Err("expected `prio`".into()),
                    },
                    policy: match o.get("policy").and_then(J::as_str) {
                        None => None,
                        Some("accept") => Some(Verdict::Accept),
                        Some("drop") => Some(Verdict::Drop),
                        Some(other) => {
                            return Err(format!("expected policy accept or drop, found `{other}`"));
                        }
                    },
                }),
            };
            let chain = Chain {
                name: str_of(o, "name")?.to_string(),
                base,
                rules: Vec::new(),
            };
            table_of(rs, o)?.chains.push(chain);
        }
        "rule" => {
            let chain_name = str_of(o, "chain")?.to_string();
            let handle = o.get("handle").and_then(J::as_u64);
            let comment = o.get("comment").and_then(J::as_str).map(str::to_string);
            let stmts = o
                .get("expr")
                .and_then(J::as_array)
                .ok_or("expected `expr`, the rule's statements")?
                .iter()
                .map(statement)
                .collect::<R<Vec<_>>>()?;
            let table = table_of(rs, o)?;
            let text = format!(
                "nftables[{index}]: rule handle {} in table {} {} chain {chain_name}{}",
                handle.map_or("?".into(), |h| h.to_string()),
                table.family,
                table.name,
                comment
                    .as_ref()
                    .map_or(String::new(), |c| format!(" comment \"{c}\""))
            );
            let chain = table
                .chains
                .iter_mut()
                .find(|c| c.name == chain_name)
                .ok_or_else(|| format!("chain `{chain_name}` is not listed before its rules"))?;
            chain.rules.push(Rule {
                stmts,
                comment,
                line,
                column,
                text,
            });
        }
        "flowtable" => table_of(rs, o)?.flowtables += 1,
        "counter" | "quota" | "limit" | "ct helper" | "ct timeout" | "ct expectation"
        | "secmark" | "synproxy" => table_of(rs, o)?.objects += 1,
        other => {
            return Err(format!(
                "expected a table, set, map, chain, rule, flowtable or named object, found `{other}`"
            ));
        }
    }
    Ok(())
}

fn named_set(o: &J, is_map: bool) -> R<NamedSet> {
    let mut s = NamedSet {
        is_map,
        verdict_map: is_map && o.get("map").and_then(J::as_str) == Some("verdict"),
        ..NamedSet::default()
    };
    let flags: Vec<&str> = match o.get("flags") {
        Some(J::Array(a)) => a.iter().filter_map(J::as_str).collect(),
        Some(J::Str(f)) => vec![f.as_ref()],
        _ => Vec::new(),
    };
    s.dynamic =
        flags.iter().any(|f| *f == "dynamic" || *f == "timeout") || o.get("timeout").is_some();
    // libnftables-json(5): `"type"` is a string, or an array of them for a
    // concatenation.
    s.key_type = match o.get("type") {
        Some(J::Str(t)) => t.to_string(),
        Some(J::Array(a)) => a
            .iter()
            .filter_map(J::as_str)
            .collect::<Vec<_>>()
            .join(" . "),
        _ => String::new(),
    };
    s.comment = o.get("comment").and_then(J::as_str).map(str::to_string);
    for e in o.get("elem").and_then(J::as_array).into_iter().flatten() {
        if s.is_map {
            let pair = e
                .as_array()
                .filter(|p| p.len() == 2)
                .ok_or("expected a map element `[key, value]`")?;
            if s.verdict_map {
                s.verdicts.push((value(&pair[0])?, verdict(&pair[1])?));
            }
        } else {
            s.elements.push(value(e)?);
        }
    }
    Ok(s)
}

fn verdict(v: &J) -> R<Verdict> {
    let Some((k, inner)) = v.sole("a verdict")? else {
        return Err(format!("expected a verdict, found {v}"));
    };
    let target = || -> R<String> { Ok(str_of(inner, "target")?.to_string()) };
    Ok(match k {
        "accept" => Verdict::Accept,
        "drop" => Verdict::Drop,
        "return" => Verdict::Return,
        "continue" => Verdict::Continue,
        "jump" => Verdict::Jump(target()?),
        "goto" => Verdict::Goto(target()?),
        other => return Err(format!("expected a verdict, found `{other}`")),
    })
}

/// A right-hand side or an element.
fn value(v: &J) -> R<Value> {
    Ok(match v {
        J::Str(s) => match s.strip_prefix('@') {
            Some(n) => Value::SetRef(n.to_string()),
            None => Value::Word(s.to_string()),
        },
        J::Number(n) => Value::Number(
            n.as_u64()
                .ok_or_else(|| format!("`{n}` is not a number here"))?,
        ),
        J::Array(flags) => Value::Flags(
            flags
                .iter()
                .map(|f| {
                    f.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("expected a flag name, found {f}"))
                })
                .collect::<R<_>>()?,
        ),
        J::Object(_) => {
            let Some((k, inner)) = v.sole("a value")? else {
                return Err("expected a value, found `{}`".into());
            };
            match k {
                "set" => Value::Set(
                    inner
                        .as_array()
                        .ok_or("expected a list of set elements")?
                        .iter()
                        .map(value)
                        .collect::<R<_>>()?,
                ),
                "prefix" => Value::Prefix(
                    str_of(inner, "addr")?.to_string(),
                    inner
                        .get("len")
                        .and_then(J::as_u64)
                        .and_then(|l| u8::try_from(l).ok())
                        .ok_or("expected a prefix `len`")?,
                ),
                "range" => {
                    let r = inner
                        .as_array()
                        .filter(|r| r.len() == 2)
                        .ok_or("expected `[low, high]`")?;
                    Value::Range(Box::new(value(&r[0])?), Box::new(value(&r[1])?))
                }
                "concat" => Value::Concat(
                    inner
                        .as_array()
                        .ok_or("expected a list to concatenate")?
                        .iter()
                        .map(value)
                        .collect::<R<_>>()?,
                ),
                "elem" => value(inner.get("val").ok_or("expected an element `val`")?)?,
                _ => Value::Other(v.to_string()),
            }
        }
        other => Value::Other(other.to_string()),
    })
}

fn key(v: &J) -> R<Key> {
    let Some((k, inner)) = v.sole("an expression")? else {
        return Err(format!("expected an expression, found {v}"));
    };
    Ok(match k {
        "meta" => Key::Meta(str_of(inner, "key")?.to_string()),
        "payload" => match (inner.get("protocol"), inner.get("field")) {
            (Some(J::Str(p)), Some(J::Str(f))) => Key::Payload(p.to_string(), f.to_string()),
            _ => Key::Other(format!("raw payload {inner}")),
        },
        "ct" => {
            let mut key = str_of(inner, "key")?.to_string();
            if let Some(dir) = inner.get("dir").and_then(J::as_str) {
                key = format!("{dir} {key}");
            }
            Key::Ct(key)
        }
        "concat" => Key::Concat(
            inner
                .as_array()
                .ok_or("expected a list to concatenate")?
                .iter()
                .map(key)
                .collect::<R<_>>()?,
        ),
        "&" | "|" | "^" | "<<" | ">>" => {
            let pair = inner
                .as_array()
                .filter(|p| p.len() == 2)
                .ok_or("expected `[left, right]`")?;
            Key::Masked(
                Box::new(key(&pair[0])?),
                format!("{k} {}", value(&pair[1])?),
            )
        }
        _ => Key::Other(v.to_string()),
    })
}

fn statement(s: &J) -> R<Stmt> {
    let Some((k, inner)) = s.sole("a statement")? else {
        return Err(format!("expected a statement, found {s}"));
    };
    Ok(match k {
        "match" => Stmt::Match {
            key: key(inner.get("left").ok_or("expected `left`")?)?,
            op: match str_of(inner, "op")? {
                "==" | "in" => Op::Eq,
                "!=" => Op::Ne,
                "<" => Op::Lt,
                ">" => Op::Gt,
                "<=" => Op::Le,
                ">=" => Op::Ge,
                other => return Err(format!("unknown match operator `{other}`")),
            },
            value: value(inner.get("right").ok_or("expected `right`")?)?,
        },
        "accept" | "drop" | "return" | "continue" | "jump" | "goto" => Stmt::Verdict(verdict(s)?),
        "reject" => Stmt::Verdict(Verdict::Reject),
        "queue" => Stmt::Verdict(Verdict::Queue),
        "counter" | "mangle" | "flow" | "set" | "notrack" | "ct helper" | "ct timeout"
        | "ct expectation" | "secmark" => Stmt::Effect,
        "log" => Stmt::Log,
        "limit" => Stmt::Undecidable(format!("rate limit `{inner}`")),
        "quota" => Stmt::Undecidable(format!("quota `{inner}`")),
        "xt" => Stmt::Undecidable(format!("iptables-nft extension `{inner}`")),
        "vmap" => Stmt::Vmap {
            key: key(inner.get("key").ok_or("expected a vmap `key`")?)?,
            map: match inner.get("data").map(|d| (d, d.sole("a vmap's data"))) {
                Some((J::Str(n), _)) if n.starts_with('@') => Map::Named(n[1..].to_string()),
                Some((_, Err(e))) => return Err(e),
                Some((_, Ok(Some(("set", elems))))) => Map::Inline(
                    elems
                        .as_array()
                        .ok_or("expected a list of map elements")?
                        .iter()
                        .map(|e| {
                            let pair = e
                                .as_array()
                                .filter(|p| p.len() == 2)
                                .ok_or("expected `[key, verdict]`")?;
                            Ok((value(&pair[0])?, verdict(&pair[1])?))
                        })
                        .collect::<R<_>>()?,
                ),
                _ => return Err("expected a vmap's `data`: a set or `@NAME`".into()),
            },
        },
        "snat" | "dnat" | "masquerade" | "redirect" | "tproxy" => Stmt::Nat(k.to_string()),
        other => return Err(format!("unknown statement `{other}`")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = r#"{"nftables": [
{"table": {"family": "inet", "name": "f", "handle": 1}},
{"chain": {"family": "inet", "table": "f", "name": "in", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
"#;

    fn with_rule(expr: &str) -> String {
        format!(
            "{HEAD}{{\"rule\": {{\"family\": \"inet\", \"table\": \"f\", \"chain\": \"in\", \"handle\": 2, \"expr\": {expr}}}}}\n]}}"
        )
    }

    #[test]
    fn a_rule_reads_with_its_statements() {
        let text = with_rule(
            r#"[{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}}, {"limit": {"rate": 10, "per": "second", "burst": 5}}, {"accept": null}]"#,
        );
        let rs = parse(&text).unwrap();
        let rule = &rs.tables[0].chains[0].rules[0];
        assert_eq!(rule.line, 4);
        assert_eq!(rule.stmts.len(), 3);
        // Quoted with its keys sorted, as serde_json's Value printed it.
        assert!(
            matches!(&rule.stmts[1], Stmt::Undecidable(u)
                if u == r#"rate limit `{"burst":5,"per":"second","rate":10}`"#),
            "{:?}",
            rule.stmts[1]
        );
        assert!(matches!(rule.stmts[2], Stmt::Verdict(Verdict::Accept)));
    }

    #[test]
    fn a_key_named_twice_is_an_error_at_its_line() {
        let text = with_rule(r#"[{"accept": null}]"#)
            .replace("\"handle\": 2,", "\"handle\": 2,\n \"chain\": \"other\",");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.line, 5, "{e}");
        assert!(
            e.message.contains(r#"the key "chain" appears twice"#),
            "{e}"
        );
    }

    #[test]
    fn an_object_named_by_its_key_has_exactly_one() {
        for (expr, what) in [
            (r#"[{"accept": null, "drop": null}]"#, "a statement"),
            (
                r#"[{"match": {"op": "==", "left": {"meta": {"key": "iif"}, "ct": {"key": "state"}}, "right": 1}}]"#,
                "an expression",
            ),
            (
                r#"[{"match": {"op": "==", "left": {"meta": {"key": "iif"}}, "right": {"set": [1], "range": [1, 2]}}}]"#,
                "a value",
            ),
            (
                r#"[{"vmap": {"key": {"meta": {"key": "iif"}}, "data": {"set": [[1, {"accept": null, "drop": null}]]}}}]"#,
                "a verdict",
            ),
        ] {
            let e = parse(&with_rule(expr)).unwrap_err();
            assert!(
                e.message
                    .contains(&format!("expected {what}: an object of one key")),
                "{expr}: {e}"
            );
        }
        let text = HEAD.replace(
            r#"{"table": {"family""#,
            r#"{"set": {}, "table": {"family""#,
        ) + "{\"metainfo\": {}}]}";
        let e = parse(&text).unwrap_err();
        assert!(
            e.message.contains(r#"found one of keys "set", "table""#),
            "{e}"
        );
    }
}
