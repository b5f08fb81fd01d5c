//! Arbitrary bytes, decrypted as each sops store with a fixed test identity: errors are
//! fine, panics are not.
#![no_main]

use std::sync::OnceLock;

use aegis::secrets::sops::{decrypt, Format, Identities};
use libfuzzer_sys::fuzz_target;

/// A throwaway age key made for fuzzing; it protects nothing.
const KEY: &str = "AGE-SECRET-KEY-1QQ7V0LCZTGTY6S5HPECMW6J7C7CHDRM9R30E0YW9WDH50RZKPJAQL2SJHM";

fuzz_target!(|data: &[u8]| {
    static IDS: OnceLock<Identities> = OnceLock::new();
    let ids = IDS.get_or_init(|| Identities::parse(KEY).expect("test identity"));
    for format in [Format::Dotenv, Format::Yaml, Format::Json, Format::Ini, Format::Binary] {
        if let Ok(d) = decrypt(data, format, ids) {
            let _ = d.to_plaintext(format);
        }
    }
});
