//! Where `aegisctl` finds the controller: flags, then environment, then
//! `~/.config/aegis/config.yaml`, then the default `http://127.0.0.1:7443` (the API's
//! default bind, which serves plain HTTP on loopback unless it has a certificate).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::client::ClientError;

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:7443";

/// Connection flags, shared by every remote command.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnectArgs {
    /// URL of the aegis API, e.g. https://aegis.lan:7443.
    #[arg(long, env = "AEGIS_SERVER", global = true)]
    pub server: Option<String>,
    /// File holding the API token (or set AEGIS_TOKEN to the token itself).
    #[arg(long, env = "AEGIS_TOKEN_FILE", global = true)]
    pub token_file: Option<PathBuf>,
    /// CA certificate (PEM) that signed the API's certificate; replaces the built-in roots.
    #[arg(long, env = "AEGIS_CA", global = true)]
    pub ca: Option<PathBuf>,
}

/// `~/.config/aegis/config.yaml`. Relative paths are relative to the file's directory.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct ConfigFile {
    server: Option<String>,
    token_file: Option<PathBuf>,
    token: Option<String>,
    ca: Option<PathBuf>,
}

/// Everything needed to talk to the API.
#[derive(Clone)]
pub struct Connection {
    pub server: String,
    pub token: String,
    pub ca: Option<PathBuf>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("server", &self.server)
            .field("token", &"<redacted>")
            .field("ca", &self.ca)
            .finish()
    }
}

/// `$AEGIS_CONFIG`, else `$XDG_CONFIG_HOME/aegis/config.yaml`, else
/// `$HOME/.config/aegis/config.yaml`.
fn config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("AEGIS_CONFIG") {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("aegis").join("config.yaml"))
}

fn load_config(path: &Path) -> Result<ConfigFile, ClientError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigFile::default()),
        Err(e) => {
            return Err(ClientError::Config(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    let mut file: ConfigFile =
        serde_saphyr::from_str(&text).map_err(|e| ClientError::Config(format!("{}: {e}", path.display())))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    file.token_file = file.token_file.map(|p| dir.join(p));
    file.ca = file.ca.map(|p| dir.join(p));
    Ok(file)
}

fn read_token(path: &Path) -> Result<String, ClientError> {
    let raw = std::fs::read_to_string(path)
        .map_err(|e| ClientError::Config(format!("cannot read the token file {}: {e}", path.display())))?;
    Ok(raw.trim().to_owned())
}

impl ConnectArgs {
    /// Resolves flags (clap has already folded in `AEGIS_SERVER`, `AEGIS_TOKEN_FILE`,
    /// `AEGIS_CA`), then `AEGIS_TOKEN`, then the config file.
    pub fn resolve(&self) -> Result<Connection, ClientError> {
        let file = match config_path() {
            Some(p) => load_config(&p)?,
            None => ConfigFile::default(),
        };
        let server = self
            .server
            .clone()
            .or(file.server)
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
        let env_token = std::env::var("AEGIS_TOKEN").ok().filter(|t| !t.trim().is_empty());
        let token = match (&self.token_file, env_token) {
            (Some(path), _) => read_token(path)?,
            (None, Some(t)) => t.trim().to_owned(),
            (None, None) => match (file.token_file, file.token) {
                (Some(path), _) => read_token(&path)?,
                (None, Some(t)) => t.trim().to_owned(),
                (None, None) => return Err(ClientError::NoToken),
            },
        };
        if token.is_empty() {
            return Err(ClientError::NoToken);
        }
        Ok(Connection {
            server: server.trim_end_matches('/').to_owned(),
            token,
            ca: self.ca.clone().or(file.ca),
        })
    }
}
