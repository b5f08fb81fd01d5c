//! Which files an executable needs to run in an empty (`FROM scratch`) image: the dynamic
//! loader and every shared library, found the way `ld.so` (and so `ldd`) finds them.
//!
//! For each `DT_NEEDED` name, in order: a name with a `/` is a path; otherwise the object's
//! `DT_RUNPATH`, or, if it has none, its `DT_RPATH` and the executable's (with `$ORIGIN`
//! replaced by the object's directory); then the directories of `/etc/ld.so.conf` (what
//! `ldconfig` puts in the cache); then the built-in defaults. A candidate counts only if it
//! is an ELF object for the executable's machine (a 32-bit `libc.so.6` in `/lib` does not).
//! Libraries' own needs are resolved the same way, breadth first, each library once.
//!
//! Every file goes into the image at the path the loader will look for it (a symlinked
//! `libz.so.1` becomes a regular file there, with the content it points to), so no
//! `ld.so.cache` is needed in the image.

use std::{
    collections::{BTreeSet, VecDeque},
    path::{Path, PathBuf},
};

use super::elf;

/// Directories the loader searches after everything else (glibc's defaults, with Debian's
/// multiarch directories first).
const DEFAULT_DIRS: &[&str] = &[
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
];

/// One file of the image.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NeededFile {
    /// Where it goes in the image (absolute).
    pub image_path: PathBuf,
    /// Where its content is read from on this machine (symlinks resolved).
    pub source: PathBuf,
}

/// The loader and every shared library `exe` needs, transitively. A statically linked
/// executable needs none. Fails naming the library that cannot be found.
pub fn needed_files(exe: &Path) -> Result<Vec<NeededFile>, String> {
    let info = elf::read(exe)?;
    let mut out: Vec<NeededFile> = Vec::new();
    let Some(interp) = info.interpreter.clone() else {
        return Ok(out);
    };
    out.push(NeededFile {
        source: canonical(Path::new(&interp))?,
        image_path: PathBuf::from(&interp),
    });
    let conf_dirs = ld_so_conf_dirs(Path::new("/etc/ld.so.conf"));
    let exe_dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    let exe_rpath = expand_origin(&info.rpath, &exe_dir);
    // The loader is loaded already: a library naming it (libc needs `ld-linux-x86-64.so.2`)
    // gets that one, as ld.so matches it by name.
    let mut seen: BTreeSet<String> = Path::new(&interp)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .into_iter()
        .collect();
    let mut queue: VecDeque<(String, elf::ElfInfo, PathBuf)> = VecDeque::new();
    for n in &info.needed {
        queue.push_back((n.clone(), info.clone(), exe_dir.clone()));
    }
    while let Some((name, parent, parent_dir)) = queue.pop_front() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let mut dirs: Vec<PathBuf> = Vec::new();
        if parent.runpath.is_empty() {
            dirs.extend(expand_origin(&parent.rpath, &parent_dir));
            dirs.extend(exe_rpath.iter().cloned());
        } else {
            dirs.extend(expand_origin(&parent.runpath, &parent_dir));
        }
        dirs.extend(conf_dirs.iter().cloned());
        dirs.extend(DEFAULT_DIRS.iter().map(PathBuf::from));
        let found = if name.contains('/') {
            Some(PathBuf::from(&name)).filter(|p| p.exists())
        } else {
            dirs.iter()
                .map(|d| d.join(&name))
                .find(|p| elf::read(p).is_ok_and(|i| i.machine == info.machine))
        };
        let Some(path) = found else {
            return Err(format!(
                "shared library `{name}` (needed by {}) was not found in {}",
                if parent_dir == exe_dir && parent.interpreter.is_some() {
                    exe.display().to_string()
                } else {
                    "a library".into()
                },
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(":")
            ));
        };
        let lib = elf::read(&path)?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        for n in &lib.needed {
            queue.push_back((n.clone(), lib.clone(), dir.clone()));
        }
        out.push(NeededFile {
            source: canonical(&path)?,
            image_path: path,
        });
    }
    out.sort();
    out.dedup_by(|a, b| a.image_path == b.image_path);
    Ok(out)
}

fn canonical(p: &Path) -> Result<PathBuf, String> {
    std::fs::canonicalize(p).map_err(|e| format!("{}: {e}", p.display()))
}

fn expand_origin(dirs: &[String], origin: &Path) -> Vec<PathBuf> {
    let o = origin.to_string_lossy();
    dirs.iter()
        .map(|d| PathBuf::from(d.replace("${ORIGIN}", &o).replace("$ORIGIN", &o)))
        .collect()
}

/// The directories listed in `ld.so.conf` and the files it `include`s (one level of `*`
/// globbing in the file name, as Debian's `include /etc/ld.so.conf.d/*.conf` uses).
pub fn ld_so_conf_dirs(conf: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    read_conf(conf, &mut out, 0);
    out
}

fn read_conf(conf: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 8 {
        return;
    }
    let Ok(text) = std::fs::read_to_string(conf) else {
        return;
    };
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(pattern) = line.strip_prefix("include").map(str::trim) {
            let pattern = if Path::new(pattern).is_absolute() {
                PathBuf::from(pattern)
            } else {
                conf.parent().unwrap_or(Path::new("/")).join(pattern)
            };
            for f in glob_file_name(&pattern) {
                read_conf(&f, out, depth + 1);
            }
        } else if line.starts_with('/') {
            out.push(PathBuf::from(line));
        }
    }
}

/// Files matching `dir/prefix*suffix` (or the one path when there is no `*`), sorted.
fn glob_file_name(pattern: &Path) -> Vec<PathBuf> {
    let name = pattern
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some((prefix, suffix)) = name.split_once('*') else {
        return vec![pattern.to_path_buf()];
    };
    let dir = pattern.parent().unwrap_or(Path::new("/"));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix) && n.ends_with(suffix) && n.len() >= prefix.len() + suffix.len())
        .map(|n| dir.join(n))
        .collect();
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ld_so_conf_includes_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("conf.d")).unwrap();
        std::fs::write(
            dir.path().join("ld.so.conf"),
            "# comment\ninclude conf.d/*.conf\n/opt/lib\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("conf.d/b.conf"), "/b/lib # trailing\n").unwrap();
        std::fs::write(dir.path().join("conf.d/a.conf"), "/a/lib\n").unwrap();
        std::fs::write(dir.path().join("conf.d/ignored.txt"), "/nope\n").unwrap();
        let dirs = ld_so_conf_dirs(&dir.path().join("ld.so.conf"));
        assert_eq!(
            dirs,
            [PathBuf::from("/a/lib"), "/b/lib".into(), "/opt/lib".into()]
        );
    }

    /// The same set `ldd` prints for this test binary (the dynamic loader included).
    #[test]
    fn matches_ldd() {
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        let ours: BTreeSet<String> = needed_files(&exe)
            .unwrap()
            .iter()
            .map(|f| f.image_path.display().to_string())
            .collect();
        let Ok(out) = std::process::Command::new("ldd").arg(&exe).output() else {
            eprintln!("SKIPPED: no ldd on this machine");
            return;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let ldd: BTreeSet<String> = text
            .lines()
            .filter_map(|l| {
                let l = l.trim();
                match l.split_once(" => ") {
                    Some((_, rest)) => rest.split_whitespace().next().map(String::from),
                    None => l
                        .split_whitespace()
                        .next()
                        .filter(|p| p.starts_with('/'))
                        .map(String::from),
                }
            })
            .collect();
        assert_eq!(ours, ldd, "ldd said:\n{text}");
    }
}
