//! Equality label selectors: `tier=edge` or `tier=edge,env=prod` (all must match), the
//! subset of Kubernetes selectors that `aegisctl -l` accepts.

use std::{collections::BTreeMap, fmt, str::FromStr};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    pub requirements: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a label selector; write key=value (several joined with commas)")]
pub struct SelectorError(pub String);

impl LabelSelector {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements
            .iter()
            .all(|(k, v)| labels.get(k).is_some_and(|have| have == v))
    }
}

impl FromStr for LabelSelector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut requirements = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once("==")
                .or_else(|| part.split_once('='))
                .ok_or_else(|| SelectorError(s.to_owned()))?;
            let (k, v) = (k.trim(), v.trim());
            if k.is_empty() || k.ends_with('!') {
                return Err(SelectorError(s.to_owned()));
            }
            requirements.push((k.to_owned(), v.to_owned()));
        }
        Ok(Self { requirements })
    }
}

impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<_> = self
            .requirements
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches() {
        let sel: LabelSelector = "tier=edge, env==prod".parse().unwrap();
        let mut labels = BTreeMap::from([("tier".to_owned(), "edge".to_owned())]);
        assert!(!sel.matches(&labels));
        labels.insert("env".into(), "prod".into());
        assert!(sel.matches(&labels));
        assert_eq!(sel.to_string(), "tier=edge,env=prod");
    }

    #[test]
    fn rejects_garbage() {
        assert!("tier".parse::<LabelSelector>().is_err());
        assert!("=x".parse::<LabelSelector>().is_err());
        assert!("a!=b".parse::<LabelSelector>().is_err());
    }
}
