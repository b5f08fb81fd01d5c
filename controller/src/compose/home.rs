//! `~` in bind sources: the home directory on the target host.
//!
//! Compose v2 (compose-go `paths.ExpandUser`) replaces a leading `~` of a bind source with
//! the home directory of the user who runs `docker compose`. A bind source is a path on the
//! target host, and aegis runs nowhere near it, so the home directory is the Host's
//! `spec.homeDir`, default [`DEFAULT_HOME_DIR`]: what Compose gives when root runs it on
//! that host (the usual case for a server's stacks, and for Komodo's periphery).
//!
//! Only bind sources are expanded (short syntax and long `type: bind`). Fields that name
//! files of the repository (`env_file`, `secrets`/`configs` `file:`, `build.context`) never
//! are: they stay inside the repository, and a `~` there is an error from the repository
//! read (see `source::root`).
//!
//! compose-go joins whatever follows the `~` onto the home directory, so `~bob/x` becomes
//! `$HOME/bob/x`, not bob's home. That is surprising enough that aegis refuses `~user` with
//! a hint instead of copying it.
//!
//! Pure: strings in, strings out; the expanded path is what the container spec holds (a host
//! bind), so the spec hash changes when `homeDir` changes the source.

use std::path::{Component, Path};

/// The home directory of root, which runs Compose on most servers.
pub const DEFAULT_HOME_DIR: &str = "/root";

/// `spec.homeDir`: an absolute path without `..`, `:` or control characters (a Docker bind
/// cannot carry `:`). The error says what is wrong; callers add file, line and field.
pub fn check_home_dir(dir: &str) -> Result<(), String> {
    if !dir.starts_with('/') {
        return Err(format!(
            "`{dir}` is not an absolute path; the home directory is a path on the target host"
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
    Ok(())
}

/// The host path of a bind source that starts with `~` (`~` or `~/...`), under `home`;
/// `None` when the source does not start with `~`. Like compose-go's `filepath.Join`, the
/// result is cleaned: `.` and empty components go, `..` climbs (never above `/`).
pub fn expand(source: &str, home: &str) -> Option<Result<String, String>> {
    let rest = source.strip_prefix('~')?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        let user = rest.split('/').next().unwrap_or_default();
        return Some(Err(format!(
            "bind source `{source}`: `~{user}` (another user's home) is not supported; Compose v2 would read it as `$HOME/{rest}`"
        )));
    }
    Some(Ok(clean(&format!("{home}/{rest}"))))
}

/// `/a//b/./c/../d/` → `/a/b/d`.
fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilde_and_tilde_slash_expand_under_the_home_dir() {
        for (written, host) in [
            ("~", "/root"),
            ("~/", "/root"),
            ("~/minecraft_data", "/root/minecraft_data"),
            ("~/a/./b//c/", "/root/a/b/c"),
            ("~/../srv", "/srv"),
        ] {
            assert_eq!(expand(written, "/root"), Some(Ok(host.into())), "{written}");
        }
        assert_eq!(
            expand("~/data", "/home/deploy/"),
            Some(Ok("/home/deploy/data".into()))
        );
    }

    #[test]
    fn other_sources_are_not_expanded() {
        for s in ["/srv/data", "./data", "data/~", "a~b"] {
            assert_eq!(expand(s, "/root"), None, "{s}");
        }
    }

    #[test]
    fn another_users_home_is_refused_with_what_compose_would_do() {
        let e = expand("~bob/x", "/root")
            .expect("starts with ~")
            .expect_err("~user");
        assert!(e.contains("`~bob` (another user's home) is not supported"), "{e}");
        assert!(e.contains("`$HOME/bob/x`"), "{e}");
    }

    /// The home dir is part of the resolved path, so of the spec and its hash.
    #[test]
    fn another_home_dir_gives_another_path() {
        assert_ne!(expand("~/d", "/root"), expand("~/d", "/home/u"));
    }

    #[test]
    fn home_dir_validation() {
        assert!(check_home_dir("/root").is_ok());
        assert!(check_home_dir("/home/deploy/").is_ok());
        for (bad, says) in [
            ("home/u", "not an absolute path"),
            ("", "not an absolute path"),
            ("~", "not an absolute path"),
            ("/home/../etc", "contains `..`"),
            ("/home/a:b", "`:`"),
            ("/home/a\nb", "control character"),
        ] {
            let e = check_home_dir(bad).expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
