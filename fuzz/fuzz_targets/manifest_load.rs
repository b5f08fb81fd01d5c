//! Arbitrary bytes written as a YAML manifest in a fresh directory, then loaded and resolved
//! like `aegis validate`: errors are fine, panics are not.
#![no_main]

use aegis::resolve::load_source;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("fuzz.yaml"), data).expect("write");
    let _ = load_source(dir.path());
});
