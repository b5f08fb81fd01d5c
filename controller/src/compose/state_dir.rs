//! A stack's project directory on its host, and the state directories in it.
//!
//! Compose binds a relative source under the project's working directory and creates it
//! when it is missing: `./data:/data` is where the service keeps its state. aegis's compose
//! file lives in a repository, not on the target host, so a relative source is decided by
//! what the repository holds:
//! - the repository holds it: a file or directory delivered by content (see
//!   [`super::volumes`] and `docker/files.rs`), as before;
//! - it does not: state, bound from the Stack's project directory on its host,
//!   `<project dir>/<path normalised>`. The engine creates a missing directory itself (the
//!   bind goes through `HostConfig.Binds`, as Compose v2 sends short syntax), unless the long
//!   syntax says `bind.create_host_path: false`.
//!
//! The project directory is `spec.projectDir` (an existing directory, such as Komodo's
//! `/etc/komodo/stacks/<name>`, for a migration that keeps its data) or
//! [`STACKS_ROOT`]`/<stack>`. It is never under the content-addressed files tree, and aegis
//! never deletes anything under it: no plan action removes a host directory, so pruning the
//! stack (or one of its services) leaves the state where it was.
//!
//! Pure: strings in, strings out. The resolved host path is what the container spec holds
//! (as a host bind), so the spec hash changes exactly when that path changes.

use std::path::{Component, Path};

/// Default parent of the stacks' project directories on every host, beside the delivered
/// files root (`/var/lib/aegis/files`).
pub const STACKS_ROOT: &str = "/var/lib/aegis/stacks";

/// Root of delivered repository files (content-addressed), which a project directory must
/// stay out of. Same value as `docker::files::FILES_ROOT`.
const FILES_ROOT: &str = "/var/lib/aegis/files";

/// The Stack's project directory on its host: `spec.projectDir` if given (checked with
/// [`check_project_dir`] first), else [`STACKS_ROOT`]`/<stack>`.
pub fn project_dir(stack: &str, configured: Option<&str>) -> String {
    match configured {
        Some(dir) => normalise_absolute(dir),
        None => format!("{STACKS_ROOT}/{stack}"),
    }
}

/// Whether the stack's name can be the last component of its default project directory
/// (one path component, nothing a Docker bind cannot carry).
pub fn check_stack_name(stack: &str) -> Result<(), String> {
    if stack.is_empty()
        || stack == "."
        || stack == ".."
        || stack.contains(['/', ':'])
        || stack.chars().any(char::is_control)
    {
        Err(format!(
            "`{stack}` cannot name the stack's project directory ({STACKS_ROOT}/<stack>): it must be one path component without `:`"
        ))
    } else {
        Ok(())
    }
}

/// `spec.projectDir`: an absolute path on the target host, without `..`, usable in a Docker
/// bind (no `:`, no control characters), not `/` and not inside the delivered files tree.
/// The error says what is wrong; callers add file, line and field.
pub fn check_project_dir(dir: &str) -> Result<(), String> {
    if !dir.starts_with('/') {
        return Err(format!(
            "`{dir}` is not an absolute path; the project directory is a path on the target host"
        ));
    }
    if Path::new(dir).components().any(|c| c == Component::ParentDir) {
        return Err(format!("`{dir}` contains `..`; write the directory without it"));
    }
    if dir.contains(':') || dir.chars().any(char::is_control) {
        return Err(format!(
            "`{dir}` contains `:` or a control character, which a Docker bind cannot carry"
        ));
    }
    let norm = normalise_absolute(dir);
    if norm == "/" {
        return Err("`/` cannot be a project directory: its services would bind the host's root".into());
    }
    if norm == FILES_ROOT || norm.starts_with(&format!("{FILES_ROOT}/")) {
        return Err(format!(
            "`{dir}` is inside {FILES_ROOT}, where aegis keeps delivered repository files by content"
        ));
    }
    Ok(())
}

/// The host path of the state directory `relative` (a bind source as written, relative to
/// the compose file's directory, that the repository does not hold) in `project_dir`.
/// `.` components and trailing slashes go; `..` may not climb above the project directory.
pub fn state_source(project_dir: &str, relative: &str) -> Result<String, String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(relative).components() {
        match c {
            Component::Normal(n) => match n.to_str() {
                Some(s) => parts.push(s),
                None => return Err(format!("bind source `{relative}` is not valid UTF-8")),
            },
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return Err(format!(
                        "bind source `{relative}` is not in the repository, and as a state directory it would climb above the stack's project directory ({project_dir})"
                    ));
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("bind source `{relative}` is not a relative path"))
            }
        }
    }
    if relative.contains(':') {
        return Err(format!(
            "bind source `{relative}` contains `:`, which a Docker bind cannot carry"
        ));
    }
    let base = project_dir.trim_end_matches('/');
    if parts.is_empty() {
        return Ok(if base.is_empty() { "/".into() } else { base.into() });
    }
    Ok(format!("{base}/{}", parts.join("/")))
}

/// `/a//b/./c/` → `/a/b/c` (no `..`: [`check_project_dir`] refuses it).
fn normalise_absolute(dir: &str) -> String {
    let parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_configured_project_dirs() {
        assert_eq!(project_dir("media", None), "/var/lib/aegis/stacks/media");
        assert_eq!(
            project_dir("media", Some("/etc/komodo/stacks/media/")),
            "/etc/komodo/stacks/media"
        );
        assert_eq!(project_dir("m", Some("/srv//m/./x")), "/srv/m/x");
    }

    #[test]
    fn stack_names_must_be_one_path_component() {
        assert!(check_stack_name("media-2_x.y").is_ok());
        for bad in ["", ".", "..", "a/b", "../etc", "a:b", "a\nb"] {
            assert!(check_stack_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn project_dir_validation() {
        assert!(check_project_dir("/etc/komodo/stacks/media").is_ok());
        assert!(check_project_dir("/srv/state/").is_ok());
        for (bad, says) in [
            ("relative/dir", "not an absolute path"),
            ("", "not an absolute path"),
            ("/srv/../etc", "contains `..`"),
            ("/srv/a:b", "`:`"),
            ("/srv/a\nb", "control character"),
            ("/", "`/` cannot"),
            ("//.", "`/` cannot"),
            ("/var/lib/aegis/files", "delivered repository files"),
            ("/var/lib/aegis/files/x", "delivered repository files"),
        ] {
            let e = check_project_dir(bad).expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
        }
        // A sibling that only shares the prefix is fine.
        assert!(check_project_dir("/var/lib/aegis/files2").is_ok());
    }

    #[test]
    fn state_sources_are_normalised_under_the_project_dir() {
        let p = "/var/lib/aegis/stacks/app";
        for (written, host) in [
            ("./data", "/var/lib/aegis/stacks/app/data"),
            ("data", "/var/lib/aegis/stacks/app/data"),
            ("./data/", "/var/lib/aegis/stacks/app/data"),
            ("./a/./b//c", "/var/lib/aegis/stacks/app/a/b/c"),
            ("./a/../b", "/var/lib/aegis/stacks/app/b"),
            (".", "/var/lib/aegis/stacks/app"),
        ] {
            assert_eq!(state_source(p, written).as_deref(), Ok(host), "{written}");
        }
        assert_eq!(
            state_source("/etc/komodo/stacks/app/", "./data").as_deref(),
            Ok("/etc/komodo/stacks/app/data")
        );
    }

    #[test]
    fn state_sources_may_not_climb_out() {
        for bad in ["../data", "./a/../../data", "a/../.."] {
            let e = state_source("/var/lib/aegis/stacks/app", bad).expect_err(bad);
            assert!(
                e.contains("climb above the stack's project directory"),
                "{bad}: {e}"
            );
        }
        assert!(state_source("/p", "./a:b").is_err());
    }

    /// The resolved path is all the spec holds: another stack name or project directory
    /// gives another path (and so another spec hash), the same ones the same path.
    #[test]
    fn resolved_path_depends_only_on_the_project_dir_and_the_path() {
        let a = state_source(&project_dir("a", None), "./data");
        assert_eq!(a, state_source(&project_dir("a", None), "data/"));
        assert_ne!(a, state_source(&project_dir("b", None), "./data"));
        assert_ne!(a, state_source(&project_dir("a", Some("/srv/a")), "./data"));
    }
}
