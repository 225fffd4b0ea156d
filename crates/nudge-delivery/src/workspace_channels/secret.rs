//! A secret in a channel definition: given inline, or as a reference the server resolves when
//! it builds the channel, so definition files kept in git need hold no secret. Whoever holds a
//! workspace's App API key can write a definition, so references reach only what the operator
//! set aside for channels: `{env: NUDGE_SECRET_…}` variables, and `{file: …}` files inside the
//! secrets directory (`NUDGE_SECRETS_DIR`, by default `/run/secrets`), checked after symlinks
//! and `..` are resolved. Also how a read shows a secret: an inline value becomes
//! [`REDACTED`], a reference stays (it is no secret).

use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};

use super::definition::FieldError;

/// What a read shows in place of an inline secret. Refused as a secret on write, so a
/// definition read back and stored again cannot keep the placeholder as its secret.
pub const REDACTED: &str = "<redacted>";

/// The only environment variables a channel may read start with this.
pub const ENV_PREFIX: &str = "NUDGE_SECRET_";

/// The secrets directory when `NUDGE_SECRETS_DIR` is unset (the Docker and Kubernetes
/// convention for mounted secrets).
pub const DEFAULT_SECRETS_DIR: &str = "/run/secrets";

/// Where a secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    Inline(String),
    /// An environment variable of the server, named `NUDGE_SECRET_…`.
    Env(String),
    /// A file in the server's secrets directory, as the definition gives it (relative to the
    /// directory, or absolute under it), read when the channel is built.
    File(PathBuf),
}

/// Resolves `{env: NAME}` references: the server's environment in production.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What references resolve against on the server: its environment (through a lookup, so
/// tests give their own) and its secrets directory.
#[derive(Clone)]
pub struct SecretSources {
    env: EnvLookup,
    dir: PathBuf,
}

impl fmt::Debug for SecretSources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretSources")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl SecretSources {
    pub fn new(env: EnvLookup, dir: impl Into<PathBuf>) -> Self {
        Self {
            env,
            dir: dir.into(),
        }
    }

    /// The same directory, variables read through `env`.
    pub fn with_env(self, env: EnvLookup) -> Self {
        Self { env, ..self }
    }

    /// The directory `{file: …}` references are confined to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Secret {
    /// Reads `value` at `field`: a non-empty string, or a reference object with exactly one
    /// of `env` (a `NUDGE_SECRET_…` name) and `file` (a path without `..`; whether it lies
    /// in the secrets directory is known only on the server, when it is resolved).
    pub fn parse(field: &str, value: &Value) -> Result<Self, FieldError> {
        match value {
            Value::String(text) => Self::inline(field, text),
            Value::Object(map) if map.len() == 1 && map.contains_key("env") => {
                let name = map["env"].as_str().unwrap_or_default();
                check_env_name(field, name)?;
                Ok(Secret::Env(name.to_string()))
            }
            Value::Object(map) if map.len() == 1 && map.contains_key("file") => {
                let path = map["file"].as_str().unwrap_or_default();
                if path.trim().is_empty() || has_parent(Path::new(path)) {
                    return Err(FieldError::new(
                        format!("{field}.file"),
                        "must name a file in the server's secrets directory: its name there \
                         (twilio_token) or an absolute path under it, without '..'",
                    ));
                }
                Ok(Secret::File(PathBuf::from(path)))
            }
            _ => Err(FieldError::new(
                field,
                format!("must be a string, {{env: {ENV_PREFIX}NAME}} or {{file: NAME}}"),
            )),
        }
    }

    /// An inline secret: not empty, and not the placeholder a read shows.
    pub fn inline(field: &str, text: &str) -> Result<Self, FieldError> {
        if text.trim().is_empty() {
            return Err(FieldError::new(field, "must not be empty"));
        }
        if text.contains(REDACTED) {
            return Err(FieldError::new(
                field,
                format!(
                    "'{REDACTED}' is what a read shows in place of a secret: give the secret \
                     again, or a reference ({{env: {ENV_PREFIX}NAME}} or {{file: NAME}})"
                ),
            ));
        }
        Ok(Secret::Inline(text.to_string()))
    }

    pub fn is_inline(&self) -> bool {
        matches!(self, Secret::Inline(_))
    }

    /// The secret's value; the error names `field` and what is missing or not allowed. The
    /// confinement is checked here too, so a reference stored before it existed, or made
    /// without [`Secret::parse`], reaches no further.
    pub fn resolve(&self, field: &str, sources: &SecretSources) -> Result<String, FieldError> {
        match self {
            Secret::Inline(text) => Ok(text.clone()),
            Secret::Env(name) => {
                check_env_name(field, name)?;
                (sources.env)(name)
                    .filter(|value| !value.trim().is_empty())
                    .ok_or_else(|| {
                        FieldError::new(
                            format!("{field}.env"),
                            format!("the variable {name} is not set on the server"),
                        )
                    })
            }
            Secret::File(given) => read_confined(&format!("{field}.file"), given, &sources.dir),
        }
    }

    /// How a read shows it.
    pub fn redacted(&self) -> Value {
        match self {
            Secret::Inline(_) => Value::String(REDACTED.into()),
            Secret::Env(name) => json!({ "env": name }),
            Secret::File(path) => json!({ "file": path.display().to_string() }),
        }
    }
}

/// A variable a channel may read: a valid name in the `NUDGE_SECRET_` namespace. The
/// server's other variables (its own `NUDGE_*` settings, cloud credentials, anything else in
/// its environment) stay out of reach.
fn check_env_name(field: &str, name: &str) -> Result<(), FieldError> {
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(FieldError::new(
            format!("{field}.env"),
            "must name an environment variable (letters, digits and _)",
        ));
    }
    if !name.starts_with(ENV_PREFIX) || name.len() == ENV_PREFIX.len() {
        return Err(FieldError::new(
            format!("{field}.env"),
            format!(
                "a channel can read only variables named {ENV_PREFIX}… (such as \
                 {ENV_PREFIX}TWILIO_TOKEN), set aside for channel secrets; '{name}' is not one"
            ),
        ));
    }
    Ok(())
}

fn has_parent(path: &Path) -> bool {
    path.components().any(|c| c == Component::ParentDir)
}

/// The trimmed contents of `given` (relative to `dir`, or absolute), if the file it leads
/// to, symlinks followed, lies inside `dir`.
fn read_confined(field: &str, given: &Path, dir: &Path) -> Result<String, FieldError> {
    let shown = given.display();
    let root = dir.canonicalize().map_err(|error| {
        FieldError::new(
            field,
            format!(
                "the secrets directory {} cannot be used: {error}",
                dir.display()
            ),
        )
    })?;
    let outside = || {
        FieldError::new(
            field,
            format!(
                "{shown} is not in the secrets directory {}: a channel can read only files there",
                dir.display()
            ),
        )
    };
    // Refused before the file system is asked, so a reference learns nothing about what
    // exists elsewhere on the server.
    if has_parent(given) {
        return Err(outside());
    }
    let path = if given.is_absolute() {
        if !given.starts_with(dir) && !given.starts_with(&root) {
            return Err(outside());
        }
        given.to_path_buf()
    } else {
        root.join(given)
    };
    let real = path
        .canonicalize()
        .map_err(|error| FieldError::new(field, format!("cannot read {shown}: {error}")))?;
    // A symlink in the directory may lead anywhere: what counts is where it ends.
    if !real.starts_with(&root) || real == root {
        return Err(outside());
    }
    match std::fs::read_to_string(&real) {
        Ok(text) if !text.trim().is_empty() => Ok(text.trim().to_string()),
        Ok(_) => Err(FieldError::new(field, format!("{shown} is empty"))),
        Err(error) => Err(FieldError::new(
            field,
            format!("cannot read {shown}: {error}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(value: Value) -> FieldError {
        Secret::parse("auth_token", &value).unwrap_err()
    }

    /// A secrets directory holding `token`, and a file outside it holding `outside-secret`.
    struct Fixture {
        root: tempfile::TempDir,
        sources: SecretSources,
    }

    impl Fixture {
        fn new() -> Self {
            let root = tempfile::tempdir().unwrap();
            let dir = root.path().join("secrets");
            std::fs::create_dir_all(dir.join("twilio")).unwrap();
            std::fs::write(dir.join("token"), "from-file\n").unwrap();
            std::fs::write(dir.join("twilio/auth"), "nested\n").unwrap();
            std::fs::write(root.path().join("outside"), "outside-secret\n").unwrap();
            let env: EnvLookup = Arc::new(|name| match name {
                "NUDGE_SECRET_TOKEN" => Some("from-env".to_string()),
                "HOME" | "NUDGE_DATABASE_URL" => Some("server-only".to_string()),
                _ => None,
            });
            Self {
                sources: SecretSources::new(env, dir),
                root,
            }
        }

        fn dir(&self) -> &Path {
            self.sources.dir()
        }

        fn resolve(&self, secret: Secret) -> Result<String, FieldError> {
            secret.resolve("t", &self.sources)
        }

        fn file(&self, path: impl Into<PathBuf>) -> Result<String, FieldError> {
            self.resolve(Secret::File(path.into()))
        }
    }

    /// A refusal at `t.file` that says the file is outside the directory.
    fn outside(result: Result<String, FieldError>) -> String {
        let error = result.expect_err("refused");
        assert_eq!(error.field, "t.file", "{error}");
        assert!(
            error.message.contains("not in the secrets directory"),
            "{error}"
        );
        error.message
    }

    #[test]
    fn secrets_are_inline_or_references_and_refusals_name_the_field() {
        assert_eq!(
            Secret::parse("auth_token", &json!("s3cret")).unwrap(),
            Secret::Inline("s3cret".into())
        );
        assert_eq!(
            Secret::parse("auth_token", &json!({"env": "NUDGE_SECRET_TWILIO"})).unwrap(),
            Secret::Env("NUDGE_SECRET_TWILIO".into())
        );
        assert_eq!(
            Secret::parse("auth_token", &json!({"file": "/run/secrets/x"})).unwrap(),
            Secret::File("/run/secrets/x".into())
        );
        assert_eq!(
            Secret::parse("auth_token", &json!({"file": "twilio/token"})).unwrap(),
            Secret::File("twilio/token".into())
        );
        assert_eq!(refused(json!("")).field, "auth_token");
        assert_eq!(refused(json!(7)).field, "auth_token");
        assert_eq!(
            refused(json!({"env": "NUDGE_SECRET_A", "file": "/b"})).field,
            "auth_token"
        );
        assert_eq!(refused(json!({"env": "bad name"})).field, "auth_token.env");
        for name in [
            "TWILIO_TOKEN",
            "HOME",
            "AWS_SECRET_ACCESS_KEY",
            "NUDGE_DATABASE_URL",
            "NUDGE_SECRETS_DIR",
            "NUDGE_SECRET_",
            "nudge_secret_x",
        ] {
            let error = refused(json!({ "env": name }));
            assert_eq!(error.field, "auth_token.env", "{name}");
            assert!(error.message.contains("NUDGE_SECRET_"), "{name}: {error}");
        }
        for path in [
            "",
            "../x",
            "twilio/../../x",
            "/run/secrets/../../etc/passwd",
        ] {
            assert_eq!(
                refused(json!({ "file": path })).field,
                "auth_token.file",
                "{path}"
            );
        }
        assert_eq!(refused(json!(REDACTED)).field, "auth_token");
    }

    #[test]
    fn variables_resolve_only_in_their_namespace() {
        let fixture = Fixture::new();
        assert_eq!(
            fixture
                .resolve(Secret::Env("NUDGE_SECRET_TOKEN".into()))
                .unwrap(),
            "from-env"
        );
        let unset = fixture
            .resolve(Secret::Env("NUDGE_SECRET_OTHER".into()))
            .unwrap_err();
        assert_eq!(unset.field, "t.env");
        assert!(unset.message.contains("NUDGE_SECRET_OTHER"), "{unset}");
        // Set on the server, but outside the namespace: refused, not read.
        for name in ["HOME", "NUDGE_DATABASE_URL"] {
            let error = fixture.resolve(Secret::Env(name.into())).unwrap_err();
            assert_eq!(error.field, "t.env");
            assert!(!error.message.contains("server-only"), "{error}");
        }
    }

    #[test]
    fn files_resolve_only_inside_the_secrets_directory() {
        let fixture = Fixture::new();
        assert_eq!(fixture.file("token").unwrap(), "from-file");
        assert_eq!(fixture.file("twilio/auth").unwrap(), "nested");
        assert_eq!(fixture.file("./twilio/auth").unwrap(), "nested");
        assert_eq!(
            fixture.file(fixture.dir().join("token")).unwrap(),
            "from-file"
        );
        let missing = fixture.file("none").unwrap_err();
        assert_eq!(missing.field, "t.file");
        assert!(missing.message.contains("cannot read none"), "{missing}");
        std::fs::write(fixture.dir().join("blank"), " \n").unwrap();
        assert!(fixture.file("blank").unwrap_err().message.contains("empty"));

        // Escapes by `..`, relative or absolute, and absolute paths elsewhere.
        let outside_file = fixture.root.path().join("outside");
        outside(fixture.file("../outside"));
        outside(fixture.file("../absent"));
        outside(fixture.file(fixture.dir().join("../absent")));
        outside(fixture.file("twilio/../../outside"));
        outside(fixture.file(fixture.dir().join("../outside")));
        outside(fixture.file(&outside_file));
        outside(fixture.file("/etc/passwd"));
        // The directory itself is no secret file.
        outside(fixture.file(fixture.dir()));
        // Whether a file outside exists is not given away.
        assert_eq!(
            outside(fixture.file(fixture.root.path().join("outside"))).replace("outside", ""),
            outside(fixture.file(fixture.root.path().join("absent"))).replace("absent", ""),
        );
    }

    #[test]
    fn symlinks_count_where_they_lead() {
        let fixture = Fixture::new();
        let outside_file = fixture.root.path().join("outside");
        std::os::unix::fs::symlink(&outside_file, fixture.dir().join("escape")).unwrap();
        std::os::unix::fs::symlink(fixture.root.path(), fixture.dir().join("up")).unwrap();
        outside(fixture.file("escape"));
        outside(fixture.file("up/outside"));
        // Kubernetes mounts secrets as links into a hidden directory beside them: allowed.
        let data = fixture.dir().join("..2026_03_02");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("smtp"), "linked\n").unwrap();
        std::os::unix::fs::symlink(&data, fixture.dir().join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/smtp", fixture.dir().join("smtp")).unwrap();
        assert_eq!(fixture.file("smtp").unwrap(), "linked");
        // A secrets directory reached through a symlink works by either name.
        let alias = fixture.root.path().join("alias");
        std::os::unix::fs::symlink(fixture.dir(), &alias).unwrap();
        let through_alias = SecretSources::new(Arc::new(|_| None), &alias);
        let read = |path: PathBuf| Secret::File(path).resolve("t", &through_alias);
        assert_eq!(read(alias.join("token")).unwrap(), "from-file");
        assert_eq!(read(fixture.dir().join("token")).unwrap(), "from-file");
        assert_eq!(read("token".into()).unwrap(), "from-file");
        outside(read(alias.join("escape")));
        // No directory, no files.
        let gone = SecretSources::new(Arc::new(|_| None), fixture.root.path().join("none"));
        let error = Secret::File("token".into())
            .resolve("t", &gone)
            .unwrap_err();
        assert_eq!(error.field, "t.file");
        assert!(error.message.contains("secrets directory"), "{error}");
    }

    #[test]
    fn reads_show_no_inline_value() {
        assert_eq!(Secret::Inline("x".into()).redacted(), json!(REDACTED));
        assert_eq!(
            Secret::Env("NUDGE_SECRET_TOKEN".into()).redacted(),
            json!({"env": "NUDGE_SECRET_TOKEN"})
        );
        assert_eq!(
            Secret::File("twilio/auth".into()).redacted(),
            json!({"file": "twilio/auth"})
        );
        let sources = SecretSources::new(Arc::new(|_| Some("v".into())), "/run/secrets");
        assert_eq!(
            format!("{sources:?}"),
            "SecretSources { dir: \"/run/secrets\", .. }"
        );
    }
}
