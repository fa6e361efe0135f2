//! The deployment files hold together: the configurations they ship pass `check-config` with
//! exactly the environment the files give the broker, and the Kubernetes manifests and the
//! compose file agree with the broker's configuration and image (ports, probes, user, keys
//! folder, secrets). Nothing here builds an image or talks to a cluster: no registry or
//! cluster is reachable where the suite runs (see docs/deployment.md).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

const BIN: &str = env!("CARGO_BIN_EXE_sts-broker");

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn yaml(path: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(&std::fs::read_to_string(repo(path)).unwrap()).unwrap()
}

fn text(y: &Yaml) -> &str {
    y.as_str().unwrap_or_else(|| panic!("not a string: {y:?}"))
}

/// `sts-broker check-config --config CONFIG` with only `env` set: (exit code, stdout+stderr).
fn check(config: &Path, env: &BTreeMap<String, String>) -> (i32, String) {
    let out = Command::new(BIN)
        .args(["check-config", "--config", config.to_str().unwrap()])
        .env_clear()
        .envs(env)
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap(), said)
}

/// The Kubernetes ConfigMap's files, written into a folder as the pod sees them.
fn configmap_files(dir: &Path) -> PathBuf {
    let docs = yaml("deploy/kubernetes/configmap.yaml");
    let data = docs[0]["data"].as_hash().unwrap();
    for (name, content) in data {
        std::fs::write(dir.join(text(name)), text(content)).unwrap();
    }
    dir.join("broker.toml")
}

/// The one Deployment's pod template.
fn pod() -> Yaml {
    let docs = yaml("deploy/kubernetes/deployment.yaml");
    assert_eq!(text(&docs[0]["kind"]), "Deployment");
    docs[0]["spec"]["template"].clone()
}

fn broker_container(pod: &Yaml) -> Yaml {
    pod["spec"]["containers"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|c| text(&c["name"]) == "sts-broker")
        .unwrap()
        .clone()
}

/// A `[section] key = "value"` string of a TOML text.
fn toml_value(toml: &str, section: &str, key: &str) -> String {
    let value: toml::Value = toml::from_str(toml).unwrap();
    value[section][key].as_str().unwrap().to_owned()
}

#[test]
fn the_shipped_configurations_pass_check_config_with_the_environment_they_are_given() {
    // compose: the environment every replica gets.
    let compose = &yaml("docker/compose.yml")[0];
    let env: BTreeMap<String, String> = compose["x-broker"]["environment"]
        .as_hash()
        .unwrap()
        .iter()
        .map(|(k, v)| (text(k).to_owned(), text(v).to_owned()))
        .collect();
    let (code, said) = check(&repo("docker/broker.toml"), &env);
    assert_eq!(code, 0, "{said}");
    assert!(!said.contains("demo-redis-password"), "{said}");
    for missing in env.keys() {
        let mut less = env.clone();
        less.remove(missing);
        let (code, said) = check(&repo("docker/broker.toml"), &less);
        assert_eq!(code, 1, "without {missing}: {said}");
        assert!(said.contains(missing.as_str()), "{said}");
    }

    // Kubernetes: the ConfigMap's files, the container's environment from its Secret.
    let dir = tempfile::tempdir().unwrap();
    let config = configmap_files(dir.path());
    let container = broker_container(&pod());
    let mut env = BTreeMap::new();
    for var in container["env"].as_vec().unwrap() {
        let from = &var["valueFrom"]["secretKeyRef"];
        let secrets = yaml("deploy/kubernetes/secret.yaml");
        let secret = secrets
            .iter()
            .find(|s| s["metadata"]["name"] == from["name"])
            .unwrap_or_else(|| panic!("secret.yaml has no {:?}", from["name"]));
        let value = text(&secret["stringData"][text(&from["key"])]);
        env.insert(text(&var["name"]).to_owned(), value.to_owned());
    }
    let (code, said) = check(&config, &env);
    assert_eq!(code, 0, "{said}");
}

#[test]
fn the_kubernetes_manifests_agree_with_the_broker_and_its_image() {
    let dir = tempfile::tempdir().unwrap();
    let config = configmap_files(dir.path());
    let toml = std::fs::read_to_string(&config).unwrap();
    let pod = pod();
    let spec = &pod["spec"];
    let container = broker_container(&pod);

    // Replicas, drained one at a time.
    let deployment = &yaml("deploy/kubernetes/deployment.yaml")[0];
    assert!(deployment["spec"]["replicas"].as_i64().unwrap() >= 2);
    let labels = &pod["metadata"]["labels"];
    let pdb = &yaml("deploy/kubernetes/poddisruptionbudget.yaml")[0];
    assert_eq!(text(&pdb["kind"]), "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["selector"]["matchLabels"], *labels);
    assert_eq!(pdb["spec"]["minAvailable"].as_i64(), Some(1));
    assert_eq!(deployment["spec"]["selector"]["matchLabels"], *labels);

    // Ports: the ones the configuration listens on.
    let port = |name: &str| {
        container["ports"]
            .as_vec()
            .unwrap()
            .iter()
            .find(|p| text(&p["name"]) == name)
            .unwrap()["containerPort"]
            .as_i64()
            .unwrap()
    };
    let listen_port = |section: &str| -> i64 {
        let listen = toml_value(&toml, section, "listen");
        listen.rsplit(':').next().unwrap().parse().unwrap()
    };
    assert_eq!(port("sts"), listen_port("server"));
    assert_eq!(port("metrics"), listen_port("metrics"));
    let annotations = &pod["metadata"]["annotations"];
    assert_eq!(text(&annotations["prometheus.io/scrape"]), "true");
    assert_eq!(
        text(&annotations["prometheus.io/port"]),
        listen_port("metrics").to_string()
    );
    assert_eq!(text(&annotations["prometheus.io/path"]), "/metrics");
    let service = &yaml("deploy/kubernetes/service.yaml")[0];
    assert_eq!(service["spec"]["selector"], *labels);
    assert_eq!(text(&service["spec"]["ports"][0]["targetPort"]), "sts");

    // The network: STS open in the cluster, metrics only to the monitoring namespace.
    let policy = &yaml("deploy/kubernetes/networkpolicy.yaml")[0];
    assert_eq!(policy["spec"]["podSelector"]["matchLabels"], *labels);
    let rules = policy["spec"]["ingress"].as_vec().unwrap();
    let open_to_all: Vec<i64> = rules
        .iter()
        .filter(|r| r["from"].is_badvalue())
        .flat_map(|r| r["ports"].as_vec().unwrap().iter())
        .map(|p| p["port"].as_i64().unwrap())
        .collect();
    assert_eq!(open_to_all, [listen_port("server")]);
    let monitoring = rules.iter().find(|r| !r["from"].is_badvalue()).unwrap();
    assert_eq!(
        monitoring["ports"][0]["port"].as_i64(),
        Some(listen_port("metrics"))
    );

    // Probes: ready only with the store and a key; alive whatever the store does.
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        assert_eq!(text(&container[probe]["httpGet"]["path"]), path);
        assert_eq!(text(&container[probe]["httpGet"]["port"]), "sts");
    }

    // The image's user, never root, nothing writable but the state folder.
    let dockerfile = std::fs::read_to_string(repo("docker/Dockerfile")).unwrap();
    let uid = spec["securityContext"]["runAsUser"].as_i64().unwrap();
    assert!(dockerfile.contains(&format!("--uid {uid}")), "{dockerfile}");
    assert_eq!(
        spec["securityContext"]["runAsNonRoot"].as_bool(),
        Some(true)
    );
    let mut containers = spec["initContainers"].as_vec().unwrap().clone();
    containers.push(container.clone());
    for c in &containers {
        let sc = &c["securityContext"];
        assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true), "{c:?}");
        assert_eq!(
            sc["allowPrivilegeEscalation"].as_bool(),
            Some(false),
            "{c:?}"
        );
    }

    // The configuration file is where the container reads it.
    let args: Vec<&str> = container["args"]
        .as_vec()
        .unwrap()
        .iter()
        .map(text)
        .collect();
    assert_eq!(args, ["serve", "--config", "/etc/sts-broker/broker.toml"]);
    let mount = |c: &Yaml, volume: &str| -> String {
        text(
            &c["volumeMounts"]
                .as_vec()
                .unwrap()
                .iter()
                .find(|m| text(&m["name"]) == volume)
                .unwrap_or_else(|| panic!("{volume} not mounted in {c:?}"))["mountPath"],
        )
        .to_owned()
    };
    assert_eq!(mount(&container, "config"), "/etc/sts-broker");

    // The keys folder is inside the state volume, which the init container fills.
    let keys_dir = toml_value(&toml, "keys", "dir");
    let state = mount(&container, "state");
    assert!(keys_dir.starts_with(&format!("{state}/")), "{keys_dir}");
    let init = &spec["initContainers"][0];
    assert_eq!(mount(init, "state"), state);
    let script = text(&init["command"][2]);
    assert!(script.contains(&format!("mkdir -p {keys_dir}")), "{script}");
    assert!(script.contains("umask 077"), "{script}");
}

#[test]
fn the_compose_replicas_share_store_keys_and_configuration_behind_one_name() {
    let compose = &yaml("docker/compose.yml")[0];
    let services = &compose["services"];
    let replicas: Vec<&str> = services
        .as_hash()
        .unwrap()
        .keys()
        .map(text)
        .filter(|s| s.starts_with("broker-"))
        .collect();
    assert_eq!(replicas, ["broker-1", "broker-2"]);
    let template = &compose["x-broker"];
    for r in &replicas {
        // The merge key gives every replica the template's settings.
        let service = &services[*r];
        assert!(
            service
                .as_hash()
                .unwrap()
                .contains_key(&Yaml::from_str("<<"))
                || { service["volumes"] == template["volumes"] },
            "{r}"
        );
    }
    let volumes: Vec<&str> = template["volumes"]
        .as_vec()
        .unwrap()
        .iter()
        .map(text)
        .collect();
    assert!(volumes.contains(&"keys:/var/lib/sts-broker/keys"));
    assert!(volumes.contains(&"./broker.toml:/etc/sts-broker/broker.toml:ro"));
    let keys_dir = toml_value(
        &std::fs::read_to_string(repo("docker/broker.toml")).unwrap(),
        "keys",
        "dir",
    );
    assert_eq!(keys_dir, "/var/lib/sts-broker/keys");
    // One key made before either replica starts.
    assert_eq!(
        text(&template["depends_on"]["keys"]["condition"]),
        "service_completed_successfully"
    );
    let keys_job = &services["keys"];
    assert!(
        keys_job["volumes"]
            .as_vec()
            .unwrap()
            .contains(&Yaml::from_str("keys:/var/lib/sts-broker/keys"))
    );
    // nginx asks "broker", the name both replicas answer to.
    let aliases = &template["networks"]["default"]["aliases"];
    assert_eq!(aliases[0], Yaml::from_str("broker"));
    let nginx = text(&services["nginx"]["command"][2]);
    assert!(nginx.contains("s/__BROKER__/broker:4567/"), "{nginx}");
    // Redis with its ACL file, the default user off.
    let redis: Vec<&str> = services["redis"]["command"]
        .as_vec()
        .unwrap()
        .iter()
        .map(text)
        .collect();
    assert!(
        redis
            .windows(2)
            .any(|w| w == ["--aclfile", "/etc/redis/users.acl"])
    );
    let acl = std::fs::read_to_string(repo("docker/redis/users.acl")).unwrap();
    assert!(acl.lines().any(|l| l == "user default off"));
}
