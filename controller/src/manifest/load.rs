//! Reading every manifest under a source directory.
//!
//! Every `*.yaml`/`*.yml` file below the root is read (hidden directories skipped). A document
//! is a manifest when it has an `apiVersion`; documents without one are other YAML that lives
//! in the repo (compose files, application config) and are left to whoever references them.
//! A document with one of aegis's kinds but no `apiVersion` or another one, or with an
//! `aegis.dev/` version aegis does not serve, is an error: it was probably meant to be a
//! manifest. Other tools' YAML with an `apiVersion` of its own (Grafana provisioning files
//! have `apiVersion: 1`, Kubernetes objects `apps/v1`) is left alone.
//!
//! Manifest files are read through the [`SourceRoot`] like every other file of the
//! repository: a `*.yaml` symlink is followed only while it stays inside the root, and a
//! FIFO or device named `*.yaml` is refused (reading it could block forever).

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::kinds::{
    DnsGuardSpec, HostManifestSpec, Manifest, NetworkManifestSpec, PolicySpec, StackManifestSpec,
    TunnelClientSpec, API_VERSION,
};
use crate::{
    desired::{Kind, ResourceRef},
    diagnostic::{Diagnostic, Diagnostics},
    source::SourceRoot,
    yaml::{self, Document, FieldPath, SourceMap},
};

/// A manifest of any kind.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyManifest {
    Host(Manifest<HostManifestSpec>),
    Network(Manifest<NetworkManifestSpec>),
    Stack(Manifest<StackManifestSpec>),
    DnsGuard(Manifest<DnsGuardSpec>),
    TunnelClient(Manifest<TunnelClientSpec>),
    Policy(Manifest<PolicySpec>),
}

impl AnyManifest {
    pub fn kind(&self) -> Kind {
        match self {
            AnyManifest::Host(_) => Kind::Host,
            AnyManifest::Network(_) => Kind::Network,
            AnyManifest::Stack(_) => Kind::Stack,
            AnyManifest::DnsGuard(_) => Kind::DnsGuard,
            AnyManifest::TunnelClient(_) => Kind::TunnelClient,
            AnyManifest::Policy(_) => Kind::Policy,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            AnyManifest::Host(m) => &m.metadata.name,
            AnyManifest::Network(m) => &m.metadata.name,
            AnyManifest::Stack(m) => &m.metadata.name,
            AnyManifest::DnsGuard(m) => &m.metadata.name,
            AnyManifest::TunnelClient(m) => &m.metadata.name,
            AnyManifest::Policy(m) => &m.metadata.name,
        }
    }

    pub fn reference(&self) -> ResourceRef {
        ResourceRef::new(self.kind(), self.name())
    }

    /// The `spec.host` field, for kinds that live on a host.
    pub fn host(&self) -> Option<&str> {
        match self {
            AnyManifest::Host(_) | AnyManifest::Policy(_) => None,
            AnyManifest::Network(m) => m.spec.host.as_deref(),
            AnyManifest::Stack(m) => m.spec.host.as_deref(),
            AnyManifest::DnsGuard(m) => m.spec.host.as_deref(),
            AnyManifest::TunnelClient(m) => m.spec.host.as_deref(),
        }
    }
}

/// A value together with where it was written.
#[derive(Debug, Clone)]
pub struct Located<T> {
    /// Path relative to the source root, as shown in errors.
    pub file: PathBuf,
    /// Absolute path (relative references resolve against its directory).
    pub abs: PathBuf,
    /// The document's line numbers.
    pub map: Arc<SourceMap>,
    pub value: T,
}

impl<T> Located<T> {
    pub fn line_of(&self, path: &FieldPath) -> Option<usize> {
        self.map.line_of(path)
    }

    pub fn diag(&self, path: FieldPath, message: impl Into<String>) -> Diagnostic {
        let line = self.line_of(&path);
        Diagnostic::new(&self.file, line, path, message)
    }

    /// The directory the manifest file is in.
    pub fn dir(&self) -> &Path {
        self.abs.parent().unwrap_or(Path::new("/"))
    }
}

/// Every manifest of one source revision.
#[derive(Debug, Clone, Default)]
pub struct ManifestSet {
    /// The canonical source root.
    pub root: PathBuf,
    pub items: Vec<Located<AnyManifest>>,
    /// Content hash of every YAML file read (a directory source's revision id).
    pub content_hash: String,
}

impl ManifestSet {
    pub fn get(&self, r: &ResourceRef) -> Option<&Located<AnyManifest>> {
        self.items
            .iter()
            .find(|m| m.value.kind() == r.kind && m.value.name() == r.name)
    }

    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Located<AnyManifest>> {
        self.items.iter().filter(move |m| m.value.kind() == kind)
    }
}

/// Loads every manifest under `root`. Returns what could be loaded plus every problem found.
pub fn load_dir(root: &Path) -> (ManifestSet, Diagnostics) {
    match SourceRoot::open(root) {
        Ok(r) => load_root(&r),
        Err(e) => {
            let d = Diagnostic::new(root, None, FieldPath::root(), e.to_string()).with_hint(e.hint());
            (
                ManifestSet {
                    root: root.to_path_buf(),
                    ..Default::default()
                },
                Diagnostics(vec![d]),
            )
        }
    }
}

/// [`load_dir`] for a root already opened.
pub fn load_root(source: &SourceRoot) -> (ManifestSet, Diagnostics) {
    let root = source.path();
    let mut diags = Diagnostics::default();
    let mut set = ManifestSet {
        root: root.to_path_buf(),
        ..Default::default()
    };
    let files = match yaml_files(root) {
        Ok(f) => f,
        Err(e) => {
            diags.push(
                Diagnostic::new(
                    root,
                    None,
                    FieldPath::root(),
                    format!("cannot read the source directory: {e}"),
                )
                .with_hint("check that --source names a directory you can read"),
            );
            return (set, diags);
        }
    };
    let mut hasher = Sha256::new();
    for abs in files {
        let rel = abs.strip_prefix(root).unwrap_or(&abs).to_path_buf();
        let src = match source.top().read_to_string(&rel) {
            Ok((_, s)) => s,
            Err(e) => {
                diags.push(
                    Diagnostic::new(&rel, None, FieldPath::root(), format!("cannot read file: {e}"))
                        .with_hint(e.hint()),
                );
                continue;
            }
        };
        hasher.update(rel.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(src.as_bytes());
        hasher.update([0]);
        let docs = match yaml::parse_documents(&rel, &src) {
            Ok(d) => d,
            Err(e) => {
                // A YAML file that does not parse may well be a manifest: reject the revision.
                diags.extend(e);
                continue;
            }
        };
        for doc in docs {
            match decode_manifest(&rel, &doc) {
                Ok(Some(m)) => set.items.push(Located {
                    file: rel.clone(),
                    abs: abs.clone(),
                    map: Arc::new(doc.map),
                    value: m,
                }),
                Ok(None) => {}
                Err(d) => diags.push(d),
            }
        }
    }
    set.content_hash = hex::encode(hasher.finalize());
    (set, diags)
}

/// An `apiVersion` in this group is aegis's, whatever its version.
const API_GROUP: &str = "aegis.dev/";

fn decode_manifest(file: &Path, doc: &Document) -> Result<Option<AnyManifest>, Diagnostic> {
    let Value::Object(obj) = &doc.value else {
        return Ok(None);
    };
    let api = obj.get("apiVersion");
    let kind = obj.get("kind").and_then(Value::as_str);
    let diag = |path: &str, msg: String| {
        Diagnostic::new(
            file,
            doc.line_of(&FieldPath::parse(path)),
            FieldPath::parse(path),
            msg,
        )
    };
    let Some(api) = api else {
        return match kind {
            Some(k) if k.parse::<Kind>().is_ok() => Err(diag(
                "kind",
                format!("a `{k}` document needs `apiVersion: {API_VERSION}`"),
            )
            .with_hint(format!("add `apiVersion: {API_VERSION}` above `kind:`"))),
            _ => Ok(None),
        };
    };
    let ours = api.as_str().is_some_and(|a| a.starts_with(API_GROUP))
        || kind.is_some_and(|k| k.parse::<Kind>().is_ok());
    if !ours {
        // Another tool's YAML that has an `apiVersion` of its own: Grafana provisioning
        // (`apiVersion: 1`), Kubernetes objects, ...
        return Ok(None);
    }
    if api.as_str() != Some(API_VERSION) {
        return Err(diag(
            "apiVersion",
            format!("unsupported apiVersion {api}; aegis serves `{API_VERSION}`"),
        )
        .with_hint("set apiVersion to aegis.dev/v1alpha1, or move non-aegis manifests out of the source"));
    }
    let Some(kind) = kind else {
        return Err(diag("kind", "missing `kind`".into())
            .with_hint("one of Host, Network, Stack, DnsGuard, TunnelClient, Policy"));
    };
    let kind: Kind = kind.parse().map_err(|e: String| diag("kind", e))?;
    let root = FieldPath::root();
    let m = match kind {
        Kind::Host => AnyManifest::Host(yaml::decode(file, &doc.map, &root, &doc.value)?),
        Kind::Network => AnyManifest::Network(yaml::decode(file, &doc.map, &root, &doc.value)?),
        Kind::Stack => AnyManifest::Stack(yaml::decode(file, &doc.map, &root, &doc.value)?),
        Kind::DnsGuard => AnyManifest::DnsGuard(yaml::decode(file, &doc.map, &root, &doc.value)?),
        Kind::TunnelClient => AnyManifest::TunnelClient(yaml::decode(file, &doc.map, &root, &doc.value)?),
        Kind::Policy => AnyManifest::Policy(yaml::decode(file, &doc.map, &root, &doc.value)?),
    };
    Ok(Some(m))
}

/// Every YAML file below `root`, sorted, skipping hidden directories (`.git`).
fn yaml_files(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name();
            let hidden = name.to_string_lossy().starts_with('.');
            let ft = entry.file_type()?;
            if ft.is_dir() {
                if !hidden {
                    stack.push(path);
                }
            } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, body: &str) {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, body).expect("write");
    }

    #[test]
    fn loads_multi_document_files_and_skips_plain_yaml() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "a.yaml",
            "apiVersion: aegis.dev/v1alpha1\nkind: Network\nmetadata: {name: web}\nspec: {driver: bridge}\n---\napiVersion: aegis.dev/v1alpha1\nkind: Stack\nmetadata: {name: demo}\nspec:\n  compose: app/compose.yaml\n",
        );
        write(
            dir.path(),
            "app/compose.yaml",
            "services:\n  web:\n    image: busybox\n",
        );
        let (set, diags) = load_dir(dir.path());
        assert!(diags.is_empty(), "{diags}");
        assert_eq!(set.items.len(), 2);
        assert_eq!(set.items[1].value.reference().to_string(), "Stack/demo");
    }

    #[test]
    fn unknown_field_names_file_line_and_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "n.yaml",
            "apiVersion: aegis.dev/v1alpha1\nkind: Network\nmetadata: {name: web}\nspec:\n  driver: bridge\n  internl: true\n",
        );
        let (_, diags) = load_dir(dir.path());
        let text = diags.to_string();
        assert!(text.contains("n.yaml:6: spec.internl"), "{text}");
        assert!(text.contains("unknown field `internl`"), "{text}");
    }

    #[test]
    fn kind_without_api_version_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "s.yaml", "kind: Stack\nmetadata: {name: x}\n");
        let (_, diags) = load_dir(dir.path());
        assert_eq!(diags.len(), 1, "{diags}");
        assert!(diags.to_string().contains("s.yaml:1: kind"), "{diags}");
    }

    #[test]
    fn other_tools_yaml_with_an_api_version_is_not_a_manifest() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "grafana/datasource.yml",
            "apiVersion: 1\ndatasources:\n  - name: Prometheus\n    type: prometheus\n",
        );
        write(
            dir.path(),
            "k8s/deploy.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n",
        );
        let (set, diags) = load_dir(dir.path());
        assert!(diags.is_empty(), "{diags}");
        assert!(set.items.is_empty());
    }

    #[test]
    fn an_aegis_kind_or_group_with_a_wrong_version_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "a.yaml",
            "apiVersion: apps/v1\nkind: Stack\nmetadata: {name: x}\n---\napiVersion: aegis.dev/v2\nkind: Widget\n",
        );
        let (_, diags) = load_dir(dir.path());
        assert_eq!(diags.len(), 2, "{diags}");
        assert!(diags.to_string().contains("a.yaml:1: apiVersion"), "{diags}");
    }

    #[test]
    fn reports_errors_from_every_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            "a.yaml",
            "apiVersion: aegis.dev/v1alpha1\nkind: Widget\nmetadata: {name: x}\n",
        );
        write(dir.path(), "b.yaml", "a: [1, 2\n");
        let (_, diags) = load_dir(dir.path());
        assert_eq!(diags.len(), 2, "{diags}");
    }
}
