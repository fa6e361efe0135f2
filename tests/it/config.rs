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
    assert_eq!(embedded.store_url.as_str(), "memory://");
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
