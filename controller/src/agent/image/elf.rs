//! Just enough of ELF to know what a dynamically linked executable needs at run time: its
//! program interpreter (`PT_INTERP`, the dynamic loader) and, from its dynamic section, the
//! libraries it names (`DT_NEEDED`) and where it says to look (`DT_RPATH`, `DT_RUNPATH`).
//!
//! Only the headers are read (with positioned reads), never the whole file: the executable
//! can be well over 100 MB in a debug build. 64-bit little-endian objects only (x86_64,
//! aarch64, riscv64 — what Docker hosts run); anything else is a clear error.

use std::{fs::File, os::unix::fs::FileExt, path::Path};

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: i64 = 0;
const DT_NEEDED: i64 = 1;
const DT_STRTAB: i64 = 5;
const DT_STRSZ: i64 = 10;
const DT_RPATH: i64 = 15;
const DT_RUNPATH: i64 = 29;
/// Bounds that no sane object exceeds; they keep a hostile file from making us allocate.
const MAX_PHNUM: usize = 4096;
const MAX_DYNAMIC: u64 = 1 << 20;
const MAX_STRTAB: u64 = 16 << 20;

/// What the loader needs to know about one object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ElfInfo {
    /// `e_machine`: libraries must match the executable's.
    pub machine: u16,
    /// The dynamic loader, e.g. `/lib64/ld-linux-x86-64.so.2`. `None`: statically linked (or a
    /// shared library).
    pub interpreter: Option<String>,
    pub needed: Vec<String>,
    pub rpath: Vec<String>,
    pub runpath: Vec<String>,
}

/// Reads the ELF headers of `path`. The error says what is wrong with the file.
pub fn read(path: &Path) -> Result<ElfInfo, String> {
    let f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&f).map_err(|e| format!("{}: {e}", path.display()))
}

/// Something positioned reads can be made from: a file, or bytes in tests.
pub trait ReadAt {
    fn read_at_exact(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()>;
}

impl ReadAt for File {
    fn read_at_exact(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        self.read_exact_at(buf, offset)
    }
}

impl ReadAt for [u8] {
    fn read_at_exact(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| std::io::ErrorKind::UnexpectedEof)?;
        let end = start
            .checked_add(buf.len())
            .ok_or(std::io::ErrorKind::UnexpectedEof)?;
        let src = self.get(start..end).ok_or(std::io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

struct Segment {
    kind: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

/// Parses an ELF object's headers.
pub fn parse<R: ReadAt + ?Sized>(r: &R) -> Result<ElfInfo, String> {
    let read = |offset: u64, len: usize| -> Result<Vec<u8>, String> {
        let mut buf = vec![0u8; len];
        r.read_at_exact(&mut buf, offset)
            .map_err(|e| format!("truncated ELF file ({e} at offset {offset})"))?;
        Ok(buf)
    };
    let ident = read(0, 64)?;
    if ident[0..4] != [0x7f, b'E', b'L', b'F'] {
        return Err("not an ELF file".into());
    }
    if ident[4] != 2 || ident[5] != 1 {
        return Err("not a 64-bit little-endian ELF object; only those are supported".into());
    }
    let machine = u16_at(&ident, 18);
    let phoff = u64_at(&ident, 32);
    let phentsize = usize::from(u16_at(&ident, 54));
    let phnum = usize::from(u16_at(&ident, 56));
    if phnum > MAX_PHNUM || (phnum > 0 && phentsize < 56) {
        return Err(format!(
            "implausible program header table ({phnum} entries of {phentsize} bytes)"
        ));
    }
    let table = read(phoff, phnum * phentsize)?;
    let segments: Vec<Segment> = (0..phnum)
        .map(|i| {
            let h = &table[i * phentsize..];
            Segment {
                kind: u32_at(h, 0),
                offset: u64_at(h, 8),
                vaddr: u64_at(h, 16),
                filesz: u64_at(h, 32),
            }
        })
        .collect();
    let mut info = ElfInfo {
        machine,
        ..Default::default()
    };
    if let Some(s) = segments.iter().find(|s| s.kind == PT_INTERP) {
        if s.filesz > 4096 {
            return Err("implausible PT_INTERP".into());
        }
        let bytes = read(s.offset, s.filesz as usize)?;
        info.interpreter = Some(c_str(&bytes));
    }
    let Some(dynamic) = segments.iter().find(|s| s.kind == PT_DYNAMIC) else {
        return Ok(info);
    };
    if dynamic.filesz > MAX_DYNAMIC {
        return Err("implausible PT_DYNAMIC".into());
    }
    let dyn_bytes = read(dynamic.offset, dynamic.filesz as usize)?;
    let mut strtab = None;
    let mut strsz = 0;
    let mut entries: Vec<(i64, u64)> = Vec::new();
    for e in dyn_bytes.chunks_exact(16) {
        let tag = u64_at(e, 0) as i64;
        let val = u64_at(e, 8);
        match tag {
            DT_NULL => break,
            DT_STRTAB => strtab = Some(val),
            DT_STRSZ => strsz = val,
            DT_NEEDED | DT_RPATH | DT_RUNPATH => entries.push((tag, val)),
            _ => {}
        }
    }
    if entries.is_empty() {
        return Ok(info);
    }
    let strtab = strtab.ok_or("dynamic section without DT_STRTAB")?;
    // DT_STRTAB is an address in memory: find the loaded segment that maps it to the file.
    let offset = segments
        .iter()
        .filter(|s| s.kind == PT_LOAD)
        .find(|s| strtab >= s.vaddr && strtab < s.vaddr.saturating_add(s.filesz))
        .map(|s| (strtab - s.vaddr).saturating_add(s.offset))
        .ok_or("DT_STRTAB is not in any loaded segment")?;
    if strsz == 0 || strsz > MAX_STRTAB {
        return Err(format!("implausible DT_STRSZ {strsz}"));
    }
    let strings = read(offset, strsz as usize)?;
    for (tag, val) in entries {
        let s = strings
            .get(val as usize..)
            .map(c_str)
            .ok_or_else(|| format!("string offset {val} is outside DT_STRTAB"))?;
        match tag {
            DT_NEEDED => info.needed.push(s),
            DT_RPATH => info.rpath.extend(split_path(&s)),
            _ => info.runpath.extend(split_path(&s)),
        }
    }
    Ok(info)
}

fn split_path(s: &str) -> Vec<String> {
    s.split(':').filter(|p| !p.is_empty()).map(String::from).collect()
}

fn c_str(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_test_binary_is_read() {
        let info = read(Path::new("/proc/self/exe")).expect("parse own executable");
        // Rust binaries on glibc always need libc; on musl they are static (no interpreter).
        if let Some(interp) = &info.interpreter {
            assert!(interp.contains("ld-"), "{interp}");
            assert!(info.needed.iter().any(|n| n.starts_with("libc.so")), "{info:?}");
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse(&b"hello"[..]).is_err_and(|e| e.starts_with("truncated ELF file")));
        let mut fake = vec![0u8; 64];
        fake[0..4].copy_from_slice(&[0x7f, b'E', b'L', b'F']);
        fake[4] = 1;
        assert!(parse(&fake[..]).is_err_and(|e| e.contains("64-bit")));
        fake[4] = 2;
        fake[5] = 1;
        fake[56] = 0xff; // phnum 255 at offset 0: the table is truncated
        fake[54] = 56;
        assert!(parse(&fake[..]).is_err_and(|e| e.contains("truncated")));
        // Random bytes never panic.
        let mut seed = 7u64;
        for _ in 0..200 {
            let mut buf = fake.clone();
            buf.resize(512, 0);
            for b in buf.iter_mut().skip(16) {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                *b = (seed >> 56) as u8;
            }
            let _ = parse(&buf[..]);
        }
    }
}
