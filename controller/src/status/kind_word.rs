//! The words operators type for a kind: `stack`, `stacks`, `Stack`, like `kubectl get pods`.

use crate::desired::Kind;

/// `stack`, `stacks`, `Stack` and `STACKS` all name [`Kind::Stack`]; likewise for the
/// other kinds that have a status. `None` for anything else, including `policy`: a Policy is
/// checked when a revision is accepted and has no status of its own.
pub fn kind_from_word(word: &str) -> Option<Kind> {
    let lower = word.to_ascii_lowercase();
    Kind::ALL.into_iter().filter(|k| *k != Kind::Policy).find(|k| {
        let singular = k.as_str().to_ascii_lowercase();
        lower == singular || lower == kind_plural(*k)
    })
}

/// The lower-case plural, as in `aegisctl get stacks`.
pub fn kind_plural(kind: Kind) -> &'static str {
    match kind {
        Kind::Host => "hosts",
        Kind::Network => "networks",
        Kind::Stack => "stacks",
        Kind::DnsGuard => "dnsguards",
        Kind::TunnelClient => "tunnelclients",
        Kind::Policy => "policies",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn singular_plural_and_case() {
        assert_eq!(kind_from_word("stacks"), Some(Kind::Stack));
        assert_eq!(kind_from_word("Stack"), Some(Kind::Stack));
        assert_eq!(kind_from_word("dnsguard"), Some(Kind::DnsGuard));
        assert_eq!(kind_from_word("TunnelClients"), Some(Kind::TunnelClient));
        assert_eq!(kind_from_word("pods"), None);
        // A Policy has no status to get.
        assert_eq!(kind_from_word("policies"), None);
    }
}
