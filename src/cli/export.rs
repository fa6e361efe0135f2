//! `export`: the entities created through IAM's API, as configuration so they can be moved into
//! the file (the GitOps path). Reads every configured account's document from the store, writes
//! each policy document and SAML metadata as its own file under a folder, and prints the
//! `[[policies]]`, `[[roles]]`, `[[oidc_providers]]`, `[[saml_providers]]`, `[[groups]]` and
//! `[[users]]` entries naming them. What the file cannot hold (older policy versions, tags of
//! policies and providers, thumbprints, the account alias, and every secret: virtual MFA
//! devices, whose seeds cannot be read back) is listed, never written: secrets stay sealed in
//! the store.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::Output;
use crate::broker::iam_api;
use crate::config::Config;
use crate::iam::api::{AccountDocument, Layer, Tag};

/// What [`render`] makes of a layer: the entries, the files they name, and what was left out.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Exported {
    pub toml: String,
    /// Paths relative to the export folder, and their contents.
    pub files: Vec<(PathBuf, String)>,
    /// One line per thing the file format cannot hold.
    pub left_out: Vec<String>,
}

/// The configuration entries for every API entity of `layer`; the files they name are under
/// `folder` as the configuration will read it (relative to the configuration's folder or
/// absolute).
pub fn render(layer: &Layer, folder: &Path) -> Exported {
    let mut out = Exported::default();
    for (account, stored) in &layer.accounts {
        render_account(account, &stored.document, folder, &mut out);
    }
    out
}

fn render_account(account: &str, doc: &AccountDocument, folder: &Path, out: &mut Exported) {
    if let Some(alias) = &doc.alias {
        out.left_out.push(format!(
            "account {account}: alias {alias:?} (set alias = {} on its [[accounts]] entry)",
            quoted(alias)
        ));
    }
    for p in doc.policies.values() {
        let Some(default) = p.versions.iter().find(|v| v.id == p.default_version) else {
            out.left_out.push(format!(
                "policy {} of account {account}: no default version",
                p.name
            ));
            continue;
        };
        let file = PathBuf::from(account)
            .join("policies")
            .join(component(&p.name));
        let _ = writeln!(out.toml, "[[policies]]");
        field(&mut out.toml, "account", account);
        field(&mut out.toml, "name", &p.name);
        field(&mut out.toml, "path", &p.path);
        if let Some(d) = &p.description {
            field(&mut out.toml, "description", d);
        }
        field(&mut out.toml, "file", &shown(folder, &file));
        out.toml.push('\n');
        out.files.push((file, default.document.clone()));
        if p.versions.len() > 1 {
            out.left_out.push(format!(
                "policy {} of account {account}: only its default version {} (the file holds one)",
                p.name, p.default_version
            ));
        }
        tags_left_out(out, "policy", &p.name, account, &p.tags);
    }
    for r in doc.roles.values() {
        let dir = PathBuf::from(account)
            .join("roles")
            .join(component(&r.name));
        let trust = dir.join("trust-policy.json");
        let _ = writeln!(out.toml, "[[roles]]");
        field(&mut out.toml, "account", account);
        field(&mut out.toml, "name", &r.name);
        field(&mut out.toml, "path", &r.path);
        if let Some(d) = &r.description {
            field(&mut out.toml, "description", d);
        }
        field(&mut out.toml, "trust_policy_file", &shown(folder, &trust));
        out.files.push((trust, r.trust_policy.clone()));
        let inline = inline_files(&dir.join("policies"), &r.inline_policies, folder, out);
        list(&mut out.toml, "policy_files", &inline);
        list(&mut out.toml, "managed_policies", &r.attached_policies);
        if let Some(b) = &r.permissions_boundary {
            field(&mut out.toml, "permissions_boundary", b);
        }
        let _ = writeln!(
            out.toml,
            "max_session_duration = {}",
            r.max_session_duration
        );
        tags(&mut out.toml, &r.tags);
        out.toml.push('\n');
    }
    for p in doc.oidc_providers.values() {
        let _ = writeln!(out.toml, "[[oidc_providers]]");
        field(&mut out.toml, "account", account);
        field(&mut out.toml, "issuer", &p.url);
        list(&mut out.toml, "client_ids", &p.client_ids);
        // Whoever created it through the API chose its URL: it keeps fetching keys only from
        // public addresses once the operator's file holds it.
        let _ = writeln!(out.toml, "public_only = true");
        out.toml.push('\n');
        if !p.thumbprints.is_empty() {
            out.left_out.push(format!(
                "OIDC provider {} of account {account}: its thumbprints (kept, never used to verify)",
                p.url
            ));
        }
        tags_left_out(out, "OIDC provider", &p.url, account, &p.tags);
    }
    for p in doc.saml_providers.values() {
        let file = PathBuf::from(account)
            .join("saml")
            .join(format!("{}.xml", p.name));
        let _ = writeln!(out.toml, "[[saml_providers]]");
        field(&mut out.toml, "account", account);
        field(&mut out.toml, "name", &p.name);
        field(&mut out.toml, "metadata_file", &shown(folder, &file));
        out.toml.push('\n');
        out.files.push((file, p.metadata.clone()));
        tags_left_out(out, "SAML provider", &p.name, account, &p.tags);
    }
    for g in doc.groups.values() {
        let dir = PathBuf::from(account)
            .join("groups")
            .join(component(&g.name));
        let _ = writeln!(out.toml, "[[groups]]");
        field(&mut out.toml, "account", account);
        field(&mut out.toml, "name", &g.name);
        field(&mut out.toml, "path", &g.path);
        let inline = inline_files(&dir, &g.inline_policies, folder, out);
        list(&mut out.toml, "policy_files", &inline);
        list(&mut out.toml, "managed_policies", &g.attached_policies);
        out.toml.push('\n');
    }
    for u in doc.users.values() {
        let dir = PathBuf::from(account)
            .join("users")
            .join(component(&u.name));
        let _ = writeln!(out.toml, "[[users]]");
        field(&mut out.toml, "account", account);
        field(&mut out.toml, "name", &u.name);
        field(&mut out.toml, "path", &u.path);
        list(&mut out.toml, "groups", &u.groups);
        let inline = inline_files(&dir, &u.inline_policies, folder, out);
        list(&mut out.toml, "policy_files", &inline);
        list(&mut out.toml, "managed_policies", &u.attached_policies);
        if let Some(b) = &u.permissions_boundary {
            field(&mut out.toml, "permissions_boundary", b);
        }
        tags(&mut out.toml, &u.tags);
        out.toml.push('\n');
        for k in &u.access_keys {
            out.left_out.push(format!(
                "user {} of account {account}: access key {} ({}): its secret stays sealed in \
                 the store; a file user of this name hides the stored one and its keys, so give \
                 it keys of its own (access_keys with secret_file) before moving it",
                u.name,
                k.id,
                k.status.as_str()
            ));
        }
    }
    for p in doc.login_profiles.values() {
        out.left_out.push(format!(
            "login profile of user {} of account {account}: only its password's hash is \
             stored and the file holds no passwords (set it again through the API after the \
             move)",
            p.user
        ));
    }
    if let Some(p) = &doc.password_policy {
        out.left_out.push(format!(
            "password policy of account {account}: set through the API; to move it, add to \
             its [[accounts]] entry: {}",
            password_policy_toml(p)
        ));
    }
    for d in doc.mfa_devices.values() {
        let whose = d.enabled.as_ref().map_or_else(
            || "not enabled".to_owned(),
            |e| format!("enabled for {}", e.user),
        );
        out.left_out.push(format!(
            "virtual MFA device {} ({whose}): its seed stays sealed in the store, and an \
             [[mfa_devices]] entry needs it (enrol a new device from the file instead)",
            d.serial(account)
        ));
    }
}

/// A password policy as an `[[accounts]]` entry's `password_policy` inline table.
fn password_policy_toml(p: &crate::iam::passwords::PasswordPolicy) -> String {
    let mut fields = vec![
        format!("minimum_length = {}", p.minimum_length),
        format!("require_symbols = {}", p.require_symbols),
        format!("require_numbers = {}", p.require_numbers),
        format!("require_uppercase = {}", p.require_uppercase),
        format!("require_lowercase = {}", p.require_lowercase),
    ];
    if let Some(days) = p.max_age_days {
        fields.push(format!("max_age_days = {days}"));
    }
    if let Some(n) = p.reuse_prevention {
        fields.push(format!("reuse_prevention = {n}"));
    }
    fields.push(format!("hard_expiry = {}", p.hard_expiry));
    fields.push(format!(
        "allow_users_to_change = {}",
        p.allow_users_to_change
    ));
    format!("password_policy = {{ {} }}", fields.join(", "))
}

/// One file per inline policy, named after the policy (the file's name is the name IAM's API
/// shows for it); the paths as the configuration reads them.
fn inline_files(
    dir: &Path,
    policies: &std::collections::BTreeMap<String, String>,
    folder: &Path,
    out: &mut Exported,
) -> Vec<String> {
    let mut shown_paths = Vec::with_capacity(policies.len());
    for (name, document) in policies {
        if name == "." || name == ".." {
            out.left_out.push(format!(
                "inline policy {name:?} of {}: no file can be named so",
                dir.display()
            ));
            continue;
        }
        let file = dir.join(name);
        shown_paths.push(shown(folder, &file));
        out.files.push((file, document.clone()));
    }
    shown_paths
}

/// A name as a folder or file name: IAM's names are `[\w+=,.@-]+`, of which only `.` and `..`
/// mean something else in a path.
fn component(name: &str) -> String {
    if name == "." || name == ".." {
        format!("{name}_")
    } else {
        name.to_owned()
    }
}

fn tags_left_out(out: &mut Exported, kind: &str, name: &str, account: &str, tags: &[Tag]) {
    if !tags.is_empty() {
        out.left_out.push(format!(
            "{kind} {name} of account {account}: its {} tag(s) (the file holds none for it)",
            tags.len()
        ));
    }
}

fn shown(folder: &Path, file: &Path) -> String {
    folder.join(file).to_string_lossy().into_owned()
}

/// A TOML basic string (TOML's own escaping).
fn quoted(value: &str) -> String {
    toml::Value::String(value.to_owned()).to_string()
}

fn field(toml: &mut String, key: &str, value: &str) {
    let _ = writeln!(toml, "{key} = {}", quoted(value));
}

fn list(toml: &mut String, key: &str, values: &[String]) {
    if values.is_empty() {
        return;
    }
    let items: Vec<String> = values.iter().map(|v| quoted(v)).collect();
    let _ = writeln!(toml, "{key} = [{}]", items.join(", "));
}

fn tags(toml: &mut String, tags: &[Tag]) {
    if tags.is_empty() {
        return;
    }
    let items: Vec<String> = tags
        .iter()
        .map(|t| format!("{} = {}", quoted(&t.key), quoted(&t.value)))
        .collect();
    let _ = writeln!(toml, "tags = {{ {} }}", items.join(", "));
}

/// Exports the API entities of every account `config` lists from its store: files under `dir`
/// (which must not hold them already: nothing is overwritten), entries on standard output,
/// what was left out on standard error.
pub async fn export(config: &Config, dir: &Path) -> Output {
    let fail = |message: String| Output::failed(&message);
    let store = match super::shared_store(config, "there is nothing stored to export").await {
        Ok(s) => s,
        Err(out) => return out,
    };
    let layer = match iam_api::read_layer(&store, &iam_api::accounts(config)).await {
        Ok(l) => l,
        Err(e) => return fail(format!("store: {e}")),
    };
    if let Some((account, _)) = layer
        .accounts
        .iter()
        .find(|(_, d)| d.document.is_unusable())
    {
        return fail(format!(
            "the IAM entities of account {account} are stored in a document this version of \
             sts-broker cannot read (a newer version's, or damaged)"
        ));
    }
    let exported = render(&layer, &as_configured(config, dir));
    for (relative, content) in &exported.files {
        if let Err(e) = write_new(&dir.join(relative), content) {
            return fail(e);
        }
    }
    let mut stderr = format!(
        "wrote {} file{} under {}\n",
        exported.files.len(),
        if exported.files.len() == 1 { "" } else { "s" },
        dir.display()
    );
    for line in &exported.left_out {
        let _ = writeln!(stderr, "not exported: {line}");
    }
    Output {
        stdout: exported.toml,
        stderr,
        status: 0,
    }
}

/// `dir` as the configuration will name it: relative to the configuration's folder when it is
/// inside it, else absolute.
fn as_configured(config: &Config, dir: &Path) -> PathBuf {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let dir = absolute(dir);
    match Path::new(&config.source).parent() {
        Some(base) => {
            let base = absolute(base);
            dir.strip_prefix(&base)
                .map_or_else(|_| dir.clone(), Path::to_path_buf)
        }
        None => dir,
    }
}

fn write_new(path: &Path, content: &str) -> Result<(), String> {
    use std::io::Write as _;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            format!(
                "{}: {e} (export writes into an empty folder)",
                path.display()
            )
        })?;
    file.write_all(content.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use crate::iam::api::{Revisioned, StoredRole};

    fn layer(doc: AccountDocument) -> Layer {
        let mut layer = Layer::default();
        layer.accounts.insert(
            "111122223333".to_owned(),
            Revisioned {
                revision: 1,
                document: doc,
            },
        );
        layer
    }

    #[test]
    fn entries_quote_every_value_and_name_files_under_the_folder() {
        let mut doc = AccountDocument::default();
        let mut role = StoredRole {
            name: "..".to_owned(),
            path: "/a/".to_owned(),
            role_id: "AROAEXAMPLE".to_owned(),
            description: Some("say \"hi\"\n\\ there".to_owned()),
            max_session_duration: 3600,
            trust_policy: "{}".to_owned(),
            inline_policies: BTreeMap::new(),
            tags: vec![Tag {
                key: "a=b".to_owned(),
                value: "c\"d".to_owned(),
            }],
            created: 0,
            attached_policies: Vec::new(),
            permissions_boundary: None,
        };
        role.inline_policies
            .insert("..".to_owned(), "{}".to_owned());
        role.inline_policies
            .insert("ok".to_owned(), "{\"x\":1}".to_owned());
        doc.roles.insert("..".to_owned(), role);
        let out = render(&layer(doc), Path::new("exported"));
        // The entries parse back as TOML with the values as stored.
        let parsed: toml::Table = out.toml.parse().unwrap();
        let r = &parsed["roles"].as_array().unwrap()[0];
        assert_eq!(r["name"].as_str(), Some(".."));
        assert_eq!(r["description"].as_str(), Some("say \"hi\"\n\\ there"));
        assert_eq!(r["tags"]["a=b"].as_str(), Some("c\"d"));
        assert_eq!(
            r["trust_policy_file"].as_str(),
            Some("exported/111122223333/roles/.._/trust-policy.json")
        );
        assert_eq!(
            r["policy_files"].as_array().unwrap()[0].as_str(),
            Some("exported/111122223333/roles/.._/policies/ok")
        );
        // No file leaves its folder; the unexportable inline name is reported.
        for (path, _) in &out.files {
            assert!(
                path.components()
                    .all(|c| matches!(c, std::path::Component::Normal(_))),
                "{path:?}"
            );
        }
        assert_eq!(out.files.len(), 2);
        assert!(
            out.left_out[0].contains("inline policy \"..\""),
            "{:?}",
            out.left_out
        );
    }

    #[test]
    fn virtual_mfa_devices_are_listed_never_written() {
        let mut doc = AccountDocument::default();
        doc.mfa_devices.insert(
            "phone".to_owned(),
            crate::iam::mfa::StoredMfaDevice {
                name: "phone".to_owned(),
                path: "/".to_owned(),
                seed: "sb1:k1:sealed".to_owned(),
                enabled: None,
                tags: Vec::new(),
                created: 0,
            },
        );
        let out = render(&layer(doc), Path::new("x"));
        assert!(out.toml.is_empty() && out.files.is_empty());
        assert_eq!(out.left_out.len(), 1);
        assert!(
            out.left_out[0].contains("arn:aws:iam::111122223333:mfa/phone")
                && !out.left_out[0].contains("sb1:"),
            "{:?}",
            out.left_out
        );
    }

    #[test]
    fn login_profiles_and_the_password_policy_are_listed_never_a_hash() {
        use crate::iam::passwords::{PasswordHash, PolicyInput, StoredLoginProfile};
        let mut doc = AccountDocument::default();
        doc.login_profiles.insert(
            "ann".to_owned(),
            StoredLoginProfile {
                user: "ann".to_owned(),
                user_id: "AIDAANN".to_owned(),
                hash: PasswordHash::from_stored(
                    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
                ),
                previous: Vec::new(),
                created: 0,
                password_last_changed: 0,
                reset_required: false,
            },
        );
        doc.password_policy = Some(
            PolicyInput {
                minimum_length: Some(14),
                max_age_days: Some(90),
                ..PolicyInput::default()
            }
            .checked()
            .unwrap(),
        );
        let out = render(&layer(doc), Path::new("x"));
        assert!(out.toml.is_empty() && out.files.is_empty());
        assert_eq!(out.left_out.len(), 2, "{:?}", out.left_out);
        assert!(out.left_out[0].contains("login profile of user ann"));
        assert!(
            out.left_out[1].contains("password_policy = { minimum_length = 14,")
                && out.left_out[1].contains("max_age_days = 90"),
            "{:?}",
            out.left_out
        );
        let snippet = out.left_out[1].split_once("entry: ").unwrap().1;
        let parsed: toml::Table = toml::from_str(snippet).unwrap();
        assert_eq!(
            parsed["password_policy"]["minimum_length"].as_integer(),
            Some(14)
        );
        assert!(out.left_out.iter().all(|l| !l.contains("argon2")));
    }

    #[test]
    fn access_keys_are_listed_never_their_sealed_secret() {
        use crate::iam::access_keys::{AccessKeyStatus, StoredAccessKey};
        let mut doc = AccountDocument::default();
        let mut user = crate::iam::users::StoredUser::new("ci", "/", "AIDAEXAMPLE".into(), 0);
        user.access_keys.push(StoredAccessKey {
            id: "AKIAAAAAAAAAAAAAAAA2".into(),
            sealed: "sb1:k1:SEALED".into(),
            status: AccessKeyStatus::Inactive,
            created: 0,
            generation: 0,
        });
        doc.users.insert("ci".into(), user);
        let out = render(&layer(doc), Path::new("x"));
        assert!(!out.toml.contains("access_keys") && !out.toml.contains("SEALED"));
        assert!(out.files.iter().all(|(_, text)| !text.contains("SEALED")));
        assert_eq!(out.left_out.len(), 1);
        assert!(
            out.left_out[0].contains("AKIAAAAAAAAAAAAAAAA2 (Inactive)"),
            "{:?}",
            out.left_out
        );
    }

    #[test]
    fn an_empty_layer_exports_nothing() {
        let out = render(&layer(AccountDocument::default()), Path::new("x"));
        assert_eq!(out, Exported::default());
    }
}
