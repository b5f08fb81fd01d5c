//! `status.json`: the on-disk form of the store, written atomically so that a crash
//! mid-write leaves the previous file, never half of one.

use std::{
    fs::{self, File},
    io::{self, Write},
    path::Path,
};

use serde::{Deserialize, Serialize};

use super::{model::ResourceStatus, source::SourceStatus};

pub(super) const FILE_NAME: &str = "status.json";
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
pub(super) struct StatusFile {
    pub version: u32,
    pub resources: Vec<ResourceStatus>,
    /// Absent in files written before the source had a status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceStatus>,
}

impl StatusFile {
    pub fn new(resources: Vec<ResourceStatus>, source: Option<SourceStatus>) -> Self {
        Self {
            version: VERSION,
            resources,
            source,
        }
    }

    pub fn is_supported(&self) -> bool {
        self.version == VERSION
    }
}

/// Temp file in the same directory, fsync, rename over the target, fsync the directory.
/// The rename is atomic on POSIX filesystems; the directory fsync makes the rename itself
/// durable.
pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{FILE_NAME}.tmp"));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Ok(d) = File::open(dir) {
        // Some filesystems refuse fsync on a directory; the data is already safe then.
        let _ = d.sync_all();
    }
    Ok(())
}
