//! A local directory as a [`Source`]: its revision is the digest of its content
//! ([`crate::resolve::dir_revision`]), so any edited file makes a new revision.

use std::path::PathBuf;

use super::{Revision, Source, SourceError};

pub struct DirSource {
    root: PathBuf,
}

impl DirSource {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }
}

impl Source for DirSource {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn fetch(&self) -> Result<Revision, SourceError> {
        let id = crate::resolve::dir_revision(&self.root);
        if id.is_empty() {
            return Err(SourceError::Unreadable(self.root.clone()));
        }
        Ok(Revision {
            id,
            root: self.root.clone(),
        })
    }
}
