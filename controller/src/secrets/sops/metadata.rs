//! The `sops` block (Go: `stores.Metadata` → `sops.Metadata`, `stores/stores.go` `ToInternal`).
//!
//! Only age master keys are used; `pgp`, `kms`, `gcp_kms`, `azure_kv` and `hc_vault` entries
//! are counted (for the error message) and otherwise skipped.

use regex::bytes::Regex;

use super::tree::{Entry, ListItem, Node};

/// One age recipient stanza: the recipient and the armored age file holding the data key
/// (or, with key groups, this group's Shamir share).
#[derive(Debug, Clone)]
pub(crate) struct AgeKey {
    pub recipient: String,
    pub enc: String,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct KeyGroup {
    pub age: Vec<AgeKey>,
    /// Master keys of other kinds (pgp, kms, …) that aegis cannot use.
    pub others: usize,
}

/// What decides whether a value is encrypted (Go: `Tree.shouldBeEncrypted`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Rules {
    pub unencrypted_suffix: Option<String>,
    pub encrypted_suffix: Option<String>,
    pub unencrypted_regex: Option<Regex>,
    pub encrypted_regex: Option<Regex>,
    pub unencrypted_comment_regex: Option<Regex>,
    pub encrypted_comment_regex: Option<Regex>,
}

#[derive(Debug, Clone)]
pub(crate) struct Metadata {
    pub key_groups: Vec<KeyGroup>,
    pub shamir_threshold: usize,
    pub lastmodified: String,
    pub mac: String,
    pub rules: Rules,
    pub mac_only_encrypted: bool,
}

fn text(n: &Node) -> Option<String> {
    match n {
        Node::Str(s) | Node::Time(s) => s.expose_str().map(str::to_string),
        Node::Int(i) => Some(i.to_string()),
        Node::Float(f) => Some(super::tree::go_format_f(*f)),
        Node::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn entries(n: &Node) -> &[Entry] {
    match n {
        Node::Map(e) => e,
        _ => &[],
    }
}

fn items(n: &Node) -> &[ListItem] {
    match n {
        Node::List(i) => i,
        _ => &[],
    }
}

fn field<'a>(n: &'a Node, name: &str) -> Option<&'a Node> {
    entries(n).iter().find_map(|e| match e {
        Entry::Pair { key, value, .. } if key == name && *value != Node::Null => Some(value),
        _ => None,
    })
}

fn key_group(n: &Node) -> KeyGroup {
    let mut g = KeyGroup::default();
    for item in field(n, "age").map(items).unwrap_or_default() {
        let recipient = field(&item.value, "recipient").and_then(text).unwrap_or_default();
        let enc = field(&item.value, "enc").and_then(text).unwrap_or_default();
        g.age.push(AgeKey { recipient, enc });
    }
    for other in ["pgp", "kms", "gcp_kms", "azure_kv", "hc_vault"] {
        g.others += field(n, other).map(|v| items(v).len()).unwrap_or(0);
    }
    g
}

/// Build the metadata from the `sops` node. Errors are short reasons; the caller adds the file.
pub(crate) fn from_node(sops: &Node) -> Result<Metadata, String> {
    if !matches!(sops, Node::Map(_)) {
        return Err("the `sops` metadata is not a map".into());
    }
    let s = |name: &str| field(sops, name).and_then(text).filter(|v| !v.is_empty());
    let regex = |name: &str| -> Result<Option<Regex>, String> {
        s(name)
            .map(|r| Regex::new(&r).map_err(|_| format!("`{name}` is not a valid regular expression")))
            .transpose()
    };
    let mut rules = Rules {
        unencrypted_suffix: s("unencrypted_suffix"),
        encrypted_suffix: s("encrypted_suffix"),
        unencrypted_regex: regex("unencrypted_regex")?,
        encrypted_regex: regex("encrypted_regex")?,
        unencrypted_comment_regex: regex("unencrypted_comment_regex")?,
        encrypted_comment_regex: regex("encrypted_comment_regex")?,
    };
    let set = [
        rules.unencrypted_suffix.is_some(),
        rules.encrypted_suffix.is_some(),
        rules.unencrypted_regex.is_some(),
        rules.encrypted_regex.is_some(),
        rules.unencrypted_comment_regex.is_some(),
        rules.encrypted_comment_regex.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if set > 1 {
        return Err(
            "more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, \
                    unencrypted_regex, encrypted_comment_regex, unencrypted_comment_regex is set"
                .into(),
        );
    }
    if set == 0 {
        // Go `ToInternal`: no rule at all means the default `_unencrypted` suffix.
        rules.unencrypted_suffix = Some("_unencrypted".into());
    }
    let mac_only_encrypted = match field(sops, "mac_only_encrypted") {
        None => false,
        Some(Node::Bool(b)) => *b,
        Some(n) => match text(n).as_deref() {
            Some("true") | Some("True") | Some("TRUE") | Some("1") | Some("t") | Some("T") => true,
            Some("false") | Some("False") | Some("FALSE") | Some("0") | Some("f") | Some("F") => false,
            _ => return Err("`mac_only_encrypted` is not a boolean".into()),
        },
    };
    let shamir_threshold = match field(sops, "shamir_threshold") {
        None => 0,
        Some(n) => text(n)
            .and_then(|t| t.parse::<usize>().ok())
            .ok_or("`shamir_threshold` is not a number")?,
    };
    let key_groups = match field(sops, "key_groups") {
        Some(groups) => items(groups).iter().map(|g| key_group(&g.value)).collect(),
        None => vec![key_group(sops)],
    };
    Ok(Metadata {
        key_groups,
        shamir_threshold,
        lastmodified: s("lastmodified").ok_or("no `lastmodified`")?,
        mac: s("mac").ok_or("no `mac`")?,
        rules,
        mac_only_encrypted,
    })
}

/// Go `stores.Unflatten` for the INI and dotenv stores: `age__list_0__map_enc` →
/// `{age: [{enc: …}]}`. Values stay strings; `\n` escapes are decoded (Go `DecodeNewLines`).
pub(crate) fn unflatten(flat: &[(String, String)]) -> Node {
    let mut root = Node::Map(Vec::new());
    for (k, v) in flat {
        let mut parts: Vec<Part> = Vec::new();
        let mut rest = k.as_str();
        let first_end = rest.find("__").unwrap_or(rest.len());
        parts.push(Part::Key(rest[..first_end].to_string()));
        rest = &rest[first_end..];
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix("__list_") {
                let end = r.find("__").unwrap_or(r.len());
                match r[..end].parse::<usize>() {
                    Ok(i) => parts.push(Part::Index(i)),
                    Err(_) => break,
                }
                rest = &r[end..];
            } else if let Some(r) = rest.strip_prefix("__map_") {
                let end = r
                    .find("__list_")
                    .into_iter()
                    .chain(r.find("__map_"))
                    .min()
                    .unwrap_or(r.len());
                parts.push(Part::Key(r[..end].to_string()));
                rest = &r[end..];
            } else {
                break;
            }
        }
        let value = Node::Str(crate::secrets::Secret::new(v.replace("\\n", "\n")));
        insert(&mut root, &parts, value);
    }
    root
}

enum Part {
    Key(String),
    Index(usize),
}

fn insert(node: &mut Node, path: &[Part], value: Node) {
    let Some((first, rest)) = path.split_first() else {
        *node = value;
        return;
    };
    match first {
        Part::Key(k) => {
            if !matches!(node, Node::Map(_)) {
                *node = Node::Map(Vec::new());
            }
            let Node::Map(entries) = node else { unreachable!() };
            let pos = entries
                .iter()
                .position(|e| matches!(e, Entry::Pair { key, .. } if key == k));
            let idx = pos.unwrap_or_else(|| {
                entries.push(Entry::Pair {
                    key: k.clone(),
                    value: Node::Null,
                    line: None,
                });
                entries.len() - 1
            });
            if let Entry::Pair { value: v, .. } = &mut entries[idx] {
                insert(v, rest, value);
            }
        }
        Part::Index(i) => {
            if !matches!(node, Node::List(_)) {
                *node = Node::List(Vec::new());
            }
            let Node::List(list) = node else { unreachable!() };
            // Bound the index: a hostile file must not make us allocate gigabytes.
            let i = (*i).min(4096);
            while list.len() <= i {
                list.push(ListItem {
                    value: Node::Null,
                    line: None,
                });
            }
            insert(&mut list[i].value, rest, value);
        }
    }
}

/// Go formats `lastmodified` back with `time.RFC3339` before using it as additional data:
/// fractional seconds are dropped and a zero offset is written `Z`.
pub(crate) fn rfc3339_normalized(t: &str) -> String {
    let t = t.trim();
    let (main, zone) = match t
        .find(['Z', 'z', '+'])
        .or_else(|| t.rfind('-').filter(|i| *i > 10))
    {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, ""),
    };
    let main = main.split('.').next().unwrap_or(main);
    let zone = match zone {
        "z" | "Z" | "+00:00" | "-00:00" => "Z",
        z => z,
    };
    format!("{main}{zone}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unflattens_sops_keys() {
        let flat = vec![
            ("age__list_1__map_recipient".to_string(), "r1".to_string()),
            ("age__list_0__map_enc".to_string(), "a\\nb".to_string()),
            ("age__list_0__map_recipient".to_string(), "r0".to_string()),
            ("mac".to_string(), "m".to_string()),
        ];
        let n = unflatten(&flat);
        let Node::List(l) = n.get(&["age"]).unwrap() else {
            panic!()
        };
        assert_eq!(l.len(), 2);
        assert_eq!(
            l[0].value.get(&["enc"]).unwrap().as_secret().unwrap().expose(),
            b"a\nb"
        );
        assert_eq!(
            l[1].value
                .get(&["recipient"])
                .unwrap()
                .as_secret()
                .unwrap()
                .expose(),
            b"r1"
        );
    }

    #[test]
    fn lastmodified_like_go() {
        assert_eq!(rfc3339_normalized("2022-03-15T22:11:15Z"), "2022-03-15T22:11:15Z");
        assert_eq!(
            rfc3339_normalized("2022-03-15T22:11:15.123456Z"),
            "2022-03-15T22:11:15Z"
        );
        assert_eq!(
            rfc3339_normalized("2022-03-15T22:11:15+00:00"),
            "2022-03-15T22:11:15Z"
        );
        assert_eq!(
            rfc3339_normalized("2022-03-15T22:11:15.5-07:00"),
            "2022-03-15T22:11:15-07:00"
        );
    }
}
