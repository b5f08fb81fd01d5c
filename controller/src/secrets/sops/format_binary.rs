//! The binary store (Go `json.BinaryStore`): a JSON envelope whose one `data` string holds
//! the whole file; `sops -d` prints that string's bytes.

use super::tree::{Entry, Node};

pub(crate) fn emit(branches: &[Vec<Entry>]) -> Result<Vec<u8>, String> {
    if branches.len() != 1 {
        return Err("there must be exactly one tree branch".into());
    }
    for e in &branches[0] {
        if let Entry::Pair { key, value, .. } = e {
            if key == "data" {
                return match value {
                    Node::Str(s) => Ok(s.expose().to_vec()),
                    _ => Err("`data` is not a string".into()),
                };
            }
        }
    }
    Err("no binary data found in tree".into())
}
