//! One encrypted value: `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`, AES-256-GCM with the
//! 32-byte IV that Go sops uses (`aes/cipher.go`: `nonceSize = 32`, `cipher.NewGCMWithNonceSize`).
//! The additional data is the value's path (see `decrypt.rs`).

use aes_gcm::{
    aead::{consts::U32, generic_array::GenericArray, Aead, KeyInit, Payload},
    aes::Aes256,
    AesGcm,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use zeroize::Zeroizing;

type Aes256Gcm32 = AesGcm<Aes256, U32>;

/// The parsed parts of an `ENC[...]` string.
pub(crate) struct Encrypted {
    pub data: Vec<u8>,
    pub iv: Vec<u8>,
    pub tag: Vec<u8>,
    pub kind: String,
}

/// Why a value could not be decrypted. None of these carry any part of the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CipherError {
    /// Not in the `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` form (the reason names the part).
    Malformed(&'static str),
    /// Authentication failed: wrong data key, wrong path (AAD), or a changed ciphertext.
    Auth,
}

/// Whether `s` looks like a sops-encrypted value (Go: the regexp `^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]`).
pub(crate) fn is_encrypted(s: &[u8]) -> bool {
    s.starts_with(b"ENC[AES256_GCM,data:")
}

/// Parse like Go's `encre` regexp: greedy groups, so the *last* `,iv:`, `,tag:`, `,type:` and
/// `]` win; anything after the final `]` is ignored (the Go regexp has no `$`).
pub(crate) fn parse(s: &[u8]) -> Result<Encrypted, CipherError> {
    let s = std::str::from_utf8(s).map_err(|_| CipherError::Malformed("not UTF-8"))?;
    let rest = s
        .strip_prefix("ENC[AES256_GCM,data:")
        .ok_or(CipherError::Malformed("does not start with ENC[AES256_GCM,data:"))?;
    let close = rest.rfind(']').ok_or(CipherError::Malformed("no closing `]`"))?;
    let body = &rest[..close];
    let t = body.rfind(",type:").ok_or(CipherError::Malformed("no type"))?;
    let kind = &body[t + 6..];
    let body = &body[..t];
    let g = body.rfind(",tag:").ok_or(CipherError::Malformed("no tag"))?;
    let tag = &body[g + 5..];
    let body = &body[..g];
    let i = body.rfind(",iv:").ok_or(CipherError::Malformed("no iv"))?;
    let iv = &body[i + 4..];
    let data = &body[..i];
    if data.is_empty() || iv.is_empty() || tag.is_empty() || kind.is_empty() {
        return Err(CipherError::Malformed("an empty part"));
    }
    let b64 = |x: &str, what| STANDARD.decode(x).map_err(|_| CipherError::Malformed(what));
    Ok(Encrypted {
        data: b64(data, "data is not base64")?,
        iv: b64(iv, "iv is not base64")?,
        tag: b64(tag, "tag is not base64")?,
        kind: kind.to_string(),
    })
}

/// Decrypt with AES-256-GCM; `aad` is the additional data.
pub(crate) fn open(key: &[u8; 32], enc: &Encrypted, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CipherError> {
    if enc.iv.len() != 32 {
        // Go accepts any IV length it is given; every sops since 2.0 writes 32 bytes.
        return Err(CipherError::Malformed("iv is not 32 bytes"));
    }
    if enc.tag.len() != 16 {
        return Err(CipherError::Malformed("tag is not 16 bytes"));
    }
    let cipher = Aes256Gcm32::new(GenericArray::from_slice(key));
    let mut msg = Vec::with_capacity(enc.data.len() + 16);
    msg.extend_from_slice(&enc.data);
    msg.extend_from_slice(&enc.tag);
    cipher
        .decrypt(GenericArray::from_slice(&enc.iv), Payload { msg: &msg, aad })
        .map(Zeroizing::new)
        .map_err(|_| CipherError::Auth)
}

/// Encrypt (tests and the fuzz corpus only; aegis never writes sops files).
#[doc(hidden)]
pub fn seal(key: &[u8; 32], iv: &[u8; 32], plain: &[u8], aad: &[u8], kind: &str) -> String {
    let cipher = Aes256Gcm32::new(GenericArray::from_slice(key));
    let out = cipher
        .encrypt(GenericArray::from_slice(iv), Payload { msg: plain, aad })
        .expect("AES-GCM encryption of a bounded message");
    let (data, tag) = out.split_at(out.len() - 16);
    format!(
        "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{kind}]",
        STANDARD.encode(data),
        STANDARD.encode(iv),
        STANDARD.encode(tag)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_aad_binding() {
        let key = [7u8; 32];
        let s = seal(&key, &[1u8; 32], b"hello", b"a:b:", "str");
        let e = parse(s.as_bytes()).unwrap();
        assert_eq!(e.kind, "str");
        assert_eq!(&open(&key, &e, b"a:b:").unwrap()[..], b"hello");
        assert_eq!(open(&key, &e, b"a:").unwrap_err(), CipherError::Auth);
        assert_eq!(open(&[8u8; 32], &e, b"a:b:").unwrap_err(), CipherError::Auth);
    }

    #[test]
    fn malformed() {
        for bad in [
            "ENC[AES256_GCM,data:,iv:,tag:,type:]",
            "ENC[AES256_GCM,data:!!,iv:AA==,tag:AA==,type:str]",
            "x",
        ] {
            assert!(
                matches!(parse(bad.as_bytes()), Err(CipherError::Malformed(_))),
                "{bad}"
            );
        }
    }
}
