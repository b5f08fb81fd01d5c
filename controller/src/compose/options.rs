//! Small per-key conversions of a service: restart, devices, healthcheck, ulimits,
//! depends_on, network_mode, pull_policy, commands.

use indexmap::IndexMap;

use super::{
    flex::{CommandLine, NamesOrMap},
    model::{DependsOnLong, HealthcheckDef, UlimitDef},
    units::parse_duration,
};
use crate::desired::{
    DependsCondition, DependsOn, Device, Healthcheck, NetworkMode, PullPolicy, RestartPolicy, Ulimit,
};

/// `no`, `always`, `unless-stopped`, `on-failure[:N]`.
pub fn restart(s: &str) -> Result<RestartPolicy, String> {
    match s {
        "" => Ok(RestartPolicy::No),
        "no" | "false" => Ok(RestartPolicy::ExplicitNo),
        "always" => Ok(RestartPolicy::Always),
        "unless-stopped" => Ok(RestartPolicy::UnlessStopped),
        "on-failure" => Ok(RestartPolicy::OnFailure { max_retries: None }),
        other => {
            let n = other
                .strip_prefix("on-failure:")
                .and_then(|n| n.parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    format!(
                        "`{other}` is not a restart policy; use no, always, unless-stopped or on-failure[:N]"
                    )
                })?;
            Ok(RestartPolicy::OnFailure { max_retries: Some(n) })
        }
    }
}

/// `host`, `none`, `bridge`, `service:X`, `container:X`. `bridge` is returned as `None`: the
/// caller attaches the container to Docker's `bridge` network instead.
pub fn network_mode(s: &str) -> Result<Option<NetworkMode>, String> {
    Ok(Some(match s {
        "host" => NetworkMode::Host,
        "none" => NetworkMode::None,
        "bridge" | "default" => return Ok(None),
        other => {
            if let Some(svc) = other.strip_prefix("service:").filter(|s| !s.is_empty()) {
                NetworkMode::Service(svc.to_string())
            } else if let Some(c) = other.strip_prefix("container:").filter(|s| !s.is_empty()) {
                NetworkMode::Container(c.to_string())
            } else {
                return Err(format!(
                    "`{other}` is not a network mode; use host, none, bridge, service:NAME or container:NAME"
                ));
            }
        }
    }))
}

/// A command string is split into words like a POSIX shell would; a list is used as-is.
pub fn command(c: CommandLine) -> Result<Vec<String>, String> {
    match c {
        CommandLine::Exec(v) => Ok(v),
        CommandLine::Shell(s) => split_words(&s).map_err(|e| format!("cannot split `{s}`: {e}")),
    }
}

/// POSIX shell word splitting and quote removal, nothing else: no expansions, and no
/// comments. A `#` starts a comment in a shell (and in `shell_words::split`), but
/// docker-compose splits with Python's `shlex.split`, which keeps it: `command: echo #1`
/// runs `["echo", "#1"]`. Dropping the rest of the line would silently lose arguments.
fn split_words(s: &str) -> Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("missing closing single quote"),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        // Inside double quotes a backslash only escapes these.
                        Some('\\') => match chars.next() {
                            Some(c @ ('\\' | '"' | '$' | '`')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("missing closing double quote"),
                        },
                        Some(c) => word.push(c),
                        None => return Err("missing closing double quote"),
                    }
                }
            }
            '\\' => match chars.next() {
                // A line continuation.
                Some('\n') => {}
                Some(c) => {
                    in_word = true;
                    word.push(c);
                }
                None => return Err("ends with a backslash"),
            },
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// `/dev/x`, `/dev/x:/dev/y`, `/dev/x:/dev/y:rw`. Permissions default to `rwm`.
pub fn device(s: &str) -> Result<Device, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let (host, container, permissions) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, c] if !c.starts_with('/') => (*h, *h, *c),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] => (*h, *c, *p),
        _ => return Err(format!("`{s}` is not `/dev/host[:/dev/container[:rwm]]`")),
    };
    if !host.starts_with('/') {
        return Err(format!(
            "`{s}`: the host device must be an absolute path (CDI device names are not supported)"
        ));
    }
    if !container.starts_with('/') {
        return Err(format!("`{s}`: the container path must be absolute"));
    }
    if permissions.is_empty() || !permissions.chars().all(|c| "rwm".contains(c)) {
        return Err(format!(
            "`{s}`: permissions `{permissions}` must be made of r, w and m"
        ));
    }
    Ok(Device {
        host: host.into(),
        container: container.into(),
        permissions: permissions.into(),
    })
}

/// compose `healthcheck`. `None` when only the image's own check should run (no `test`,
/// no durations): an empty block changes nothing.
pub fn healthcheck(h: HealthcheckDef) -> Result<Option<Healthcheck>, String> {
    let dur = |name: &str, v: Option<super::flex::Scalar>| {
        v.map(|s| parse_duration(&s.0).map_err(|e| format!("{name}: {e}")))
            .transpose()
    };
    if h.disable.is_some_and(|b| b.0) {
        return Ok(Some(Healthcheck {
            test: vec!["NONE".into()],
            interval: None,
            timeout: None,
            retries: None,
            start_period: None,
            start_interval: None,
        }));
    }
    let test = match h.test {
        None => Vec::new(),
        Some(CommandLine::Shell(s)) => vec!["CMD-SHELL".into(), s],
        Some(CommandLine::Exec(v)) => {
            match v.first().map(String::as_str) {
                Some("CMD" | "CMD-SHELL" | "NONE") => {}
                _ => return Err("a healthcheck test list must start with CMD, CMD-SHELL or NONE".into()),
            }
            v
        }
    };
    let hc = Healthcheck {
        test,
        interval: dur("interval", h.interval)?,
        timeout: dur("timeout", h.timeout)?,
        retries: h.retries.map(|r| r.0),
        start_period: dur("start_period", h.start_period)?,
        start_interval: dur("start_interval", h.start_interval)?,
    };
    let empty = hc.test.is_empty()
        && hc.interval.is_none()
        && hc.timeout.is_none()
        && hc.retries.is_none()
        && hc.start_period.is_none()
        && hc.start_interval.is_none();
    Ok((!empty).then_some(hc))
}

/// `nofile: 1024` (soft = hard) or `{soft, hard}`.
pub fn ulimits(map: IndexMap<String, UlimitDef>) -> Vec<Ulimit> {
    let mut out: Vec<Ulimit> = map
        .into_iter()
        .map(|(name, def)| match def {
            UlimitDef::Single(n) => Ulimit {
                name,
                soft: n.0,
                hard: n.0,
            },
            UlimitDef::Pair(p) => Ulimit {
                name,
                soft: p.soft.0,
                hard: p.hard.0,
            },
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// `depends_on`: the entries, and the services whose restart must restart this one.
pub fn depends_on(d: NamesOrMap<DependsOnLong>) -> Result<(Vec<DependsOn>, Vec<String>), String> {
    let mut deps = Vec::new();
    let mut restart_with = Vec::new();
    for (service, long) in d.0 {
        let (condition, required, restart) = match long {
            None => (DependsCondition::Started, true, false),
            Some(l) => {
                let condition = match l.condition.as_deref() {
                    None | Some("service_started") => DependsCondition::Started,
                    Some("service_healthy") => DependsCondition::Healthy,
                    Some("service_completed_successfully") => DependsCondition::CompletedSuccessfully,
                    Some(other) => {
                        return Err(format!(
                            "`{service}`: unknown condition `{other}`; use service_started, service_healthy or service_completed_successfully"
                        ))
                    }
                };
                (
                    condition,
                    l.required.is_none_or(|b| b.0),
                    l.restart.is_some_and(|b| b.0),
                )
            }
        };
        if restart {
            restart_with.push(service.clone());
        }
        deps.push(DependsOn {
            service,
            condition,
            required,
        });
    }
    Ok((deps, restart_with))
}

pub fn pull_policy(s: &str) -> Result<PullPolicy, String> {
    match s {
        "missing" | "if_not_present" => Ok(PullPolicy::Missing),
        "always" => Ok(PullPolicy::Always),
        "never" => Ok(PullPolicy::Never),
        // `build:` images are built when their content hash is not on the host; building the
        // same content again would give the same image.
        "build" => Ok(PullPolicy::Missing),
        other => Err(format!(
            "pull_policy `{other}` is not supported; use missing, always, never or build"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn restart_policies() {
        assert_eq!(restart("no"), Ok(RestartPolicy::ExplicitNo));
        assert_eq!(restart(""), Ok(RestartPolicy::No));
        assert_eq!(restart("unless-stopped"), Ok(RestartPolicy::UnlessStopped));
        assert_eq!(
            restart("on-failure:3"),
            Ok(RestartPolicy::OnFailure { max_retries: Some(3) })
        );
        assert_eq!(
            restart("on-failure"),
            Ok(RestartPolicy::OnFailure { max_retries: None })
        );
        assert!(restart("sometimes").is_err());
        assert!(restart("on-failure:x").is_err());
    }

    #[test]
    fn network_modes() {
        assert_eq!(network_mode("host"), Ok(Some(NetworkMode::Host)));
        assert_eq!(network_mode("none"), Ok(Some(NetworkMode::None)));
        assert_eq!(network_mode("bridge"), Ok(None));
        assert_eq!(
            network_mode("service:gerbil"),
            Ok(Some(NetworkMode::Service("gerbil".into())))
        );
        assert_eq!(
            network_mode("container:x"),
            Ok(Some(NetworkMode::Container("x".into())))
        );
        assert!(network_mode("service:").is_err());
        assert!(network_mode("weird").is_err());
    }

    #[test]
    fn devices() {
        let d = device("/dev/net/tun").expect("ok");
        assert_eq!(
            (d.host.as_str(), d.container.as_str(), d.permissions.as_str()),
            ("/dev/net/tun", "/dev/net/tun", "rwm")
        );
        let d = device("/dev/a:/dev/b:r").expect("ok");
        assert_eq!((d.container.as_str(), d.permissions.as_str()), ("/dev/b", "r"));
        let d = device("/dev/a:rw").expect("ok");
        assert_eq!((d.container.as_str(), d.permissions.as_str()), ("/dev/a", "rw"));
        assert!(device("nvidia.com/gpu=all").is_err());
        assert!(device("/dev/a:/dev/b:x").is_err());
    }

    #[test]
    fn commands() {
        assert_eq!(
            command(CommandLine::Shell("sh -c 'echo hi there'".into())),
            Ok(vec!["sh".to_string(), "-c".into(), "echo hi there".into()])
        );
        assert_eq!(
            command(CommandLine::Exec(vec!["a b".into()])),
            Ok(vec!["a b".to_string()])
        );
        assert!(command(CommandLine::Shell("'open".into())).is_err());
    }

    #[test]
    fn command_strings_split_like_docker_compose() {
        let split = |s: &str| command(CommandLine::Shell(s.into())).expect("splits");
        // `#` is an ordinary character (shlex.split keeps it; a shell would drop the rest).
        assert_eq!(split("echo #1 a#b"), vec!["echo", "#1", "a#b"]);
        assert_eq!(
            split(r#"'exec sleep 3600' arg0 "dq \"x\" $HOME" 'sq  x' it\'s"#),
            vec!["exec sleep 3600", "arg0", "dq \"x\" $HOME", "sq  x", "it's"]
        );
        assert_eq!(
            split(r#"a"b"'c' "" '' "\a\\" \ x"#),
            vec!["abc", "", "", "\\a\\", " x"]
        );
        assert_eq!(split("  a \t b\\\n c  "), vec!["a", "b", "c"]);
        assert!(command(CommandLine::Shell("a \"open".into())).is_err());
        assert!(command(CommandLine::Shell("a\\".into())).is_err());
    }

    #[test]
    fn healthchecks() {
        let h: HealthcheckDef = serde_json::from_value(json!({
            "test": "wget -q localhost", "interval": "1m30s", "timeout": "500ms",
            "retries": 3, "start_period": "10s", "start_interval": "1s"
        }))
        .expect("decodes");
        let h = healthcheck(h).expect("ok").expect("some");
        assert_eq!(h.test, vec!["CMD-SHELL", "wget -q localhost"]);
        assert_eq!(h.interval, Some(90_000_000_000));
        assert_eq!(h.timeout, Some(500_000_000));
        assert_eq!(h.retries, Some(3));
        assert_eq!(h.start_period, Some(10_000_000_000));
        assert_eq!(h.start_interval, Some(1_000_000_000));
        let list: HealthcheckDef = serde_json::from_value(json!({"test": ["CMD", "true"]})).expect("decodes");
        assert_eq!(
            healthcheck(list).expect("ok").expect("some").test,
            vec!["CMD", "true"]
        );
        let off: HealthcheckDef = serde_json::from_value(json!({"disable": true})).expect("decodes");
        assert_eq!(healthcheck(off).expect("ok").expect("some").test, vec!["NONE"]);
        let bad: HealthcheckDef = serde_json::from_value(json!({"interval": "10"})).expect("decodes");
        assert!(healthcheck(bad).expect_err("fails").contains("interval"));
    }

    #[test]
    fn depends_on_forms() {
        let d: NamesOrMap<DependsOnLong> = serde_json::from_value(json!({
            "db": {"condition": "service_healthy", "restart": true},
            "migrate": {"condition": "service_completed_successfully", "required": false},
            "cache": null
        }))
        .expect("decodes");
        let (deps, restart_with) = depends_on(d).expect("ok");
        assert_eq!(deps[0].condition, DependsCondition::Healthy);
        assert!(deps[0].required);
        assert_eq!(deps[1].condition, DependsCondition::CompletedSuccessfully);
        assert!(!deps[1].required);
        assert_eq!(deps[2].condition, DependsCondition::Started);
        assert_eq!(restart_with, vec!["db"]);
        let bad: NamesOrMap<DependsOnLong> =
            serde_json::from_value(json!({"db": {"condition": "soon"}})).expect("decodes");
        assert!(depends_on(bad).is_err());
    }
}
