//! Compose `post_start`/`pre_stop` hooks on a critical resource are refused: aegis changes a
//! critical container through the host's watchdog (commit-confirmed), which swaps and rolls
//! back containers without running hooks. Running them on one side of a swap only would be
//! worse than saying so, and ignoring them silently is not allowed.

use crate::{desired::DesiredHost, diagnostic::Diagnostic, manifest::ManifestSet, yaml::FieldPath};

/// One error per critical stack whose services have hooks, on its manifest's `spec.compose`.
pub fn check(set: &ManifestSet, hosts: &[DesiredHost]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for stack in hosts.iter().flat_map(|h| &h.stacks).filter(|s| s.critical) {
        let mut hooked: Vec<&str> = stack
            .containers
            .iter()
            .filter(|c| !c.post_start.is_empty() || !c.pre_stop.is_empty())
            .map(|c| c.service.as_str())
            .collect();
        hooked.dedup();
        if hooked.is_empty() {
            continue;
        }
        let Some(m) = set.get(&stack.owner()) else {
            continue;
        };
        out.push(
            m.diag(
                FieldPath::parse("spec.compose"),
                format!(
                    "{} is critical (it carries a management path or sets `critical: true`), \
                     and its service(s) {} have `post_start`/`pre_stop` hooks: aegis changes \
                     critical containers through the host's watchdog, which does not run hooks",
                    stack.owner(),
                    hooked
                        .iter()
                        .map(|s| format!("`{s}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .with_hint(
                "remove the hooks (run the command from the entrypoint instead), or move the \
                 service to a stack that is not critical",
            ),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use std::fs;

    use crate::resolve::load_source;

    fn load(critical: bool) -> Result<(), String> {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(
            dir.path().join("stack.yaml"),
            format!(
                "apiVersion: aegis.dev/v1alpha1\nkind: Stack\nmetadata: {{name: relay}}\nspec:\n  compose: compose.yaml\n  critical: {critical}\n"
            ),
        )
        .expect("write");
        fs::write(
            dir.path().join("compose.yaml"),
            "services:\n  fwd:\n    image: busybox:1.36\n    post_start: [{command: [touch, /ready]}]\n  plain:\n    image: busybox:1.36\n",
        )
        .expect("write");
        load_source(dir.path()).map(drop).map_err(|e| e.to_string())
    }

    #[test]
    fn hooks_on_a_critical_stack_are_an_error_naming_stack_service_and_what_to_do() {
        let text = load(true).expect_err("refused");
        assert!(text.contains("stack.yaml"), "{text}");
        assert!(text.contains("spec.compose"), "{text}");
        assert!(text.contains("Stack/relay is critical"), "{text}");
        assert!(text.contains("`fwd`"), "{text}");
        assert!(!text.contains("`plain`"), "{text}");
        assert!(
            text.contains("move the service to a stack that is not critical"),
            "{text}"
        );
    }

    #[test]
    fn hooks_on_an_ordinary_stack_are_fine() {
        load(false).expect("loads");
    }
}
