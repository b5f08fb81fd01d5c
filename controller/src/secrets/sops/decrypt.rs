//! The public API and the tree walk (Go `Tree.Decrypt`, `walkBranch`, `walkSlice`,
//! `shouldBeEncrypted`).
//!
//! Additional data of a value: the keys on its path joined with `:` plus a trailing `:`
//! (`strings.Join(path, ":") + ":"`). List items take the path of their list (no index), and
//! a comment takes the path of the map or list that holds it (`:` alone at the top level).
//!
//! Whether a value is encrypted: `true`, then in this order — any path key ending with
//! `unencrypted_suffix` → false; with `encrypted_suffix` set, true only if some path key ends
//! with it; any path key matching `unencrypted_regex` → false; with `encrypted_regex` set, true
//! only if some key matches; the comment regexes look at the comments above the value.
//! Only one of these may be set; none set means `unencrypted_suffix: _unencrypted`.

use std::path::Path;

use zeroize::Zeroizing;

use super::{
    cipher::{self, CipherError},
    data_key::{self, DataKeyError},
    format_binary, format_dotenv, format_ini, format_json, format_yaml,
    identity::Identities,
    mac::{self, MacHasher},
    metadata::{self, Rules},
    tree::{Entry, ListItem, Node},
    Format, SopsError,
};
use crate::secrets::Secret;

/// A decrypted dotenv file: variables and comment lines, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvFile {
    pub lines: Vec<EnvLine>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EnvLine {
    Var(String, Secret),
    Comment(Secret),
}

impl EnvFile {
    /// The variables in file order (a later duplicate is also listed, as in the file).
    pub fn vars(&self) -> impl Iterator<Item = (&str, &Secret)> {
        self.lines.iter().filter_map(|l| match l {
            EnvLine::Var(k, v) => Some((k.as_str(), v)),
            EnvLine::Comment(_) => None,
        })
    }

    /// The last value of `name` (dotenv semantics: a later line wins).
    pub fn get(&self, name: &str) -> Option<&Secret> {
        self.vars().filter(|(k, _)| *k == name).map(|(_, v)| v).last()
    }

    /// The variables as owned pairs.
    pub fn to_vec(&self) -> Vec<(String, Secret)> {
        self.vars().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }
}

/// A decrypted YAML, JSON or INI document (YAML may hold several documents).
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub format: Format,
    pub branches: Vec<Vec<Entry>>,
}

impl Document {
    /// The value at `path` in the first document.
    pub fn get(&self, path: &[&str]) -> Option<&Node> {
        let mut entries = self.branches.first()?;
        let (last, init) = path.split_last()?;
        for k in init {
            entries = entries.iter().find_map(|e| match e {
                Entry::Pair {
                    key,
                    value: Node::Map(m),
                    ..
                } if key == k => Some(m),
                _ => None,
            })?;
        }
        entries.iter().find_map(|e| match e {
            Entry::Pair { key, value, .. } if key == last => Some(value),
            _ => None,
        })
    }
}

/// The plaintext of a sops file.
#[derive(Debug, Clone, PartialEq)]
pub enum Decrypted {
    Env(EnvFile),
    Tree(Document),
    Binary(Secret),
}

impl Decrypted {
    /// The plaintext exactly as `sops -d` prints it in `format` (normally the file's own).
    pub fn to_plaintext(&self, format: Format) -> Result<Vec<u8>, SopsError> {
        let emit_err = |reason: String| SopsError::Emit {
            format: format.name(),
            reason,
        };
        if let (Decrypted::Binary(s), Format::Binary) = (self, format) {
            return Ok(s.expose().to_vec());
        }
        let branches = self.branches();
        match format {
            Format::Dotenv => format_dotenv::emit(&branches).map_err(emit_err),
            Format::Yaml => Ok(format_yaml::emit(&branches)),
            Format::Json => format_json::emit(&branches).map_err(emit_err),
            Format::Ini => format_ini::emit(&branches).map_err(emit_err),
            Format::Binary => format_binary::emit(&branches).map_err(emit_err),
        }
    }

    fn branches(&self) -> Vec<Vec<Entry>> {
        match self {
            Decrypted::Tree(d) => d.branches.clone(),
            Decrypted::Env(env) => vec![env
                .lines
                .iter()
                .map(|l| match l {
                    EnvLine::Var(k, v) => Entry::Pair {
                        key: k.clone(),
                        value: Node::Str(v.clone()),
                        line: None,
                    },
                    EnvLine::Comment(c) => Entry::Comment {
                        text: c.clone(),
                        line: None,
                    },
                })
                .collect()],
            Decrypted::Binary(s) => vec![vec![Entry::Pair {
                key: "data".into(),
                value: Node::Str(s.clone()),
                line: None,
            }]],
        }
    }

    /// Every variable as a flat list: dotenv vars as they are; the top-level scalars of a
    /// YAML/JSON document; `section.key` for INI (the DEFAULT section's keys bare).
    pub fn env_pairs(&self) -> Vec<(String, Secret)> {
        match self {
            Decrypted::Env(env) => env.to_vec(),
            Decrypted::Binary(_) => Vec::new(),
            Decrypted::Tree(d) => {
                let mut out = Vec::new();
                for e in d.branches.iter().flatten() {
                    if let Entry::Pair { key, value, .. } = e {
                        match (d.format, value) {
                            (Format::Ini, Node::Map(items)) => {
                                for i in items {
                                    if let Entry::Pair { key: k, value: v, .. } = i {
                                        if let Some(s) = v.as_secret() {
                                            let name = if key == "DEFAULT" {
                                                k.clone()
                                            } else {
                                                format!("{key}.{k}")
                                            };
                                            out.push((name, s));
                                        }
                                    }
                                }
                            }
                            (_, v) => {
                                if let Some(s) = v.as_secret() {
                                    out.push((key.clone(), s));
                                }
                            }
                        }
                    }
                }
                out
            }
        }
    }
}

/// Decrypt a sops file's bytes. Errors call the file `<input>`; see [`decrypt_named`].
pub fn decrypt(bytes: &[u8], format: Format, ids: &Identities) -> Result<Decrypted, SopsError> {
    decrypt_named("<input>", bytes, format, ids)
}

/// Read and decrypt a file; the format comes from its name unless `format` is given.
pub fn decrypt_file(path: &Path, format: Option<Format>, ids: &Identities) -> Result<Decrypted, SopsError> {
    let name = path.display().to_string();
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|source| SopsError::Io {
        file: name.clone(),
        source,
    })?);
    decrypt_named(
        &name,
        &bytes,
        format.unwrap_or_else(|| Format::from_path(path)),
        ids,
    )
}

/// The parse result every store gives: the data branches and the `sops` metadata node.
pub(crate) struct Parsed {
    pub branches: Vec<Vec<Entry>>,
    pub metadata: Option<Node>,
}

/// A store's parse error: a reason (never a value) and, where known, the line.
pub(crate) struct ParseError {
    pub line: Option<usize>,
    pub reason: String,
}

/// Decrypt with `file` as the name used in errors.
pub fn decrypt_named(
    file: &str,
    bytes: &[u8],
    format: Format,
    ids: &Identities,
) -> Result<Decrypted, SopsError> {
    let parsed = match format {
        Format::Dotenv => format_dotenv::parse(bytes),
        Format::Yaml => format_yaml::parse(bytes),
        Format::Json | Format::Binary => format_json::parse(bytes),
        Format::Ini => format_ini::parse(bytes),
    }
    .map_err(|e| SopsError::Parse {
        file: file.into(),
        format: format.name(),
        line: e.line,
        reason: e.reason,
    })?;
    let meta_node = parsed
        .metadata
        .ok_or_else(|| SopsError::NoMetadata { file: file.into() })?;
    let meta = metadata::from_node(&meta_node).map_err(|reason| SopsError::Metadata {
        file: file.into(),
        reason,
    })?;

    let recipients: Vec<String> = meta
        .key_groups
        .iter()
        .flat_map(|g| g.age.iter().map(|k| k.recipient.clone()))
        .collect();
    if recipients.is_empty() {
        return Err(SopsError::NoAgeRecipient {
            file: file.into(),
            others: meta.key_groups.iter().map(|g| g.others).sum(),
        });
    }
    let recipients_list = recipients.join(", ");
    if ids.is_empty() {
        return Err(SopsError::NoIdentities {
            file: file.into(),
            recipients: recipients_list,
        });
    }
    let key = data_key::recover(&meta, ids).map_err(|e| match e {
        DataKeyError::NoMatch => SopsError::NoMatchingIdentity {
            file: file.into(),
            recipients: recipients_list.clone(),
            identities: ids.recipients().join(", "),
        },
        DataKeyError::NotEnoughGroups { have, need } => SopsError::NotEnoughKeyGroups {
            file: file.into(),
            have,
            need,
            recipients: recipients_list.clone(),
        },
        DataKeyError::Corrupt(reason) => SopsError::DataKey {
            file: file.into(),
            reason,
        },
    })?;

    let mut walker = Walker {
        key: &key,
        rules: &meta.rules,
        mac: MacHasher::new(meta.mac_only_encrypted),
        file,
    };
    let mut branches = Vec::with_capacity(parsed.branches.len());
    for b in &parsed.branches {
        let mut stack = Vec::new();
        branches.push(walker.branch(b, &mut Vec::new(), &mut Vec::new(), &mut stack)?);
    }
    let computed = walker.mac.finish_hex_upper();
    if !mac::verify(&key, &meta.mac, &meta.lastmodified, &computed) {
        return Err(SopsError::MacMismatch { file: file.into() });
    }

    Ok(match format {
        Format::Dotenv => Decrypted::Env(EnvFile {
            lines: branches
                .into_iter()
                .flatten()
                .map(|e| match e {
                    Entry::Pair { key, value, .. } => {
                        EnvLine::Var(key, value.as_secret().unwrap_or_default())
                    }
                    Entry::Comment { text, .. } => EnvLine::Comment(text),
                })
                .collect(),
        }),
        Format::Binary => {
            let data = branches.first().and_then(|b| {
                b.iter().find_map(|e| match e {
                    Entry::Pair {
                        key,
                        value: Node::Str(s),
                        ..
                    } if key == "data" => Some(s.clone()),
                    _ => None,
                })
            });
            Decrypted::Binary(data.ok_or_else(|| SopsError::Parse {
                file: file.into(),
                format: format.name(),
                line: None,
                reason: "no `data` string in the binary envelope".into(),
            })?)
        }
        f => Decrypted::Tree(Document { format: f, branches }),
    })
}

type CommentStack = Vec<Vec<Vec<u8>>>;

struct Walker<'a> {
    key: &'a [u8; 32],
    rules: &'a Rules,
    mac: MacHasher,
    file: &'a str,
}

fn display_path(disp: &[String]) -> String {
    let mut s = String::new();
    for p in disp {
        if p.starts_with('[') || s.is_empty() {
            s.push_str(p);
        } else {
            s.push('.');
            s.push_str(p);
        }
    }
    if s.is_empty() {
        "(top level)".into()
    } else {
        s
    }
}

fn aad(path: &[String]) -> Vec<u8> {
    let mut s = path.join(":");
    s.push(':');
    s.into_bytes()
}

impl Walker<'_> {
    /// Go `Tree.shouldBeEncrypted`.
    fn should_encrypt(&self, path: &[String], stack: &CommentStack, is_comment: bool) -> bool {
        let r = self.rules;
        let mut encrypted = true;
        if let Some(suf) = &r.unencrypted_suffix {
            if path.iter().any(|p| p.ends_with(suf.as_str())) {
                encrypted = false;
            }
        }
        if let Some(suf) = &r.encrypted_suffix {
            encrypted = path.iter().any(|p| p.ends_with(suf.as_str()));
        }
        if let Some(re) = &r.unencrypted_regex {
            if path.iter().any(|p| re.is_match(p.as_bytes())) {
                encrypted = false;
            }
        }
        if let Some(re) = &r.encrypted_regex {
            encrypted = path.iter().any(|p| re.is_match(p.as_bytes()));
        }
        if let Some(re) = &r.unencrypted_comment_regex {
            if stack.iter().flatten().any(|c| re.is_match(c)) {
                encrypted = false;
            }
        }
        if let Some(re) = &r.encrypted_comment_regex {
            let last = stack.len().saturating_sub(1);
            let last_len = stack.last().map_or(0, Vec::len);
            encrypted = false;
            'outer: for (i, cs) in stack.iter().enumerate() {
                for (j, c) in cs.iter().enumerate() {
                    if is_comment && i == last && j + 1 == last_len {
                        continue;
                    }
                    if re.is_match(c) {
                        encrypted = true;
                        break 'outer;
                    }
                }
            }
        }
        encrypted
    }

    fn branch(
        &mut self,
        entries: &[Entry],
        path: &mut Vec<String>,
        disp: &mut Vec<String>,
        stack: &mut CommentStack,
    ) -> Result<Vec<Entry>, SopsError> {
        stack.push(Vec::new());
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            match e {
                Entry::Comment { text, line } => {
                    stack.last_mut().expect("pushed").push(text.expose().to_vec());
                    let text = self.comment(text, path, stack);
                    out.push(Entry::Comment { text, line: *line });
                }
                Entry::Pair { key, value, line } => {
                    path.push(key.clone());
                    disp.push(key.clone());
                    let v = self.value(value, path, disp, stack, *line);
                    path.pop();
                    disp.pop();
                    out.push(Entry::Pair {
                        key: key.clone(),
                        value: v?,
                        line: *line,
                    });
                    stack.last_mut().expect("pushed").clear();
                }
            }
        }
        stack.pop();
        Ok(out)
    }

    fn list(
        &mut self,
        items: &[ListItem],
        path: &mut Vec<String>,
        disp: &mut Vec<String>,
        stack: &mut CommentStack,
    ) -> Result<Vec<ListItem>, SopsError> {
        stack.push(Vec::new());
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if let Node::Comment(text) = &item.value {
                stack.last_mut().expect("pushed").push(text.expose().to_vec());
                let text = self.comment(text, path, stack);
                out.push(ListItem {
                    value: Node::Comment(text),
                    line: item.line,
                });
                continue;
            }
            disp.push(format!("[{i}]"));
            let v = self.value(&item.value, path, disp, stack, item.line);
            disp.pop();
            out.push(ListItem {
                value: v?,
                line: item.line,
            });
            stack.last_mut().expect("pushed").clear();
        }
        stack.pop();
        Ok(out)
    }

    fn value(
        &mut self,
        node: &Node,
        path: &mut Vec<String>,
        disp: &mut Vec<String>,
        stack: &mut CommentStack,
        line: Option<usize>,
    ) -> Result<Node, SopsError> {
        match node {
            Node::Map(entries) => Ok(Node::Map(self.branch(entries, path, disp, stack)?)),
            Node::List(items) => Ok(Node::List(self.list(items, path, disp, stack)?)),
            Node::Null => Ok(Node::Null),
            Node::Comment(c) => Ok(Node::Comment(self.comment(c, path, stack))),
            leaf => self.leaf(leaf, path, disp, stack, line),
        }
    }

    /// An encrypted comment decrypts with its container's path; a comment that does not
    /// decrypt stays as it is (Go: "Found possibly unencrypted comment"). When our YAML
    /// comment placement differs from yaml.v3's, an enclosing path is tried too.
    fn comment(&mut self, text: &Secret, path: &[String], stack: &CommentStack) -> Secret {
        if !self.should_encrypt(path, stack, true) || text.is_empty() {
            return text.clone();
        }
        let Ok(enc) = cipher::parse(text.expose()) else {
            return text.clone();
        };
        for n in (0..=path.len()).rev() {
            if let Ok(plain) = cipher::open(self.key, &enc, &aad(&path[..n])) {
                return Secret::from_bytes(plain.to_vec());
            }
        }
        text.clone()
    }

    fn leaf(
        &mut self,
        node: &Node,
        path: &[String],
        disp: &[String],
        stack: &CommentStack,
        line: Option<usize>,
    ) -> Result<Node, SopsError> {
        let encrypted = self.should_encrypt(path, stack, false);
        let malformed = |reason| SopsError::ValueMalformed {
            file: self.file.into(),
            line,
            key: display_path(disp),
            reason,
        };
        let v = if encrypted {
            let Node::Str(s) = node else {
                return Err(malformed(
                    "it is in clear text, but sops encrypts values at this path",
                ));
            };
            if s.is_empty() {
                Node::Str(s.clone())
            } else {
                if !cipher::is_encrypted(s.expose()) {
                    return Err(malformed(
                        "it is in clear text, but sops encrypts values at this path",
                    ));
                }
                let enc = cipher::parse(s.expose()).map_err(|e| match e {
                    CipherError::Malformed(r) => malformed(r),
                    CipherError::Auth => malformed("unreadable"),
                })?;
                let plain = cipher::open(self.key, &enc, &aad(path)).map_err(|e| match e {
                    CipherError::Auth => SopsError::ValueDecrypt {
                        file: self.file.into(),
                        line,
                        key: display_path(disp),
                    },
                    CipherError::Malformed(r) => malformed(r),
                })?;
                typed(&enc.kind, plain).map_err(malformed)?
            }
        } else {
            node.clone()
        };
        if let Some(bytes) = v.mac_bytes() {
            self.mac.add(&bytes, encrypted);
        }
        Ok(v)
    }
}

/// Go `aes.Cipher.Decrypt`'s type switch.
fn typed(kind: &str, plain: Zeroizing<Vec<u8>>) -> Result<Node, &'static str> {
    let text = || std::str::from_utf8(&plain).map_err(|_| "its plaintext is not UTF-8");
    Ok(match kind {
        "str" | "comment" => Node::Str(Secret::from_bytes(plain.to_vec())),
        "bytes" => Node::Bytes(Secret::from_bytes(plain.to_vec())),
        "time" => Node::Time(Secret::new(text()?.to_string())),
        "int" | "int64" => Node::Int(
            text()?
                .parse()
                .map_err(|_| "type int, but the plaintext is not an integer")?,
        ),
        "float" => {
            Node::Float(parse_go_float(text()?).ok_or("type float, but the plaintext is not a number")?)
        }
        "bool" => Node::Bool(match text()? {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
            "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
            _ => return Err("type bool, but the plaintext is not a boolean"),
        }),
        _ => return Err("unknown type (expected str, int, float, bool, bytes, time or comment)"),
    })
}

/// Go `strconv.ParseFloat(s, 64)` for the forms sops writes (Rust's parser also takes
/// `inf`/`nan` in any case, like Go).
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    if s.is_empty() || s.contains('_') {
        return None;
    }
    s.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATES: [(Format, &str); 5] = [
        (Format::Dotenv, "A=ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]\n#c\nsops_age__list_0__map_enc=x\nsops_age__list_0__map_recipient=age1x\nsops_lastmodified=2024-01-01T00:00:00Z\nsops_mac=ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]\nsops_version=3.8.1\n"),
        (Format::Yaml, "a:\n    b: ENC[AES256_GCM,data:AAAA,iv:AA==,tag:AA==,type:int]\n    #ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:comment]\n    l:\n        - x\n        - &r {q: 1}\n        - *r\nsops:\n    age:\n        - recipient: age1x\n          enc: |\n            -----BEGIN AGE ENCRYPTED FILE-----\n            YWdl\n            -----END AGE ENCRYPTED FILE-----\n    lastmodified: \"2024-01-01T00:00:00Z\"\n    mac: x\n    key_groups: []\n    shamir_threshold: 2\n"),
        (Format::Json, "{\"a\": [1, 2.5, true, null, {\"b\": \"ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:float]\"}], \"sops\": {\"age\": [{\"recipient\": \"age1\", \"enc\": \"x\"}], \"lastmodified\": \"x\", \"mac\": \"y\"}}"),
        (Format::Ini, "; c\n[s]\nk = ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]\n[sops]\nage__list_0__map_enc = x\nage__list_0__map_recipient = age1\nlastmodified = x\nmac = y\nshamir_threshold = 9\n"),
        (Format::Binary, "{\"data\": \"ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]\", \"sops\": {\"age\": [], \"mac\": \"m\", \"lastmodified\": \"l\"}}"),
    ];

    /// A throwaway key made for this test; it protects nothing.
    fn test_ids() -> Identities {
        Identities::parse("AGE-SECRET-KEY-1QQ7V0LCZTGTY6S5HPECMW6J7C7CHDRM9R30E0YW9WDH50RZKPJAQL2SJHM")
            .unwrap()
    }

    /// ~2000 random inputs per format, and as many random mutations of sops-shaped files:
    /// `decrypt` returns errors, never panics.
    #[test]
    fn random_bytes_never_panic() {
        const SPECIAL: &[u8] = b"\n :-#[]{}\"'=&*|>!%@`,";
        let ids = test_ids();
        let mut rng = fastrand::Rng::with_seed(0x5095);
        for (format, template) in TEMPLATES {
            for _ in 0..2000 {
                let len = rng.usize(0..256);
                let bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
                let _ = decrypt(&bytes, format, &ids);
                let mut m = template.as_bytes().to_vec();
                for _ in 0..rng.usize(1..6) {
                    let i = rng.usize(0..m.len());
                    match rng.u8(0..3) {
                        0 => m[i] = rng.u8(..),
                        1 => {
                            m.remove(i);
                        }
                        _ => m.insert(i, SPECIAL[rng.usize(0..SPECIAL.len())]),
                    }
                }
                if let Ok(d) = decrypt(&m, format, &ids) {
                    let _ = d.to_plaintext(format);
                }
            }
        }
    }
}
