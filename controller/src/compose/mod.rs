//! Compose files → desired containers, networks and volumes.
