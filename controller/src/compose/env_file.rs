//! dotenv files (`env_file:` and the project's `.env`), with compose v2's rules.
//!
//! compose v2 (compose-go's `dotenv`) reads: blank lines and `#` comments skipped; an optional
//! `export ` prefix; `KEY=value`; single-quoted values literal (may span lines); double-quoted
//! values with backslash escapes (`\n`, `\t`, `\"`, `\\`, `\$`) and interpolation (may span
//! lines); unquoted values trimmed, with an inline ` #` comment removed, and interpolated; a
//! bare `KEY` takes its value from the environment, or is left out. Interpolation sees the
//! keys defined earlier in the same file first, then `lookup`.

use std::collections::BTreeMap;

use super::interpolate::interpolate_str;

/// The result of parsing one dotenv file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DotEnv {
    /// Variables in file order; a later duplicate replaces the earlier value.
    pub vars: Vec<(String, String)>,
    /// Variables referenced without a default that were unset (they became "").
    pub unset: Vec<String>,
}

impl DotEnv {
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.vars.iter().cloned().collect()
    }
}

/// A parse error: 1-based line in the dotenv file, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotEnvError {
    pub line: usize,
    pub message: String,
}

/// Parses `src`; see the module docs for the rules.
pub fn parse(src: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<DotEnv, DotEnvError> {
    let mut out = DotEnv::default();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut p = Cursor { src, pos: 0, line: 1 };
    loop {
        p.skip(|c| c.is_whitespace());
        if p.eof() {
            break;
        }
        if p.peek() == Some('#') {
            p.skip_line();
            continue;
        }
        let line = p.line;
        let err = |message: String| DotEnvError { line, message };
        let head = p.take_while(|c| c != '=' && c != '\n');
        let head = head.trim_end();
        let key = head
            .strip_prefix("export")
            .filter(|k| k.starts_with([' ', '\t']))
            .map_or(head, str::trim_start);
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(err(format!("`{}` is not a valid variable name", head.trim())));
        }
        let key = key.to_string();
        if p.peek() != Some('=') {
            // A bare `KEY`: inherited from the environment, or left out.
            if let Some(v) = seen.get(&key).cloned().or_else(|| lookup(&key)) {
                push(&mut out, &mut seen, key, v);
            }
            continue;
        }
        p.bump(); // '='
        p.skip(|c| c == ' ' || c == '\t');
        let lookup_here = |k: &str| seen.get(k).cloned().or_else(|| lookup(k));
        let value = match p.peek() {
            Some('\'') => {
                p.bump();
                let v = p.take_while(|c| c != '\'');
                if p.eof() {
                    return Err(err(format!("unterminated single quote in the value of `{key}`")));
                }
                p.bump();
                p.skip_line();
                v.to_string()
            }
            Some('"') => {
                p.bump();
                let raw = p.take_double_quoted();
                if p.eof() {
                    return Err(err(format!("unterminated double quote in the value of `{key}`")));
                }
                p.bump();
                p.skip_line();
                interpolate_str(&expand_escapes(raw), &lookup_here, &mut out.unset)
                    .map_err(|e| err(format!("`{key}`: {e}")))?
            }
            _ => {
                let raw = p.take_while(|c| c != '\n');
                let raw = match raw.find(" #").or_else(|| raw.find("\t#")) {
                    Some(i) => &raw[..i],
                    None => raw,
                };
                interpolate_str(raw.trim(), &lookup_here, &mut out.unset)
                    .map_err(|e| err(format!("`{key}`: {e}")))?
            }
        };
        push(&mut out, &mut seen, key, value);
    }
    Ok(out)
}

fn push(out: &mut DotEnv, seen: &mut BTreeMap<String, String>, key: String, value: String) {
    out.vars.retain(|(k, _)| *k != key);
    seen.insert(key.clone(), value.clone());
    out.vars.push((key, value));
}

/// Backslash escapes of a double-quoted value. `\$` becomes `$$`, which interpolation then
/// turns into a literal `$` (compose-go does the same).
fn expand_escapes(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('$') => out.push_str("$$"),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

struct Cursor<'a> {
    src: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Cursor<'a> {
    fn eof(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn bump(&mut self) {
        if let Some(c) = self.peek() {
            if c == '\n' {
                self.line += 1;
            }
            self.pos += c.len_utf8();
        }
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !f(c) {
                break;
            }
            self.bump();
        }
        &self.src[start..self.pos]
    }

    fn skip(&mut self, f: impl Fn(char) -> bool) {
        self.take_while(f);
    }

    fn skip_line(&mut self) {
        self.take_while(|c| c != '\n');
    }

    /// Up to (not including) the closing unescaped `"`.
    fn take_double_quoted(&mut self) -> &'a str {
        let start = self.pos;
        let mut escaped = false;
        while let Some(c) = self.peek() {
            if c == '"' && !escaped {
                break;
            }
            escaped = c == '\\' && !escaped;
            self.bump();
        }
        &self.src[start..self.pos]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(src: &str) -> Vec<(String, String)> {
        let lookup = |k: &str| (k == "OUTER").then(|| "outer".to_string());
        parse(src, &lookup).expect("parses").vars
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn comments_export_and_trimming() {
        let src = "# comment\n\nA=1\nexport B = two  \nC=x # inline comment\nD=x#not-comment\nexportE=e\n";
        assert_eq!(
            parse_ok(src),
            pairs(&[
                ("A", "1"),
                ("B", "two"),
                ("C", "x"),
                ("D", "x#not-comment"),
                ("exportE", "e")
            ])
        );
    }

    #[test]
    fn single_quotes_are_literal() {
        assert_eq!(
            parse_ok("A='$OUTER \\n # x' # c\nB='multi\nline'\n"),
            pairs(&[("A", "$OUTER \\n # x"), ("B", "multi\nline")])
        );
    }

    #[test]
    fn double_quotes_escape_and_interpolate() {
        assert_eq!(
            parse_ok("A=\"a\\nb \\\"q\\\" $OUTER \\$HOME # kept\" # dropped\n"),
            pairs(&[("A", "a\nb \"q\" outer $HOME # kept")])
        );
    }

    #[test]
    fn unquoted_interpolates_with_earlier_keys_first() {
        assert_eq!(
            parse_ok("OUTER=mine\nA=${OUTER}-x\nB=$$lit\n"),
            pairs(&[("OUTER", "mine"), ("A", "mine-x"), ("B", "$lit")])
        );
    }

    #[test]
    fn bare_key_inherits_or_is_left_out() {
        assert_eq!(
            parse_ok("OUTER\nMISSING\nA=1\n"),
            pairs(&[("OUTER", "outer"), ("A", "1")])
        );
    }

    #[test]
    fn later_duplicate_wins_and_empty_values() {
        assert_eq!(parse_ok("A=1\nB=\nA=2\n"), pairs(&[("B", ""), ("A", "2")]));
    }

    #[test]
    fn errors_name_the_line() {
        let lookup = |_: &str| None;
        let e = parse("A=1\nB='open\n", &lookup).expect_err("fails");
        assert_eq!(e.line, 2);
        let e = parse("A=1\n\nbad key=1\n", &lookup).expect_err("fails");
        assert_eq!(e.line, 3);
        let e = parse("A=${X:?needed}\n", &lookup).expect_err("fails");
        assert!(e.message.contains("needed"), "{}", e.message);
    }
}
