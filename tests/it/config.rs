//! Configuration: the shipped files load, and `check-config` names the file and line of every
//! problem.

use std::path::Path;

use sts_broker::cli::broker::check_config;
use sts_broker::config::Config;

#[test]
fn shipped_configurations_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in [
        "config/dev.toml",
        "config/examples/github-actions.toml",
        "config/examples/kubernetes.toml",
        "config/examples/adfs-saml.toml",
    ] {
        let out = check_config(Config::load(&root.join(file)));
        assert_eq!(out.status, 0, "{file}: {}", out.stderr);
    }
    let embedded = Config::embedded(root).unwrap();
    assert_eq!(embedded.keys_dir, root.join("config").join("../keys"));
    assert!(embedded.store.is_memory());
    assert!(embedded.dev_issuer.is_some());
    let role = embedded
        .iam
        .role("arn:aws:iam::000000000000:role/dev-role")
        .unwrap();
    assert!(role.role_id.starts_with("AROA"));
}

#[test]
fn check_config_lists_every_problem_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad-trust.json"),
        "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [{\n    \"Effect\": \"Allow\",\n    \"Principal\": {\"Federated\": \"arn:aws:iam::111122223333:oidc-provider/x\"},\n    \"Action\": \"sts:AssumeRoleWithWebIdentity\",\n    \"Condition\": {\"StringEquals\": {\"x:sub\": \"a\"}, \"StringEquals\": {\"x:aud\": \"b\"}}\n  }]\n}\n",
    )
    .unwrap();
    let toml = r#"[[accounts]]
id = "111122223333"

[[oidc_providers]]
account = "111122223333"
issuer = "http://insecure.example.com"
client_ids = ["sts.amazonaws.com"]

[[roles]]
account = "999999999999"
name = "bad"
trust_policy_file = "bad-trust.json"

[[roles]]
account = "111122223333"
name = "no-trust"
max_session_duration = 60
"#;
    std::fs::write(dir.path().join("broker.toml"), toml).unwrap();
    let out = check_config(Config::load(&dir.path().join("broker.toml")));
    assert_eq!(out.status, 1);
    let err = out.stderr;
    let broker = dir.path().join("broker.toml").display().to_string();
    let trust = dir.path().join("bad-trust.json").display().to_string();
    assert!(err.contains(&format!("{broker}:4: issuer")), "{err}");
    assert!(
        err.contains(&format!("{broker}:9: account \"999999999999\"")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{trust}:7: MalformedPolicyDocument")),
        "{err}"
    );
    assert!(err.contains("duplicate"), "{err}");
    assert!(
        err.contains(&format!("{broker}:14: max_session_duration")),
        "{err}"
    );
    assert!(
        err.contains("needs exactly one of trust_policy_file and trust_policy"),
        "{err}"
    );
}

#[test]
fn toml_syntax_and_unknown_keys_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("[server]\nlisten = \"127.0.0.1:1\"\nlisten_port = 5\n", 3),
        ("[[accounts]]\nid = 111122223333\n", 2),
        ("[store\nurl = \"memory://\"\n", 1),
    ];
    for (toml, line) in cases {
        let e = Config::from_toml(toml, "c.toml", dir.path()).unwrap_err();
        assert_eq!(e.issues[0].line, Some(line), "{toml}: {e}");
    }
}

#[test]
fn check_config_locates_user_secret_and_key_limit_problems() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k.secret"), "not-shown-secret-value\n").unwrap();
    let toml = r#"[[accounts]]
id = "111122223333"

[[users]]
account = "111122223333"
name = "bob"
access_keys = [
  { id = "AKIABOBEXAMPLE234567", secret_env = "STS_BROKER_TEST_SECRET_THAT_IS_NEVER_SET" },
]

[[users]]
account = "111122223333"
name = "carol"
access_keys = [
  { id = "AKIACAROLEXAMPLE2345", secret_file = "k.secret" },
  { id = "AKIACAROLEXAMPLE2346", secret_file = "k.secret" },
  { id = "AKIACAROLEXAMPLE2347", secret_file = "k.secret" },
]
"#;
    std::fs::write(dir.path().join("broker.toml"), toml).unwrap();
    let out = check_config(Config::load(&dir.path().join("broker.toml")));
    assert_eq!(out.status, 1);
    let err = out.stderr;
    let broker = dir.path().join("broker.toml").display().to_string();
    assert!(
        err.contains(&format!(
            "{broker}:8: access key AKIABOBEXAMPLE234567: environment variable STS_BROKER_TEST_SECRET_THAT_IS_NEVER_SET is not set"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{broker}:11: user arn:aws:iam::111122223333:user/carol has more than 2 access keys"
        )),
        "{err}"
    );
    assert!(!err.contains("not-shown-secret-value"), "{err}");
}

#[test]
fn check_config_reports_bad_saml_metadata_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("not-metadata.xml", "<html><body>login</body></html>");
    write(
        "no-signing.xml",
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="encryption"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>AAAA</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor></md:IDPSSODescriptor></md:EntityDescriptor>"#,
    );
    write(
        "bad-cert.xml",
        r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>MIIBAAAA</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor></md:IDPSSODescriptor></md:EntityDescriptor>"#,
    );
    let mut toml = String::from("[[accounts]]\nid = \"111122223333\"\n");
    for (name, file) in [
        ("missing", "missing.xml"),
        ("html", "not-metadata.xml"),
        ("nosigning", "no-signing.xml"),
        ("badcert", "bad-cert.xml"),
    ] {
        toml.push_str(&format!(
            "\n[[saml_providers]]\naccount = \"111122223333\"\nname = \"{name}\"\nmetadata_file = \"{file}\"\n"
        ));
    }
    let out = check_config(Config::from_toml(&toml, "broker.toml", dir.path()));
    assert_eq!(out.status, 1);
    let lines: Vec<&str> = out.stderr.lines().collect();
    let expected = [
        ("broker.toml:4:", "cannot read metadata_file"),
        ("broker.toml:9:", "not SAML metadata"),
        ("broker.toml:14:", "no signing certificate"),
        ("broker.toml:19:", "not a parsable X.509 certificate"),
    ];
    for (at, text) in expected {
        assert!(
            lines.iter().any(|l| l.starts_with(at) && l.contains(text)),
            "{at} {text}: {}",
            out.stderr
        );
    }
}

#[test]
fn check_config_checks_accepted_issuers_and_fetch_deadlines() {
    let dir = tempfile::tempdir().unwrap();
    let toml = r#"[[accounts]]
id = "111122223333"

[[oidc_providers]]
account = "111122223333"
issuer = "https://idp.example.com"
accepted_issuers = ["https://idp.example.com/", "http://idp.example.com", "https://idp.example.com"]
client_ids = ["sts.amazonaws.com"]
jwks_fetch_timeout_seconds = 0
"#;
    std::fs::write(dir.path().join("broker.toml"), toml).unwrap();
    let out = check_config(Config::load(&dir.path().join("broker.toml")));
    assert_eq!(out.status, 1);
    let err = out.stderr;
    assert!(
        err.contains("accepted issuer \"http://idp.example.com\""),
        "{err}"
    );
    assert!(
        err.contains("accepted issuer \"https://idp.example.com\" must"),
        "{err}"
    );
    assert!(
        !err.contains("accepted issuer \"https://idp.example.com/\""),
        "{err}"
    );
    assert!(
        err.contains("jwks_fetch_timeout_seconds must be 1 to 30"),
        "{err}"
    );
}

/// One provider per issuer in an account; another account lists its own for the same issuer.
#[test]
fn an_issuer_is_one_provider_per_account() {
    let dir = tempfile::tempdir().unwrap();
    let provider = |account: &str, issuer: &str, client: &str| {
        format!(
            "\n[[oidc_providers]]\naccount = \"{account}\"\nissuer = \"{issuer}\"\nclient_ids = [\"{client}\"]\n"
        )
    };
    let accounts = "[[accounts]]\nid = \"111122223333\"\n\n[[accounts]]\nid = \"444455556666\"\n";
    let both = format!(
        "{accounts}{}{}",
        provider("111122223333", "https://idp.example.com", "ours"),
        provider("444455556666", "https://idp.example.com", "theirs")
    );
    let config = Config::from_toml(&both, "broker.toml", dir.path()).unwrap();
    assert_eq!(config.oidc_providers.len(), 2);
    let theirs = config
        .oidc_provider("444455556666", "https://idp.example.com")
        .unwrap();
    assert_eq!(theirs.client_ids, ["theirs"]);
    assert_eq!(
        theirs.arn,
        "arn:aws:iam::444455556666:oidc-provider/idp.example.com"
    );
    let twice = format!(
        "{accounts}{}{}",
        provider("111122223333", "https://idp.example.com", "ours"),
        provider("111122223333", "https://idp.example.com:8443/", "again")
    );
    let err = Config::from_toml(&twice, "broker.toml", dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is configured twice in account 111122223333"),
        "{err}"
    );
}

/// Two `[store]` lines (4 and 5) naming Sentinels and their master.
const SENTINELS: &str = "sentinel_urls = [\"redis://s1:26379\"]\nsentinel_master = \"main\"";

/// Every bad `[store]` is refused by `check-config` at its line, and no password is shown.
#[test]
fn check_config_locates_every_store_problem() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.pem"), "no certificate here\n").unwrap();
    std::fs::write(dir.path().join("blank.password"), "  \n").unwrap();
    let unset = "STS_BROKER_TEST_REDIS_PASSWORD_NEVER_SET";
    // The `[store]` table starts on line 3; its first key is on line 4.
    let cases: Vec<(String, usize, String)> = vec![
        (
            "url = \"redis://app:s3cr3t-in-url@cache:6379/0\"".into(),
            4,
            "carries credentials: name the user with username and the password with password_env or password_file".into(),
        ),
        (
            "url = \"redis://:s3cr3t-in-url@cache:6379/0\"".into(),
            4,
            "carries credentials".into(),
        ),
        (
            "url = \"rediss://cache:6379/0#insecure\"".into(),
            4,
            "certificates are always checked".into(),
        ),
        ("url = \"http://cache:6379\"".into(), 4, "must be memory://, redis://host:port/db or rediss://host:port/db".into()),
        ("url = \"redis://cache:notaport/0\"".into(), 4, "is not a Redis URL".into()),
        (
            "url = \"redis://cache:6379/0\"\ncluster_urls = [\"redis://a:7000\"]".into(),
            5,
            "exactly one of url, cluster_urls and sentinel_urls".into(),
        ),
        (
            "cluster_urls = [\"redis://a:7000\"]\nsentinel_urls = [\"redis://s:26379\"]".into(),
            4,
            "exactly one of url, cluster_urls and sentinel_urls".into(),
        ),
        ("cluster_urls = []".into(), 4, "cluster_urls lists no server".into()),
        (
            "cluster_urls = [\"redis://a:7000\", \"rediss://b:7000\"]".into(),
            4,
            "mixes redis:// and rediss://".into(),
        ),
        ("cluster_urls = [\"redis://a:7000/3\"]".into(), 4, "has only database 0".into()),
        (
            "cluster_urls = [\"redis://u:pw-in-url@a:7000\"]".into(),
            4,
            "carries credentials".into(),
        ),
        (
            "sentinel_urls = [\"redis://s:26379\"]".into(),
            4,
            "sentinel_urls needs sentinel_master".into(),
        ),
        (
            "url = \"redis://cache:6379/0\"\nsentinel_master = \"main\"".into(),
            5,
            "sentinel_master needs sentinel_urls".into(),
        ),
        (
            "url = \"redis://cache:6379/0\"\nca_file = \"ca.pem\"".into(),
            5,
            "ca_file is only for TLS (rediss://) connections".into(),
        ),
        (
            "url = \"rediss://cache:6379/0\"\nca_file = \"missing.pem\"".into(),
            5,
            "cannot read ca_file".into(),
        ),
        (
            "url = \"rediss://cache:6379/0\"\nca_file = \"empty.pem\"".into(),
            5,
            "holds no PEM certificate".into(),
        ),
        (
            format!("url = \"redis://cache:6379/0\"\nusername = \"app\"\npassword_env = \"{unset}\""),
            6,
            format!("password_env: environment variable {unset} is not set"),
        ),
        (
            "url = \"redis://cache:6379/0\"\npassword_file = \"missing.password\"".into(),
            5,
            "cannot read password_file".into(),
        ),
        (
            "url = \"redis://cache:6379/0\"\npassword_file = \"blank.password\"".into(),
            5,
            "is empty or holds spaces".into(),
        ),
        (
            format!("url = \"redis://cache:6379/0\"\npassword_env = \"{unset}\"\npassword_file = \"blank.password\""),
            6,
            "one of password_env and password_file, not both".into(),
        ),
        (
            "url = \"redis://cache:6379/0\"\nusername = \"two words\"".into(),
            5,
            "username \"two words\" is empty or holds spaces".into(),
        ),
        (
            "url = \"memory://\"\nusername = \"app\"".into(),
            5,
            "username and password are for Redis, not memory://".into(),
        ),
        ("url = \"redis://cache:6379/0\"\ninsecure = true".into(), 5, "unknown field `insecure`".into()),
        // The Sentinels' own credentials: the same rules, and only with sentinel_urls.
        (
            format!("{SENTINELS}\nsentinel_username = \"watcher\"\nsentinel_password_env = \"{unset}\""),
            7,
            format!("sentinel_password_env: environment variable {unset} is not set"),
        ),
        (
            format!("{SENTINELS}\nsentinel_password_file = \"missing.password\""),
            6,
            "cannot read sentinel_password_file".into(),
        ),
        (
            format!("{SENTINELS}\nsentinel_password_file = \"blank.password\""),
            6,
            "is empty or holds spaces".into(),
        ),
        (
            format!("{SENTINELS}\nsentinel_password_env = \"{unset}\"\nsentinel_password_file = \"blank.password\""),
            7,
            "one of sentinel_password_env and sentinel_password_file, not both".into(),
        ),
        (
            format!("{SENTINELS}\nsentinel_username = \"\""),
            6,
            "sentinel_username \"\" is empty or holds spaces".into(),
        ),
        (
            "sentinel_urls = [\"redis://watcher:s3cr3t-in-url@s:26379\"]\nsentinel_master = \"main\"".into(),
            4,
            "carries credentials: name the user with sentinel_username and the password with sentinel_password_env or sentinel_password_file".into(),
        ),
        (
            "url = \"redis://cache:6379/0\"\nsentinel_username = \"watcher\"".into(),
            5,
            "sentinel_username needs sentinel_urls: it is only for Sentinels".into(),
        ),
        (
            "cluster_urls = [\"redis://a:7000\"]\nsentinel_password_file = \"blank.password\"".into(),
            5,
            "sentinel_password_file needs sentinel_urls: it is only for Sentinels".into(),
        ),
        (
            format!("sentinel_password_env = \"{unset}\""),
            4,
            "sentinel_password_env needs sentinel_urls: it is only for Sentinels".into(),
        ),
    ];
    for (store, line, message) in cases {
        let toml = format!("[[accounts]]\nid = \"111122223333\"\n[store]\n{store}\n");
        let path = dir.path().join("broker.toml");
        std::fs::write(&path, &toml).unwrap();
        let out = check_config(Config::load(&path));
        assert_eq!(out.status, 1, "{store}");
        let expected = format!("{}:{line}: ", path.display());
        let found = out
            .stderr
            .lines()
            .any(|l| l.starts_with(&expected) && l.contains(&message));
        assert!(
            found,
            "{store}: wanted {expected}...{message}, got {}",
            out.stderr
        );
        assert!(!out.stderr.contains("s3cr3t-in-url"), "{}", out.stderr);
        assert!(!out.stderr.contains("pw-in-url"), "{}", out.stderr);
    }
}

/// A good `[store]` loads; what `check-config` prints names the store but not its password.
#[test]
fn store_settings_load_and_never_show_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let ca = rcgen::generate_simple_self_signed(vec!["cache.internal".to_owned()]).unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.cert.pem()).unwrap();
    std::fs::write(dir.path().join("redis.password"), "file-password-value\n").unwrap();
    std::fs::write(
        dir.path().join("sentinel.password"),
        "sentinel-password-value\n",
    )
    .unwrap();
    let cases = [
        (
            "url = \"rediss://cache.internal:6380/2\"\nca_file = \"ca.pem\"\nusername = \"app\"\npassword_file = \"redis.password\"",
            "store rediss://cache.internal:6380/2 as user \"app\"",
        ),
        (
            "cluster_urls = [\"redis://a:7000\", \"redis://b:7001\"]\npassword_file = \"redis.password\"",
            "store Redis Cluster (seeds redis://a:7000, redis://b:7001)",
        ),
        (
            "sentinel_urls = [\"redis://s1:26379\", \"redis://s2:26379\"]\nsentinel_master = \"main\"\nusername = \"app\"\npassword_file = \"redis.password\"",
            "store Sentinel master \"main\" (sentinels redis://s1:26379, redis://s2:26379) as user \"app\"",
        ),
        (
            "sentinel_urls = [\"redis://s1:26379\"]\nsentinel_master = \"main\"\nsentinel_username = \"watcher\"\nsentinel_password_file = \"sentinel.password\"\nusername = \"app\"\npassword_file = \"redis.password\"",
            "store Sentinel master \"main\" (sentinels redis://s1:26379 as user \"watcher\") as user \"app\"",
        ),
        (
            "sentinel_urls = [\"redis://s1:26379\"]\nsentinel_master = \"main\"\nsentinel_password_file = \"sentinel.password\"",
            "store Sentinel master \"main\" (sentinels redis://s1:26379)",
        ),
        ("", "store memory://"),
    ];
    for (store, shown) in cases {
        let toml = format!("[[accounts]]\nid = \"111122223333\"\n[store]\n{store}\n");
        let path = dir.path().join("broker.toml");
        std::fs::write(&path, &toml).unwrap();
        let config = Config::load(&path);
        let debug = format!("{:?}", config.as_ref().map(|c| &c.store));
        let out = check_config(config);
        assert_eq!(out.status, 0, "{store}: {}", out.stderr);
        assert!(out.stdout.contains(shown), "{}", out.stdout);
        for secret in ["file-password-value", "sentinel-password-value"] {
            assert!(!debug.contains(secret), "{debug}");
            assert!(!out.stdout.contains(secret), "{}", out.stdout);
        }
    }
}

#[test]
fn check_config_locates_policy_document_path_and_description_problems() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.json"), r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#).unwrap();
    let toml = r#"[[accounts]]
id = "111122223333"

[[policies]]
account = "111122223333"
name = "both"
file = "p.json"
document = '{"Version":"2012-10-17","Statement":[]}'

[[policies]]
account = "111122223333"
name = "neither"

[[policies]]
account = "111122223333"
name = "bad-inline"
document = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*"}]}'

[[policies]]
account = "111122223333"
name = "bad-path"
path = "team"
file = "p.json"
description = "tab\tok but not \u0001"

[[groups]]
account = "111122223333"
name = "g"
path = "no-slash"

[[policies]]
account = "111122223333"
name = "good"
path = "/team/"
description = "fine"
document = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}'
"#;
    std::fs::write(dir.path().join("broker.toml"), toml).unwrap();
    let out = check_config(Config::load(&dir.path().join("broker.toml")));
    assert_eq!(out.status, 1);
    let err = out.stderr;
    let broker = dir.path().join("broker.toml").display().to_string();
    for expected in [
        format!(
            "{broker}:4: policy arn:aws:iam::111122223333:policy/both needs exactly one of file and document"
        ),
        format!(
            "{broker}:10: policy arn:aws:iam::111122223333:policy/neither needs exactly one of file and document"
        ),
        format!("{broker}:14: MalformedPolicyDocument"),
        format!("{broker}:19: policy path \"team\" must start and end with /"),
        format!("{broker}:19: description must be at most 1000 characters"),
        format!("{broker}:26: group path \"no-slash\" must start and end with /"),
    ] {
        assert!(err.contains(&expected), "{expected}\n{err}");
    }
    assert!(!err.contains("policy/team/good"), "{err}");
}

/// `[server]`'s deadlines and connection cap: defaults, values taken as written, zero and
/// out-of-range values refused with their file and line, and a reload that changes the
/// listeners' limits refused (they are bound at start).
#[test]
fn server_deadlines_and_connection_cap_are_checked_at_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let defaults = Config::from_toml("", "c.toml", dir.path()).unwrap();
    assert_eq!(defaults.server.request_timeout_seconds, 10);
    assert_eq!(defaults.server.header_read_timeout_seconds, 10);
    assert_eq!(defaults.server.max_connections, 10_000);
    assert_eq!(defaults.server.max_connections_per_ip, 0);
    let set = Config::from_toml(
        "[server]\nheader_read_timeout_seconds = 3\nmax_connections = 2\nmax_connections_per_ip = 1\n",
        "c.toml",
        dir.path(),
    )
    .unwrap();
    assert_eq!(set.server.header_read_timeout_seconds, 3);
    assert_eq!(set.server.max_connections, 2);
    assert_eq!(set.server.max_connections_per_ip, 1);
    assert_eq!(
        sts_broker::broker::reload::needs_restart(&defaults, &set),
        [
            "[server] header_read_timeout_seconds",
            "[server] max_connections",
            "[server] max_connections_per_ip"
        ]
    );

    let path = dir.path().join("broker.toml");
    let broker = path.display().to_string();
    for (server, problems) in [
        (
            "request_timeout_seconds = 0\nheader_read_timeout_seconds = 0\nmax_connections = 0\n",
            &[
                ":3: [server] request_timeout_seconds must be 1 to 3600 (got 0)",
                ":4: [server] header_read_timeout_seconds must be 1 to 3600 (got 0)",
                ":5: [server] max_connections must be 1 to 1000000 (got 0)",
            ][..],
        ),
        (
            "max_connections = 1000001\nrequest_timeout_seconds = 3601\nheader_read_timeout_seconds = 3601\nmax_connections_per_ip = 1000001\n",
            &[
                ":4: [server] request_timeout_seconds must be 1 to 3600 (got 3601)",
                ":5: [server] header_read_timeout_seconds must be 1 to 3600 (got 3601)",
                ":3: [server] max_connections must be 1 to 1000000 (got 1000001)",
                ":6: [server] max_connections_per_ip must be 0 (no limit) to 1000000 (got 1000001)",
            ][..],
        ),
    ] {
        std::fs::write(
            &path,
            format!("[server]\nlisten = \"127.0.0.1:0\"\n{server}[store]\nurl = \"memory://\"\n"),
        )
        .unwrap();
        let out = check_config(Config::load(&path));
        assert_eq!(out.status, 1);
        for problem in problems {
            assert!(
                out.stderr.contains(&format!("{broker}{problem}")),
                "{}",
                out.stderr
            );
        }
    }
    // Negative: not a number of seconds at all, located by the parser.
    let e = Config::from_toml(
        "[server]\nheader_read_timeout_seconds = -1\n",
        "c.toml",
        dir.path(),
    )
    .unwrap_err();
    assert_eq!(e.issues[0].line, Some(2), "{e}");
}
