//! `${VAR}` interpolation, as compose does it, on string values of the generic tree.
//!
//! Runs before the typed decode, so that `cpus: ${CPUS}` works; the typed model therefore
//! accepts numbers and booleans written as strings. Keys are never interpolated (compose
//! doesn't either).

use serde_json::Value;

use crate::yaml::FieldPath;

/// Why a string could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpolateError {
    /// A `$` that starts no valid reference, or an unclosed `${`.
    Invalid(String),
    /// `${VAR:?message}` / `${VAR?message}` with the variable missing.
    Required { var: String, message: String },
}

impl std::fmt::Display for InterpolateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InterpolateError::Invalid(s) => {
                write!(
                    f,
                    "invalid interpolation format in `{s}`; write `$$` for a literal `$`"
                )
            }
            InterpolateError::Required { var, message } if message.is_empty() => {
                write!(f, "required variable {var} is missing a value")
            }
            InterpolateError::Required { var, message } => {
                write!(f, "required variable {var} is missing a value: {message}")
            }
        }
    }
}

/// Interpolates `s`. `lookup` resolves a variable; every variable that was referenced without
/// a default and is unset is pushed to `unset` (it interpolates to "", and compose warns).
pub fn interpolate_str(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<String, InterpolateError> {
    let invalid = || InterpolateError::Invalid(s.to_string());
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body_start) = after.strip_prefix('{') {
            let end = closing_brace(body_start).ok_or_else(invalid)?;
            let body = &body_start[..end];
            out.push_str(&braced(body, lookup, unset).map_err(|e| match e {
                InterpolateError::Invalid(_) => invalid(),
                other => other,
            })?);
            rest = &body_start[end + 1..];
        } else {
            let len = name_len(after);
            if len == 0 {
                // A `$` that starts no variable (`$(cmd)`, a regex's `$`) stays literal, as
                // in compose-go, whose pattern simply does not match there.
                out.push('$');
                rest = after;
                continue;
            }
            out.push_str(&resolve(&after[..len], lookup, unset));
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Index of the `}` that closes a `${`, allowing nested `${...}` in defaults.
fn closing_brace(s: &str) -> Option<usize> {
    let mut depth = 1usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Length of a variable name at the start of `s` (`[A-Za-z_][A-Za-z0-9_]*`), 0 if none.
fn name_len(s: &str) -> usize {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, c)) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return 0,
    }
    chars
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
        .map_or(s.len(), |(i, _)| i)
}

fn resolve(name: &str, lookup: &dyn Fn(&str) -> Option<String>, unset: &mut Vec<String>) -> String {
    lookup(name).unwrap_or_else(|| {
        unset.push(name.to_string());
        String::new()
    })
}

/// The inside of `${...}`: a name, optionally followed by an operator and its argument.
fn braced(
    body: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut Vec<String>,
) -> Result<String, InterpolateError> {
    let len = name_len(body);
    if len == 0 {
        return Err(InterpolateError::Invalid(body.to_string()));
    }
    let name = &body[..len];
    let op_and_arg = &body[len..];
    if op_and_arg.is_empty() {
        return Ok(resolve(name, lookup, unset));
    }
    let value = lookup(name);
    let (colon, op_rest) = match op_and_arg.strip_prefix(':') {
        Some(r) => (true, r),
        None => (false, op_and_arg),
    };
    let mut chars = op_rest.chars();
    let op = chars
        .next()
        .ok_or_else(|| InterpolateError::Invalid(body.to_string()))?;
    let arg = chars.as_str();
    // With `:`, an empty value counts as unset.
    let present = match &value {
        Some(v) => !(colon && v.is_empty()),
        None => false,
    };
    match op {
        '-' => {
            if present {
                Ok(value.unwrap_or_default())
            } else {
                interpolate_str(arg, lookup, unset)
            }
        }
        '+' => {
            if present {
                interpolate_str(arg, lookup, unset)
            } else {
                Ok(String::new())
            }
        }
        '?' => {
            if present {
                Ok(value.unwrap_or_default())
            } else {
                Err(InterpolateError::Required {
                    var: name.to_string(),
                    message: interpolate_str(arg, lookup, unset)?,
                })
            }
        }
        _ => Err(InterpolateError::Invalid(body.to_string())),
    }
}

/// One problem found while interpolating a tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    Error(FieldPath, InterpolateError),
    /// An unset variable without a default, first seen at this path.
    Unset(FieldPath, String),
}

/// Interpolates every string value in `value` (which sits at `path`), in place.
pub fn interpolate_tree(
    value: &mut Value,
    path: &FieldPath,
    lookup: &dyn Fn(&str) -> Option<String>,
    findings: &mut Vec<Finding>,
) {
    match value {
        Value::String(s) => {
            let mut unset = Vec::new();
            match interpolate_str(s, lookup, &mut unset) {
                Ok(new) => *s = new,
                Err(e) => findings.push(Finding::Error(path.clone(), e)),
            }
            for var in unset {
                let seen = findings
                    .iter()
                    .any(|f| matches!(f, Finding::Unset(_, v) if *v == var));
                if !seen {
                    findings.push(Finding::Unset(path.clone(), var));
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate_tree(item, &path.index(i), lookup, findings);
            }
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                interpolate_tree(v, &path.key(k.clone()), lookup, findings);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(s: &str) -> Result<(String, Vec<String>), InterpolateError> {
        let lookup = |k: &str| match k {
            "SET" => Some("value".to_string()),
            "EMPTY" => Some(String::new()),
            "OTHER" => Some("other".to_string()),
            _ => None,
        };
        let mut unset = Vec::new();
        interpolate_str(s, &lookup, &mut unset).map(|out| (out, unset))
    }

    fn ok(s: &str) -> String {
        run(s).expect("interpolates").0
    }

    #[test]
    fn plain_references() {
        assert_eq!(ok("$SET"), "value");
        assert_eq!(ok("${SET}"), "value");
        assert_eq!(ok("a-${SET}-b/$SET.x"), "a-value-b/value.x");
        assert_eq!(ok("no vars"), "no vars");
    }

    #[test]
    fn dollar_dollar_is_literal() {
        assert_eq!(ok("$$SET"), "$SET");
        assert_eq!(ok("echo $${HOME} $$"), "echo ${HOME} $");
    }

    #[test]
    fn defaults_and_alternatives() {
        assert_eq!(ok("${MISSING:-d}"), "d");
        assert_eq!(ok("${EMPTY:-d}"), "d");
        assert_eq!(ok("${EMPTY-d}"), "");
        assert_eq!(ok("${MISSING-d}"), "d");
        assert_eq!(ok("${SET:-d}"), "value");
        assert_eq!(ok("${SET:+alt}"), "alt");
        assert_eq!(ok("${EMPTY:+alt}"), "");
        assert_eq!(ok("${EMPTY+alt}"), "alt");
        assert_eq!(ok("${MISSING+alt}"), "");
        assert_eq!(ok("${MISSING:-${OTHER}}"), "other");
        assert_eq!(ok("${MISSING:-a:b-c}"), "a:b-c");
        assert_eq!(ok("${SET:?boom}"), "value");
    }

    #[test]
    fn unset_warns_and_is_empty() {
        assert_eq!(
            run("x${MISSING}y").expect("ok"),
            ("xy".to_string(), vec!["MISSING".to_string()])
        );
        assert_eq!(run("${MISSING:-d}").expect("ok").1, Vec::<String>::new());
    }

    #[test]
    fn required_errors() {
        assert_eq!(
            run("${MISSING:?set it please}"),
            Err(InterpolateError::Required {
                var: "MISSING".into(),
                message: "set it please".into()
            })
        );
        assert!(matches!(
            run("${EMPTY:?x}"),
            Err(InterpolateError::Required { .. })
        ));
        assert_eq!(ok("${EMPTY?x}"), "");
        assert!(matches!(
            run("${MISSING?}"),
            Err(InterpolateError::Required { .. })
        ));
        let msg = run("${MISSING:?need it}").expect_err("fails").to_string();
        assert!(msg.contains("MISSING") && msg.contains("need it"), "{msg}");
    }

    #[test]
    fn invalid_formats() {
        for bad in ["${", "${SET", "${1A}", "${SET:x}", "${}", "a ${ b"] {
            assert!(matches!(run(bad), Err(InterpolateError::Invalid(_))), "{bad}");
        }
    }

    /// compose-go's pattern only matches `$$`, `$name` and `${...}`: any other `$` is kept.
    #[test]
    fn a_dollar_that_starts_no_variable_stays_literal() {
        assert_eq!(ok("$"), "$");
        assert_eq!(ok("a $ b"), "a $ b");
        assert_eq!(ok("$1"), "$1");
        assert_eq!(ok("echo $(stat -c %u /data)"), "echo $(stat -c %u /data)");
        assert_eq!(ok("^/api/.*$"), "^/api/.*$");
        assert_eq!(ok("$(x) $SET $"), "$(x) value $");
    }

    #[test]
    fn tree_interpolates_strings_not_keys() {
        let mut v = serde_json::json!({"$SET": ["${SET}", 1, {"k": "${MISSING}"}], "n": "${MISSING}"});
        let lookup = |k: &str| (k == "SET").then(|| "v".to_string());
        let mut findings = Vec::new();
        interpolate_tree(&mut v, &FieldPath::root(), &lookup, &mut findings);
        assert_eq!(v, serde_json::json!({"$SET": ["v", 1, {"k": ""}], "n": ""}));
        // One warning per variable.
        assert_eq!(
            findings,
            vec![Finding::Unset(
                FieldPath::parse("$SET").index(2).key("k"),
                "MISSING".into()
            )]
        );
    }
}
