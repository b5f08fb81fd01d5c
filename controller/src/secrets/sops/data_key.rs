//! Recover the 32-byte data key: age-decrypt a recipient stanza with any identity (Go
//! `GetDataKeyWithKeyServices`), and with several key groups combine the groups' Shamir shares
//! (Go `shamir.Combine`, HashiCorp Vault's Shamir over GF(2^8): the last byte of each share is
//! its x coordinate).

use std::io::Read;

use zeroize::Zeroizing;

use super::{identity::Identities, metadata::Metadata};

pub(crate) enum DataKeyError {
    /// No identity opened any stanza of any group.
    NoMatch,
    /// Some groups opened, but fewer than the threshold.
    NotEnoughGroups { have: usize, need: usize },
    /// The recovered key or shares are not usable (wrong length, duplicate shares).
    Corrupt(&'static str),
}

/// Try every identity against one armored age file.
fn open_stanza(enc: &str, ids: &Identities) -> Option<Zeroizing<Vec<u8>>> {
    let reader = age::armor::ArmoredReader::new(enc.as_bytes());
    let decryptor = age::Decryptor::new(reader).ok()?;
    let mut r = decryptor
        .decrypt(ids.0.iter().map(|i| i as &dyn age::Identity))
        .ok()?;
    let mut out = Zeroizing::new(Vec::new());
    // A data key is 32 bytes, a share 33: refuse anything large.
    r.by_ref().take(4096).read_to_end(&mut out).ok()?;
    Some(out)
}

pub(crate) fn recover(meta: &Metadata, ids: &Identities) -> Result<Zeroizing<[u8; 32]>, DataKeyError> {
    let mut parts: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    for group in &meta.key_groups {
        if let Some(part) = group.age.iter().find_map(|k| open_stanza(&k.enc, ids)) {
            parts.push(part);
        }
    }
    let key: Zeroizing<Vec<u8>> = if meta.key_groups.len() > 1 {
        if parts.is_empty() {
            return Err(DataKeyError::NoMatch);
        }
        if parts.len() < meta.shamir_threshold || parts.len() < 2 {
            return Err(DataKeyError::NotEnoughGroups {
                have: parts.len(),
                need: meta.shamir_threshold.max(2),
            });
        }
        combine(&parts)?
    } else {
        match parts.pop() {
            Some(p) => p,
            None => return Err(DataKeyError::NoMatch),
        }
    };
    let arr: [u8; 32] = key[..]
        .try_into()
        .map_err(|_| DataKeyError::Corrupt("the data key is not 32 bytes"))?;
    Ok(Zeroizing::new(arr))
}

/// GF(2^8) multiplication modulo x^8 + x^4 + x^3 + x + 1 (0x11b), as in Vault's tables.
fn gf_mul(mut a: u8, mut b: u8) -> u8 {
    let mut p = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            p ^= a;
        }
        let hi = a & 0x80;
        a <<= 1;
        if hi != 0 {
            a ^= 0x1b;
        }
        b >>= 1;
    }
    p
}

/// a^-1 = a^254 in GF(2^8); callers never pass 0.
fn gf_inv(a: u8) -> u8 {
    let mut result = 1u8;
    let mut base = a;
    let mut e = 254u8;
    while e != 0 {
        if e & 1 != 0 {
            result = gf_mul(result, base);
        }
        base = gf_mul(base, base);
        e >>= 1;
    }
    result
}

/// Go `shamir.Combine`: Lagrange interpolation at x = 0, byte by byte.
pub(crate) fn combine(parts: &[Zeroizing<Vec<u8>>]) -> Result<Zeroizing<Vec<u8>>, DataKeyError> {
    if parts.len() < 2 {
        return Err(DataKeyError::Corrupt("fewer than two Shamir shares"));
    }
    let len = parts[0].len();
    if len < 2 || parts.iter().any(|p| p.len() != len) {
        return Err(DataKeyError::Corrupt(
            "Shamir shares of different or too small lengths",
        ));
    }
    let xs: Vec<u8> = parts.iter().map(|p| p[len - 1]).collect();
    for (i, x) in xs.iter().enumerate() {
        if xs[..i].contains(x) {
            return Err(DataKeyError::Corrupt("duplicate Shamir share"));
        }
    }
    let mut secret = Zeroizing::new(vec![0u8; len - 1]);
    for (idx, out) in secret.iter_mut().enumerate() {
        let mut result = 0u8;
        for (i, xi) in xs.iter().enumerate() {
            let mut basis = 1u8;
            for (j, xj) in xs.iter().enumerate() {
                if i != j {
                    // (0 + xj) / (xi + xj); addition is XOR
                    basis = gf_mul(basis, gf_mul(*xj, gf_inv(xi ^ xj)));
                }
            }
            result ^= gf_mul(parts[i][idx], basis);
        }
        *out = result;
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Split like Vault's `shamir.Split` with fixed coefficients, for the test.
    fn split(secret: &[u8], xs: &[u8], coeff: u8) -> Vec<Zeroizing<Vec<u8>>> {
        xs.iter()
            .map(|&x| {
                let mut share: Vec<u8> = secret.iter().map(|&s| s ^ gf_mul(coeff, x)).collect();
                share.push(x);
                Zeroizing::new(share)
            })
            .collect()
    }

    #[test]
    fn gf_inverse() {
        for a in 1..=255u8 {
            assert_eq!(gf_mul(a, gf_inv(a)), 1, "{a}");
        }
        assert_eq!(gf_mul(0x53, 0xca), 1); // the AES field's textbook inverse pair
    }

    #[test]
    fn combine_two_of_three() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let shares = split(secret, &[17, 99, 200], 0x5a);
        for pair in [[0, 1], [1, 2], [0, 2]] {
            let got = combine(&[shares[pair[0]].clone(), shares[pair[1]].clone()])
                .ok()
                .unwrap();
            assert_eq!(&got[..], secret);
        }
        assert!(combine(&[shares[0].clone(), shares[0].clone()]).is_err());
    }
}
