//! `.dockerignore` of a build context, with the Docker CLI's rules: one pattern a line
//! (`#` starts a comment), Go `filepath.Match` syntax plus `**` for any number of directories,
//! `!` for an exception; the last pattern that matches a path (or one of its parent
//! directories) decides. The Dockerfile and `.dockerignore` itself are always sent, as the
//! CLI does.

use regex::Regex;

use crate::source::root::TreeEntry;

/// Parsed patterns, in file order: `(matcher, excludes)`; `excludes` is false for `!`.
#[derive(Debug, Default)]
pub struct DockerIgnore(Vec<(Regex, bool)>);

impl DockerIgnore {
    /// Parses the file's text. An error names the 1-based line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut rules = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (pattern, excludes) = match line.strip_prefix('!') {
                Some(p) => (p.trim(), false),
                None => (line, true),
            };
            let pattern = clean(pattern);
            if pattern.is_empty() {
                continue;
            }
            let re = Regex::new(&to_regex(&pattern))
                .map_err(|e| format!("line {}: bad pattern `{line}`: {e}", i + 1))?;
            rules.push((re, excludes));
        }
        Ok(Self(rules))
    }

    /// Whether `path` (relative to the context, `/`-separated) is left out.
    pub fn excludes(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').collect();
        let prefixes: Vec<String> = (1..=parts.len()).map(|k| parts[..k].join("/")).collect();
        let mut out = false;
        for (re, excludes) in &self.0 {
            if prefixes.iter().any(|p| re.is_match(p)) {
                out = *excludes;
            }
        }
        out
    }

    /// The entries of a context tree that are sent: files not excluded (and those in
    /// `keep`), and the directories that are not excluded or hold a file that is sent.
    pub fn filter(&self, tree: Vec<TreeEntry>, keep: &[&str]) -> Vec<TreeEntry> {
        if self.0.is_empty() {
            return tree;
        }
        let name = |e: &TreeEntry| e.name.to_string_lossy().into_owned();
        let sent_files: Vec<String> = tree
            .iter()
            .filter(|e| e.file.is_some())
            .map(name)
            .filter(|n| keep.contains(&n.as_str()) || !self.excludes(n))
            .collect();
        tree.into_iter()
            .filter(|e| {
                let n = name(e);
                if e.file.is_some() {
                    return sent_files.contains(&n);
                }
                n.is_empty()
                    || !self.excludes(&n)
                    || sent_files.iter().any(|f| f.starts_with(&format!("{n}/")))
            })
            .collect()
    }
}

/// Go's `filepath.Clean` for a pattern, without a leading `/`.
fn clean(pattern: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in pattern.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// The pattern as an anchored regex, as Docker's `patternmatcher` builds it.
fn to_regex(pattern: &str) -> String {
    let mut re = String::from("^");
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 1;
                if chars.get(i + 1) == Some(&'/') {
                    // `**/` matches no directory too.
                    i += 1;
                    re.push_str("(.*/)?");
                } else {
                    re.push_str(".*");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '\\' => {
                i += 1;
                if let Some(n) = chars.get(i) {
                    re.push_str(&regex::escape(&n.to_string()));
                }
            }
            '[' => {
                // A character class, passed through (`[!...]` is Go's negation).
                let mut class = String::from("[");
                let mut j = i + 1;
                if chars.get(j) == Some(&'!') || chars.get(j) == Some(&'^') {
                    class.push('^');
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    if chars[j] == '\\' || chars[j] == '[' {
                        class.push('\\');
                    }
                    class.push(chars[j]);
                    j += 1;
                }
                if j < chars.len() {
                    class.push(']');
                    re.push_str(&class);
                    i = j;
                } else {
                    re.push_str(&regex::escape("["));
                }
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    re.push('$');
    re
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn ig(text: &str) -> DockerIgnore {
        DockerIgnore::parse(text).expect("parses")
    }

    #[test]
    fn patterns_follow_the_docker_cli() {
        let i = ig("# comment\n*.log\n/secret\nnode_modules\n**/*.tmp\n!keep.log\ndocs/?.md\n");
        assert!(i.excludes("a.log"));
        assert!(!i.excludes("sub/a.log"), "`*` does not cross directories");
        assert!(!i.excludes("keep.log"), "the later exception wins");
        assert!(i.excludes("secret"));
        assert!(
            i.excludes("secret/key"),
            "a matched directory excludes what it holds"
        );
        assert!(i.excludes("node_modules/x/y.js"));
        assert!(
            i.excludes("x.tmp") && i.excludes("a/b/x.tmp"),
            "`**/` matches zero or more"
        );
        assert!(i.excludes("docs/a.md") && !i.excludes("docs/ab.md"));
        assert!(!i.excludes("src/main.rs"));
        assert!(ig("[!a]*\n").excludes("b") && !ig("[!a]*\n").excludes("a"));
    }

    #[test]
    fn filtering_keeps_the_dockerfile_and_exceptions_inside_excluded_directories() {
        let e = |name: &str, file: bool| TreeEntry {
            name: PathBuf::from(name),
            mode: 0o644,
            file: file.then(|| PathBuf::from("/x").join(name)),
        };
        let tree = vec![
            e("", false),
            e("Dockerfile", true),
            e("data", false),
            e("data/big.bin", true),
            e("data/keep.txt", true),
            e("src", false),
            e("src/a.txt", true),
        ];
        let kept = ig("Dockerfile\ndata\n!data/keep.txt\n").filter(tree, &["Dockerfile"]);
        let names: Vec<String> = kept.iter().map(|e| e.name.display().to_string()).collect();
        assert_eq!(
            names,
            ["", "Dockerfile", "data", "data/keep.txt", "src", "src/a.txt"]
        );
    }
}
