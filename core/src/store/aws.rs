//! S3 settings from the usual AWS environment: `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` /
//! `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL(_S3)`, and `AWS_PROFILE` with the
//! shared `~/.aws/credentials` and `~/.aws/config` files (their paths from
//! `AWS_SHARED_CREDENTIALS_FILE` / `AWS_CONFIG_FILE`). Environment variables
//! win over the profile, as in the AWS CLI.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Where the credentials come from.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Credentials {
    /// A static key pair (with an optional session token).
    Static {
        /// Access key id (not secret, may appear in messages).
        key_id: String,
        /// Secret access key (never printed).
        secret: String,
        /// Session token (never printed).
        token: Option<String>,
        /// Where they were found, for messages ("environment", "profile x").
        source: String,
    },
    /// Resolved by object_store itself (web identity or container credentials).
    Provider(String),
    /// Unsigned requests (`AWS_SKIP_SIGNATURE=true`, public buckets).
    Anonymous,
    /// Nothing found.
    Missing,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Static { key_id, source, .. } => {
                write!(f, "Static(key {key_id} from {source}, secret ***)")
            }
            Credentials::Provider(p) => write!(f, "Provider({p})"),
            Credentials::Anonymous => write!(f, "Anonymous"),
            Credentials::Missing => write!(f, "Missing"),
        }
    }
}

/// Resolved S3 settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct S3Settings {
    /// Credentials.
    pub credentials: Credentials,
    /// Region (`us-east-1` when nothing says otherwise).
    pub region: String,
    /// Custom endpoint (S3-compatible servers), e.g. `http://127.0.0.1:9000`.
    pub endpoint: Option<String>,
    /// The profile the settings were read from.
    pub profile: String,
}

impl S3Settings {
    /// Resolve from the process environment and the shared AWS files.
    pub(crate) fn from_env() -> Result<Self> {
        let env: HashMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("AWS_") || k == "HOME")
            .collect();
        Self::resolve(&env)
    }

    /// Resolve from the given environment (variables and `HOME`).
    pub(crate) fn resolve(env: &HashMap<String, String>) -> Result<Self> {
        let var = |k: &str| env.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let home = var("HOME").map(PathBuf::from);
        let file = |var_name: &str, default: &str| -> Option<PathBuf> {
            var(var_name)
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
        };
        let explicit_profile = var("AWS_PROFILE");
        let profile = explicit_profile.unwrap_or("default").to_string();
        let creds_file = file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
        let config_file = file("AWS_CONFIG_FILE", "config");
        let creds_ini = read_ini(creds_file.as_deref())?;
        let config_ini = read_ini(config_file.as_deref())?;
        let creds_section = creds_ini.get(&profile);
        let config_section = config_ini.get(&if profile == "default" {
            profile.clone()
        } else {
            format!("profile {profile}")
        });
        if explicit_profile.is_some() && creds_section.is_none() && config_section.is_none() {
            return Err(Error::Usage(format!(
                "AWS_PROFILE={profile}: no [{profile}] section in {} and no [profile {profile}] in {}; \
                 add the profile or unset AWS_PROFILE",
                shown(&creds_file),
                shown(&config_file)
            )));
        }
        let from_profile = |k: &str| {
            creds_section
                .and_then(|s| s.get(k))
                .or_else(|| config_section.and_then(|s| s.get(k)))
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };

        let credentials = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => Credentials::Static {
                key_id: id.to_string(),
                secret: secret.to_string(),
                token: var("AWS_SESSION_TOKEN").map(str::to_string),
                source: "the environment".into(),
            },
            (Some(_), None) => {
                return Err(Error::Usage(
                    "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both \
                     (or neither, to use AWS_PROFILE and ~/.aws/credentials)"
                        .into(),
                ))
            }
            (None, Some(_)) => {
                return Err(Error::Usage(
                    "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not: set both".into(),
                ))
            }
            (None, None) => match (
                from_profile("aws_access_key_id"),
                from_profile("aws_secret_access_key"),
            ) {
                (Some(id), Some(secret)) => Credentials::Static {
                    key_id: id,
                    secret,
                    token: from_profile("aws_session_token"),
                    source: format!("profile {profile}"),
                },
                _ if var("AWS_SKIP_SIGNATURE").is_some_and(truthy) => Credentials::Anonymous,
                _ if var("AWS_WEB_IDENTITY_TOKEN_FILE").is_some() => {
                    Credentials::Provider("web identity (AWS_WEB_IDENTITY_TOKEN_FILE)".into())
                }
                _ if var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").is_some()
                    || var("AWS_CONTAINER_CREDENTIALS_FULL_URI").is_some() =>
                {
                    Credentials::Provider("container credentials".into())
                }
                _ => Credentials::Missing,
            },
        };
        let region = var("AWS_REGION")
            .or(var("AWS_DEFAULT_REGION"))
            .map(str::to_string)
            .or_else(|| from_profile("region"))
            .unwrap_or_else(|| "us-east-1".into());
        let endpoint = var("AWS_ENDPOINT_URL_S3")
            .or(var("AWS_ENDPOINT_URL"))
            .map(str::to_string)
            .or_else(|| from_profile("endpoint_url"))
            .map(|e| e.trim_end_matches('/').to_string());
        Ok(S3Settings {
            credentials,
            region,
            endpoint,
            profile,
        })
    }

    /// The secret strings (secret key, session token) that must never be printed.
    #[cfg(test)]
    pub(crate) fn secrets(&self) -> Vec<String> {
        match &self.credentials {
            Credentials::Static { secret, token, .. } => std::iter::once(secret.clone())
                .chain(token.clone())
                .collect(),
            _ => vec![],
        }
    }
}

fn truthy(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
}

fn shown(p: &Option<PathBuf>) -> String {
    p.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "~/.aws (HOME unset)".into())
}

type Ini = HashMap<String, HashMap<String, String>>;

/// Read an AWS ini file; a missing file is empty.
fn read_ini(path: Option<&Path>) -> Result<Ini> {
    let Some(path) = path else {
        return Ok(Ini::new());
    };
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(parse_ini(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Ini::new()),
        Err(e) => Err(Error::input(path.display(), format!("cannot read: {e}"))),
    }
}

/// Parse the AWS ini format: `[section]`, `key = value`, `#`/`;` comments.
/// Indented lines (nested settings such as `s3 =` blocks) are skipped.
fn parse_ini(text: &str) -> Ini {
    let mut ini = Ini::new();
    let mut section: Option<String> = None;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            ini.entry(name.clone()).or_default();
            section = Some(name);
        } else if let (Some(s), Some((k, v))) = (&section, line.split_once('=')) {
            ini.entry(s.clone())
                .or_default()
                .insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    ini
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn home_with(creds: &str, config: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join(".aws")).unwrap();
        std::fs::write(d.path().join(".aws/credentials"), creds).unwrap();
        std::fs::write(d.path().join(".aws/config"), config).unwrap();
        d
    }

    #[test]
    fn environment_keys_win_over_the_profile() {
        let h = home_with(
            "[default]\naws_access_key_id = PID\naws_secret_access_key = PSECRET\n",
            "[default]\nregion = eu-west-3\n",
        );
        let s = S3Settings::resolve(&env(&[
            ("HOME", h.path().to_str().unwrap()),
            ("AWS_ACCESS_KEY_ID", "EID"),
            ("AWS_SECRET_ACCESS_KEY", "ESECRET"),
            ("AWS_SESSION_TOKEN", "ETOKEN"),
            ("AWS_DEFAULT_REGION", "eu-central-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000/"),
        ]))
        .unwrap();
        assert_eq!(
            s.credentials,
            Credentials::Static {
                key_id: "EID".into(),
                secret: "ESECRET".into(),
                token: Some("ETOKEN".into()),
                source: "the environment".into()
            }
        );
        assert_eq!(s.region, "eu-central-1");
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(s.secrets(), vec!["ESECRET", "ETOKEN"]);
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("ESECRET") && !dbg.contains("ETOKEN"), "{dbg}");
    }

    #[test]
    fn named_profile_from_credentials_and_config_files() {
        let h = home_with(
            "# comment\n[default]\naws_access_key_id = D\naws_secret_access_key = DS\n\n\
             [ovh]\naws_access_key_id = OID\naws_secret_access_key = OSECRET\naws_session_token = OTOK\n",
            "[default]\nregion = us-west-2\n[profile  ovh]\nregion = gra\n\
             endpoint_url = https://s3.gra.io.cloud.ovh.net\ns3 =\n  addressing_style = path\n",
        );
        let s = S3Settings::resolve(&env(&[
            ("HOME", h.path().to_str().unwrap()),
            ("AWS_PROFILE", "ovh"),
        ]))
        .unwrap();
        assert_eq!(
            s.credentials,
            Credentials::Static {
                key_id: "OID".into(),
                secret: "OSECRET".into(),
                token: Some("OTOK".into()),
                source: "profile ovh".into()
            }
        );
        assert_eq!(s.region, "gra");
        assert_eq!(
            s.endpoint.as_deref(),
            Some("https://s3.gra.io.cloud.ovh.net")
        );
        // AWS_REGION beats the profile's region
        let s = S3Settings::resolve(&env(&[
            ("HOME", h.path().to_str().unwrap()),
            ("AWS_PROFILE", "ovh"),
            ("AWS_REGION", "sbg"),
        ]))
        .unwrap();
        assert_eq!(s.region, "sbg");
    }

    #[test]
    fn config_file_may_hold_the_keys_and_custom_file_paths_are_honoured() {
        let d = tempfile::tempdir().unwrap();
        let cfg = d.path().join("cfg");
        std::fs::write(
            &cfg,
            "[profile p]\naws_access_key_id = CID\naws_secret_access_key = CS\n",
        )
        .unwrap();
        let s = S3Settings::resolve(&env(&[
            ("AWS_CONFIG_FILE", cfg.to_str().unwrap()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials"),
            ("AWS_PROFILE", "p"),
        ]))
        .unwrap();
        assert!(matches!(s.credentials, Credentials::Static { ref key_id, .. } if key_id == "CID"));
        assert_eq!(s.region, "us-east-1");
        assert_eq!(s.endpoint, None);
    }

    #[test]
    fn missing_and_half_set_credentials_are_reported() {
        let h = home_with("", "");
        let home = h.path().to_str().unwrap();
        let s = S3Settings::resolve(&env(&[("HOME", home)])).unwrap();
        assert_eq!(s.credentials, Credentials::Missing);
        let s =
            S3Settings::resolve(&env(&[("HOME", home), ("AWS_SKIP_SIGNATURE", "true")])).unwrap();
        assert_eq!(s.credentials, Credentials::Anonymous);
        let e = S3Settings::resolve(&env(&[("HOME", home), ("AWS_ACCESS_KEY_ID", "X")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("AWS_SECRET_ACCESS_KEY is not"), "{e}");
        let e = S3Settings::resolve(&env(&[("HOME", home), ("AWS_PROFILE", "nope")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("AWS_PROFILE=nope") && e.contains("[nope]"),
            "{e}"
        );
    }
}
