//! The agent image as a `docker save` archive, written deterministically and streamed.
//!
//! The archive is what `POST /images/load` takes: `manifest.json`, the image config
//! (`<id>.json`) and one layer (`<diff-id>/layer.tar`). Everything in it is fixed by its
//! inputs (modes, owner root, mtime 0, `created` at the epoch), so the layer digest, the
//! config digest and therefore the **image ID are the same on every host** that loads it,
//! whichever host built it. That makes "is the agent image on host H?" a plain ID comparison.
//!
//! The layer can be over 100 MB (a debug build of aegis), so it is never held in memory: one
//! pass hashes it ([`layer_digest`]), a second writes the archive ([`write_archive`]) into any
//! `Write` (the upload stream).

use std::{
    io::{self, Write},
    path::PathBuf,
};

use sha2::{Digest, Sha256};

/// One entry of the image's root filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Dir {
        path: String,
        mode: u32,
    },
    /// A regular file whose content is read from `source`.
    File {
        path: String,
        source: PathBuf,
        mode: u32,
    },
}

/// The image's root filesystem, its entrypoint, environment and labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub entries: Vec<Entry>,
    pub entrypoint: Vec<String>,
    pub env: Vec<String>,
    pub labels: std::collections::BTreeMap<String, String>,
    /// Docker's name for the architecture (`amd64`, `arm64`, ...).
    pub architecture: String,
}

/// Writes the layer tar of `spec` into `w`.
pub fn write_layer(spec: &Spec, w: impl Write) -> io::Result<()> {
    let mut b = tar::Builder::new(w);
    for e in &spec.entries {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        match e {
            Entry::Dir { path, mode } => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*mode);
                h.set_size(0);
                b.append_data(&mut h, format!("{}/", path.trim_start_matches('/')), io::empty())?;
            }
            Entry::File { path, source, mode } => {
                let f = std::fs::File::open(source)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", source.display())))?;
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(f.metadata()?.len());
                b.append_data(&mut h, path.trim_start_matches('/'), f)?;
            }
        }
    }
    b.into_inner()?.flush()
}

/// A `Write` that only hashes and counts.
struct Hasher {
    sha: Sha256,
    len: u64,
}

impl Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sha.update(buf);
        self.len += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The layer's digest (hex SHA-256 of the uncompressed tar: its Docker "diff ID") and size.
pub fn layer_digest(spec: &Spec) -> io::Result<(String, u64)> {
    let mut h = Hasher {
        sha: Sha256::new(),
        len: 0,
    };
    write_layer(spec, &mut h)?;
    Ok((hex::encode(h.sha.finalize()), h.len))
}

/// The image config for a layer with digest `diff_id`; its SHA-256 is the image ID.
pub fn config_json(spec: &Spec, diff_id: &str) -> Vec<u8> {
    let epoch = "1970-01-01T00:00:00Z";
    let config = serde_json::json!({
        "architecture": spec.architecture,
        "os": "linux",
        "created": epoch,
        "config": {
            "Entrypoint": spec.entrypoint,
            "Env": spec.env,
            "Labels": spec.labels,
            "WorkingDir": "/",
        },
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]},
        "history": [{"created": epoch, "created_by": "aegis: its own executable and the shared libraries it needs"}],
    });
    serde_json::to_vec(&config).unwrap_or_default()
}

/// Writes the whole `docker save` archive: `manifest.json`, the config and the layer, which
/// must hash to `diff_id` and be `layer_len` bytes long (from [`layer_digest`]; a file that
/// changed in between is an error, not a corrupt image).
pub fn write_archive(
    spec: &Spec,
    tags: &[String],
    diff_id: &str,
    layer_len: u64,
    mut w: impl Write,
) -> io::Result<()> {
    let config = config_json(spec, diff_id);
    let image_id = hex::encode(Sha256::digest(&config));
    let layer_path = format!("{diff_id}/layer.tar");
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": format!("{image_id}.json"),
        "RepoTags": tags,
        "Layers": [layer_path],
    }]))
    .unwrap_or_default();
    let header = |path: &str, size: u64, kind: tar::EntryType| -> io::Result<[u8; 512]> {
        let mut h = tar::Header::new_ustar();
        h.set_path(path)?;
        h.set_entry_type(kind);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_size(size);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        let mut block = [0u8; 512];
        block.copy_from_slice(h.as_bytes());
        Ok(block)
    };
    let pad = |len: u64| vec![0u8; ((512 - len % 512) % 512) as usize];
    for (path, body) in [
        ("manifest.json", &manifest),
        (&format!("{image_id}.json")[..], &config),
    ] {
        w.write_all(&header(path, body.len() as u64, tar::EntryType::Regular)?)?;
        w.write_all(body)?;
        w.write_all(&pad(body.len() as u64))?;
    }
    w.write_all(&header(&format!("{diff_id}/"), 0, tar::EntryType::Directory)?)?;
    w.write_all(&header(&layer_path, layer_len, tar::EntryType::Regular)?)?;
    let mut check = Checked {
        inner: &mut w,
        sha: Sha256::new(),
        len: 0,
    };
    write_layer(spec, &mut check)?;
    let (written, digest) = (check.len, hex::encode(check.sha.finalize()));
    if written != layer_len || digest != diff_id {
        return Err(io::Error::other(
            "a file of the agent image changed while the image was being written; try again",
        ));
    }
    w.write_all(&pad(layer_len))?;
    w.write_all(&[0u8; 1024])?;
    w.flush()
}

/// Passes writes through while hashing and counting them.
struct Checked<W> {
    inner: W,
    sha: Sha256,
    len: u64,
}

impl<W: Write> Write for Checked<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The image ID (`sha256:…`) the archive of `spec` loads as.
pub fn image_id(spec: &Spec, diff_id: &str) -> String {
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(config_json(spec, diff_id)))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dir: &std::path::Path) -> Spec {
        std::fs::write(dir.join("tool"), b"#!/bin/true\n").unwrap();
        Spec {
            entries: vec![
                Entry::Dir {
                    path: "/lib".into(),
                    mode: 0o755,
                },
                Entry::File {
                    path: "/tool".into(),
                    source: dir.join("tool"),
                    mode: 0o755,
                },
            ],
            entrypoint: vec!["/tool".into()],
            env: vec![],
            labels: Default::default(),
            architecture: "amd64".into(),
        }
    }

    #[test]
    fn archive_is_deterministic_and_well_formed() {
        let dir = tempfile::tempdir().unwrap();
        let s = spec(dir.path());
        let (diff, len) = layer_digest(&s).unwrap();
        let mut a = Vec::new();
        let tags = ["x:1".to_string(), "x:latest".to_string()];
        write_archive(&s, &tags, &diff, len, &mut a).unwrap();
        let mut b = Vec::new();
        write_archive(&s, &tags, &diff, len, &mut b).unwrap();
        assert_eq!(a, b, "same inputs, same bytes");
        let mut names = Vec::new();
        let mut ar = tar::Archive::new(&a[..]);
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            if name == "manifest.json" {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut e, &mut text).unwrap();
                assert!(text.contains("\"RepoTags\":[\"x:1\",\"x:latest\"]"), "{text}");
            }
            if name.ends_with("layer.tar") {
                let mut layer = Vec::new();
                std::io::Read::read_to_end(&mut e, &mut layer).unwrap();
                assert_eq!(hex::encode(Sha256::digest(&layer)), diff);
            }
            names.push(name);
        }
        assert_eq!(names.len(), 4, "{names:?}");
        assert!(image_id(&s, &diff).starts_with("sha256:"));
    }

    #[test]
    fn a_file_changing_between_passes_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let s = spec(dir.path());
        let (diff, len) = layer_digest(&s).unwrap();
        std::fs::write(dir.path().join("tool"), b"#!/bin/false\n").unwrap();
        let err = write_archive(&s, &["x:1".into()], &diff, len, Vec::new()).unwrap_err();
        assert!(err.to_string().contains("changed while"), "{err}");
    }
}
