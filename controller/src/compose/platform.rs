//! Service `platform:` (`os[/arch[/variant]]`), checked and normalised the way containerd's
//! `platforms.Parse` (which Compose v2 calls before it pulls, creates or builds) accepts it.
//!
//! Compose v2 sends the platform on the image pull, on container create (the `platform`
//! query parameter, API >= 1.41) and on the build. An OS alone (`linux`) is sent as written:
//! Compose fills in the architecture of the machine *it* runs on, which for aegis is not the
//! target host, so the engine's own default is the faithful equivalent.
//! `DOCKER_DEFAULT_PLATFORM` is a client environment variable; aegis never reads the
//! controller's environment into a stack, so it has no equivalent.

/// Operating systems containerd knows (`platforms.isKnownOS`).
const OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "windows",
    "zos",
];

/// Architectures containerd knows (`platforms.isKnownArch`).
const ARCH: &[&str] = &[
    "386",
    "amd64",
    "amd64p32",
    "arm",
    "armbe",
    "arm64",
    "arm64be",
    "ppc64",
    "ppc64le",
    "loong64",
    "mips",
    "mipsle",
    "mips64",
    "mips64le",
    "mips64p32",
    "mips64p32le",
    "ppc",
    "riscv",
    "riscv64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "wasm",
];

/// The platform as aegis sends it: lowercase, architecture aliases resolved (`x86_64` →
/// `amd64`, `aarch64` → `arm64`, `armhf` → `arm/v7`, `armel` → `arm/v6`, `i386` → `386`).
/// The error says what is wrong; the caller adds file, line and field.
pub fn parse(value: &str) -> Result<String, String> {
    let lower = value.trim().to_ascii_lowercase();
    let parts: Vec<&str> = lower.split('/').collect();
    if lower.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(format!(
            "`{value}` is not a platform: write `os[/arch[/variant]]`, such as linux/amd64 or linux/arm64/v8"
        ));
    }
    let os = parts[0];
    if !OS.contains(&os) {
        return Err(format!(
            "`{value}`: unknown operating system `{os}`; write `os[/arch[/variant]]`, such as linux/amd64"
        ));
    }
    let Some(arch) = parts.get(1) else {
        return Ok(os.to_string());
    };
    let (arch, implied_variant) = match *arch {
        "x86_64" | "x86-64" => ("amd64", None),
        "aarch64" => ("arm64", None),
        "armhf" => ("arm", Some("v7")),
        "armel" => ("arm", Some("v6")),
        "i386" => ("386", None),
        a => (a, None),
    };
    if !ARCH.contains(&arch) {
        return Err(format!(
            "`{value}`: unknown architecture `{arch}`; write `os[/arch[/variant]]`, such as linux/amd64"
        ));
    }
    let variant = parts.get(2).copied().or(implied_variant);
    Ok(match variant {
        Some(v) => format!("{os}/{arch}/{v}"),
        None => format!("{os}/{arch}"),
    })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn platforms_are_normalised() {
        for (written, sent) in [
            ("linux/amd64", "linux/amd64"),
            ("Linux/AMD64", "linux/amd64"),
            ("linux/x86_64", "linux/amd64"),
            ("linux/aarch64", "linux/arm64"),
            ("linux/arm64/v8", "linux/arm64/v8"),
            ("linux/armhf", "linux/arm/v7"),
            ("linux/s390x", "linux/s390x"),
            ("linux", "linux"),
            ("windows/amd64", "windows/amd64"),
        ] {
            assert_eq!(parse(written).as_deref(), Ok(sent), "{written}");
        }
    }

    #[test]
    fn bad_platforms_say_what_to_write() {
        for (bad, says) in [
            ("", "is not a platform"),
            ("linux/amd64/v2/x", "is not a platform"),
            ("linux//v2", "is not a platform"),
            ("bogus", "unknown operating system `bogus`"),
            ("linux/z80", "unknown architecture `z80`"),
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(e.contains(says), "{bad}: {e}");
            assert!(e.contains("os[/arch[/variant]]"), "{bad}: {e}");
        }
    }
}
