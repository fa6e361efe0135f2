//! Redis topologies on loopback for the store tests: a TLS server with an ACL user and
//! certificates made here, a 3-master + 3-replica Redis Cluster, and a master + replica watched
//! by three Sentinels. The conventions of [`super::redis`]: free ports from a listener bound and
//! dropped, a random password proving a server is ours before it is used (a server that could
//! not bind exits and is started again elsewhere), every process killed on drop, and only
//! bounded polls (no fixed sleeps). Each gives the `[store]` lines a broker needs, with
//! absolute paths to its password and CA files. The Sentinels require a password too
//! ([`SentinelAuth`]).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// How long a topology may take to form on a loaded machine.
const FORM_BOUND: Duration = Duration::from_secs(90);
/// How long a manual cluster failover is given before it is asked for again.
const FAILOVER_RETRY: Duration = Duration::from_secs(10);

fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // A cluster node also listens on port + 10000 (its bus).
        if port < 55_000 {
            return port;
        }
    }
}

fn random_password() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn spawn(args: &[String]) -> Child {
    Command::new("redis-server")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (apt-get install redis-server)")
}

/// A process killed (SIGKILL) on drop, or earlier with [`Process::kill`].
#[derive(Debug)]
pub struct Process {
    pub port: u16,
    child: Child,
}

impl Process {
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `args(port)` on a free port until a server answers `client(port)` with `PING`.
async fn start_proven(
    args: impl Fn(u16) -> Vec<String>,
    client: impl Fn(u16) -> redis::Client,
) -> Process {
    for _ in 0..20 {
        let port = free_port();
        let mut process = Process {
            port,
            child: spawn(&args(port)),
        };
        let c = client(port);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline && !process.exited() {
            if ping(&c).await {
                return process;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        process.kill();
    }
    panic!("redis-server did not start");
}

async fn ping(client: &redis::Client) -> bool {
    let connect = tokio::time::timeout(
        Duration::from_secs(2),
        client.get_multiplexed_async_connection(),
    );
    let Ok(Ok(mut c)) = connect.await else {
        return false;
    };
    let ping = redis::cmd("PING");
    let reply = tokio::time::timeout(Duration::from_secs(2), ping.query_async::<String>(&mut c));
    matches!(reply.await, Ok(Ok(_)))
}

/// `cmd` on the server at `port` as the default user with `password`.
pub async fn query<T: redis::FromRedisValue>(port: u16, password: &str, cmd: &redis::Cmd) -> T {
    let client = redis::Client::open(format!("redis://:{password}@127.0.0.1:{port}/0")).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    cmd.query_async(&mut c).await.unwrap()
}

/// `cmd` on the server at `port` as the default user (with `password`), or `None` when it does
/// not answer.
async fn try_query<T: redis::FromRedisValue>(
    port: u16,
    password: Option<&str>,
    cmd: &redis::Cmd,
) -> Option<T> {
    let userinfo = password.map(|p| format!(":{p}@")).unwrap_or_default();
    try_query_as(port, &userinfo, cmd).await
}

/// `cmd` on the server at `port` with `userinfo` (`user:password@`, `:password@` or empty),
/// or `None` when it does not answer.
async fn try_query_as<T: redis::FromRedisValue>(
    port: u16,
    userinfo: &str,
    cmd: &redis::Cmd,
) -> Option<T> {
    let client = redis::Client::open(format!("redis://{userinfo}127.0.0.1:{port}/0")).ok()?;
    let connect = tokio::time::timeout(
        Duration::from_secs(2),
        client.get_multiplexed_async_connection(),
    );
    let mut c = connect.await.ok()?.ok()?;
    tokio::time::timeout(Duration::from_secs(2), cmd.query_async(&mut c))
        .await
        .ok()?
        .ok()
}

/// Polls `check` every 50 ms until it holds; panics after [`FORM_BOUND`] naming `what`.
async fn until<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = Instant::now() + FORM_BOUND;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {FORM_BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A private CA and what it signs.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pub pem: String,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let pem = params.self_signed(&key).unwrap().pem();
        TestCa {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// A server certificate for `names` (host names or IP addresses): (certificate, key) PEM.
    pub fn server(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &self.issuer)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// A `redis-server` serving TLS only (`--port 0 --tls-port P`), its certificate signed by a CA
/// made here for the names given, with the default user off and one ACL user.
pub struct TlsRedis {
    pub process: Process,
    pub ca: TestCa,
    pub user: String,
    pub password: String,
    pub dir: tempfile::TempDir,
}

impl TlsRedis {
    /// The server's certificate names `names`; `user` may use the `sts-broker:*` keys and
    /// channel with every command.
    pub async fn start(names: &[&str], user: &str) -> TlsRedis {
        install_tls_provider();
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("sts-broker test CA");
        let (cert, key) = ca.server(names);
        let cert = write(dir.path(), "server.pem", &cert);
        let key = write(dir.path(), "server.key", &key);
        let ca_file = write(dir.path(), "ca.pem", &ca.pem);
        let password = random_password();
        let acl = write(
            dir.path(),
            "users.acl",
            &format!(
                "user default off\nuser {user} on >{password} resetkeys ~sts-broker:* \
                 resetchannels &sts-broker:* +@all\n"
            ),
        );
        // The proof: our user, our password, and a certificate our CA signed.
        let client = |port: u16| {
            redis::Client::build_with_tls(
                format!("rediss://{user}:{password}@127.0.0.1:{port}/0"),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(ca.pem.clone().into_bytes()),
                },
            )
            .unwrap()
        };
        let args = |port: u16| {
            [
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--tls-cert-file",
                &cert.display().to_string(),
                "--tls-key-file",
                &key.display().to_string(),
                "--tls-ca-cert-file",
                &ca_file.display().to_string(),
                "--tls-auth-clients",
                "no",
                "--aclfile",
                &acl.display().to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ]
            .map(str::to_owned)
            .to_vec()
        };
        let process = start_proven(args, client).await;
        TlsRedis {
            process,
            ca,
            user: user.to_owned(),
            password,
            dir,
        }
    }

    /// `[store]` lines reaching the server as `host`, trusting `ca_pem`, the password in a
    /// file.
    pub fn store_with(&self, host: &str, ca_pem: &str) -> String {
        let name = format!("ca-{}.pem", uuid::Uuid::new_v4().simple());
        let ca = write(self.dir.path(), &name, ca_pem);
        let password = write(self.dir.path(), "redis.password", &self.password);
        format!(
            "url = \"rediss://{host}:{}/0\"\nca_file = {:?}\nusername = {:?}\npassword_file = {:?}\n",
            self.process.port,
            ca.display().to_string(),
            self.user,
            password.display().to_string()
        )
    }

    /// `[store]` lines that reach the server by the address its certificate names.
    pub fn store(&self) -> String {
        self.store_with("127.0.0.1", &self.ca.pem)
    }
}

/// TLS connections in this process need a rustls provider; the first installed stays.
pub fn install_tls_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Three masters and three replicas, every node requiring one random password.
pub struct RedisCluster {
    pub nodes: Vec<Process>,
    pub password: String,
    dir: tempfile::TempDir,
}

impl RedisCluster {
    pub async fn start() -> RedisCluster {
        let dir = tempfile::tempdir().unwrap();
        let password = random_password();
        let mut nodes = Vec::new();
        for _ in 0..6 {
            let folder = dir.path().to_owned();
            let args = |port: u16| {
                [
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    &format!("nodes-{port}.conf"),
                    // Long enough that a loaded machine does not fail nodes over by itself.
                    "--cluster-node-timeout",
                    "3000",
                    "--dir",
                    &folder.display().to_string(),
                    "--requirepass",
                    &password,
                    "--masterauth",
                    &password,
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ]
                .map(str::to_owned)
                .to_vec()
            };
            let client = |port: u16| {
                redis::Client::open(format!("redis://:{password}@127.0.0.1:{port}/0")).unwrap()
            };
            nodes.push(start_proven(args, client).await);
        }
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let created = Command::new("redis-cli")
            .args(["-a", &password, "--no-auth-warning", "--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("redis-cli must be installed");
        assert!(
            created.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        let cluster = RedisCluster {
            nodes,
            password,
            dir,
        };
        cluster.wait_ok().await;
        cluster
    }

    /// Until every live node reports `cluster_state:ok` with all slots served and sees three
    /// masters each with a replica.
    pub async fn wait_ok(&self) {
        let ports: Vec<u16> = self.nodes.iter().map(|n| n.port).collect();
        let password = self.password.clone();
        until("cluster_state:ok on every node", || {
            let ports = ports.clone();
            let password = password.clone();
            async move {
                for port in ports {
                    let info: Option<String> =
                        try_query(port, Some(&password), redis::cmd("CLUSTER").arg("INFO")).await;
                    let Some(info) = info else { return false };
                    if !info.contains("cluster_state:ok")
                        || !info.contains("cluster_slots_ok:16384")
                    {
                        return false;
                    }
                    let roles: Option<redis::Value> =
                        try_query(port, Some(&password), &redis::cmd("ROLE")).await;
                    if roles.is_none() {
                        return false;
                    }
                }
                true
            }
        })
        .await;
    }

    /// `[store]` lines listing every node as a seed, the password in a file.
    pub fn store(&self) -> String {
        self.store_starting_with(self.nodes[0].port)
    }

    /// As [`RedisCluster::store`], the node at `port` listed first.
    pub fn store_starting_with(&self, port: u16) -> String {
        let password = write(self.dir.path(), "redis.password", &self.password);
        let mut ports: Vec<u16> = self.nodes.iter().map(|n| n.port).collect();
        ports.sort_by_key(|p| *p != port);
        let urls: Vec<String> = ports
            .iter()
            .map(|p| format!("\"redis://127.0.0.1:{p}\""))
            .collect();
        format!(
            "cluster_urls = [{}]\npassword_file = {:?}\n",
            urls.join(", "),
            password.display().to_string()
        )
    }

    /// SIGKILLs the node at `port`.
    pub fn kill(&mut self, port: u16) {
        for node in &mut self.nodes {
            if node.port == port {
                node.kill();
            }
        }
    }

    /// Stops (SIGSTOP) or continues (SIGCONT) the node at `port`: a node that stalls, its
    /// connections open and unanswered.
    pub fn signal(&self, port: u16, signal: &str) {
        for node in &self.nodes {
            if node.port == port {
                let status = Command::new("kill")
                    .args([signal, &node.child.id().to_string()])
                    .status()
                    .unwrap();
                assert!(status.success());
            }
        }
    }

    /// The port of a node whose `ROLE` is `role` (`master` or `slave`).
    pub async fn node_with_role(&self, role: &str) -> u16 {
        for node in &self.nodes {
            let reply: redis::Value = query(node.port, &self.password, &redis::cmd("ROLE")).await;
            if let redis::Value::Array(items) = reply
                && let Some(redis::Value::BulkString(r)) = items.first()
                && r == role.as_bytes()
            {
                return node.port;
            }
        }
        panic!("no {role} in the cluster");
    }

    /// `CLUSTER FAILOVER` on a replica; returns once it is a master and the cluster is ok.
    /// Redis gives up a manual failover its master does not complete within 5 s (a busy
    /// machine's cluster bus can be that late), so the command is sent again every
    /// [`FAILOVER_RETRY`] until the replica has taken over. The first must be accepted.
    pub async fn failover(&self) -> u16 {
        let replica = self.node_with_role("slave").await;
        let _: String = query(
            replica,
            &self.password,
            redis::cmd("CLUSTER").arg("FAILOVER"),
        )
        .await;
        let password = self.password.clone();
        let mut asked = Some(Instant::now());
        until("the replica took over", || {
            let password = password.clone();
            let ask = asked.is_none_or(|at| at.elapsed() >= FAILOVER_RETRY);
            if ask {
                asked = Some(Instant::now());
            }
            async move {
                let role: Option<redis::Value> =
                    try_query(replica, Some(&password), &redis::cmd("ROLE")).await;
                let master = matches!(role, Some(redis::Value::Array(items))
                    if matches!(items.first(), Some(redis::Value::BulkString(r)) if r == b"master"));
                if !master && ask {
                    let _: Option<String> = try_query(
                        replica,
                        Some(&password),
                        redis::cmd("CLUSTER").arg("FAILOVER"),
                    )
                    .await;
                }
                master
            }
        })
        .await;
        self.wait_ok().await;
        replica
    }
}

/// How the Sentinels of a [`RedisSentinel`] are protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentinelAuth {
    /// `requirepass` in sentinel.conf: the default user with a password, which the Sentinels
    /// also give each other.
    RequirePass,
    /// ACL users in sentinel.conf, the default user off: the Sentinels reach each other as
    /// [`SENTINEL_PEER`] (`sentinel sentinel-user` / `sentinel-pass`), the broker as
    /// [`BROKER_USER`], allowed only what finding the master takes (`ROLE`,
    /// `SENTINEL MASTERS`).
    Acl,
}

/// The broker's ACL user on the data nodes (limited to the `sts-broker:*` keys and channel)
/// and, with [`SentinelAuth::Acl`], on the Sentinels.
pub const BROKER_USER: &str = "sts-broker";
/// The Sentinels' user for each other (and for this harness) with [`SentinelAuth::Acl`].
pub const SENTINEL_PEER: &str = "sentinel-peer";

/// A master and its replica, watched by three Sentinels under [`RedisSentinel::MASTER`]. The
/// data nodes' default user has `password` (replication, the Sentinels and this harness use
/// it); the broker uses [`BROKER_USER`] with `broker_password`. The Sentinels require
/// `sentinel_password` as `auth` says.
pub struct RedisSentinel {
    pub master: Process,
    pub replica: Process,
    pub sentinels: Vec<Process>,
    pub password: String,
    pub broker_password: String,
    pub auth: SentinelAuth,
    pub sentinel_password: String,
    pub dir: tempfile::TempDir,
}

impl RedisSentinel {
    pub const MASTER: &str = "sts-main";

    pub async fn start(auth: SentinelAuth) -> RedisSentinel {
        let dir = tempfile::tempdir().unwrap();
        let password = random_password();
        let broker_password = random_password();
        let sentinel_password = random_password();
        let data = |replica_of: Option<u16>| {
            let password = password.clone();
            let broker_password = broker_password.clone();
            move |port: u16| {
                let mut args = [
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--requirepass",
                    &password,
                    "--masterauth",
                    &password,
                    "--user",
                    BROKER_USER,
                    "on",
                    &format!(">{broker_password}"),
                    "resetkeys",
                    "~sts-broker:*",
                    "resetchannels",
                    "&sts-broker:*",
                    "+@all",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ]
                .map(str::to_owned)
                .to_vec();
                if let Some(master) = replica_of {
                    args.extend(["--replicaof".to_owned(), "127.0.0.1".to_owned()]);
                    args.push(master.to_string());
                }
                args
            }
        };
        let client = |port: u16| {
            redis::Client::open(format!("redis://:{password}@127.0.0.1:{port}/0")).unwrap()
        };
        let master = start_proven(data(None), client).await;
        let replica = start_proven(data(Some(master.port)), client).await;
        let (master_port, replica_port) = (master.port, replica.port);
        until("the replica is in sync", || {
            let password = password.clone();
            async move {
                let info: Option<String> = try_query(
                    replica_port,
                    Some(&password),
                    redis::cmd("INFO").arg("replication"),
                )
                .await;
                info.is_some_and(|i| i.contains("master_link_status:up"))
            }
        })
        .await;
        let protection = match auth {
            SentinelAuth::RequirePass => format!("requirepass {sentinel_password}\n"),
            SentinelAuth::Acl => format!(
                "user default off\n\
                 user {SENTINEL_PEER} on >{sentinel_password} allchannels +@all\n\
                 user {BROKER_USER} on >{sentinel_password} -@all +role +sentinel|masters\n\
                 sentinel sentinel-user {SENTINEL_PEER}\n\
                 sentinel sentinel-pass {sentinel_password}\n"
            ),
        };
        let admin = sentinel_admin(auth, &sentinel_password);
        let mut sentinels = Vec::new();
        for n in 0..3 {
            let folder = dir.path().to_owned();
            let password = password.clone();
            let protection = protection.clone();
            let args = move |port: u16| {
                let conf = folder.join(format!("sentinel-{n}-{port}.conf"));
                std::fs::write(
                    &conf,
                    format!(
                        "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                         sentinel monitor {m} 127.0.0.1 {master_port} 2\n\
                         sentinel auth-pass {m} {password}\n\
                         sentinel down-after-milliseconds {m} 2000\n\
                         sentinel failover-timeout {m} 10000\n\
                         sentinel parallel-syncs {m} 1\n{protection}",
                        dir = folder.display(),
                        m = RedisSentinel::MASTER,
                    ),
                )
                .unwrap();
                vec![conf.display().to_string(), "--sentinel".to_owned()]
            };
            // The proof for a Sentinel: our password, and it watches our master's port.
            let process = start_sentinel(args, &admin, master_port).await;
            sentinels.push(process);
        }
        let sentinel = RedisSentinel {
            master,
            replica,
            sentinels,
            password,
            broker_password,
            auth,
            sentinel_password,
            dir,
        };
        let ports: Vec<u16> = sentinel.sentinels.iter().map(|s| s.port).collect();
        until("every Sentinel sees the others and the replica", || {
            let ports = ports.clone();
            let admin = admin.clone();
            async move {
                for port in ports {
                    let fields: Option<Vec<String>> = try_query_as(
                        port,
                        &admin,
                        redis::cmd("SENTINEL")
                            .arg("MASTER")
                            .arg(RedisSentinel::MASTER),
                    )
                    .await;
                    let Some(fields) = fields else { return false };
                    let field = |name: &str| {
                        fields
                            .iter()
                            .position(|f| f == name)
                            .and_then(|i| fields.get(i + 1))
                            .cloned()
                    };
                    if field("num-other-sentinels").as_deref() != Some("2")
                        || field("num-slaves").as_deref() != Some("1")
                    {
                        return false;
                    }
                }
                true
            }
        })
        .await;
        sentinel
    }

    /// `[store]` lines naming the Sentinels (with their user, for [`SentinelAuth::Acl`]) and
    /// the master, the broker's user on the data nodes, both passwords in files.
    pub fn store(&self) -> String {
        let password = write(self.dir.path(), "redis.password", &self.broker_password);
        let sentinel_password = write(
            self.dir.path(),
            "sentinel.password",
            &self.sentinel_password,
        );
        let urls: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("\"redis://127.0.0.1:{}\"", s.port))
            .collect();
        let sentinel_user = match self.auth {
            SentinelAuth::RequirePass => String::new(),
            SentinelAuth::Acl => format!("sentinel_username = {BROKER_USER:?}\n"),
        };
        format!(
            "sentinel_urls = [{}]\nsentinel_master = {:?}\nusername = {BROKER_USER:?}\n\
             password_file = {:?}\n{sentinel_user}sentinel_password_file = {:?}\n",
            urls.join(", "),
            RedisSentinel::MASTER,
            password.display().to_string(),
            sentinel_password.display().to_string(),
        )
    }

    /// The master's port as every Sentinel names it, once they agree.
    pub async fn master_port_named(&self) -> Option<u16> {
        let admin = sentinel_admin(self.auth, &self.sentinel_password);
        let mut named = None;
        for s in &self.sentinels {
            let addr: Option<(String, String)> = try_query_as(
                s.port,
                &admin,
                redis::cmd("SENTINEL")
                    .arg("GET-MASTER-ADDR-BY-NAME")
                    .arg(RedisSentinel::MASTER),
            )
            .await;
            let port = addr.and_then(|(_, p)| p.parse::<u16>().ok());
            if port.is_none() || (named.is_some() && named != port) {
                return None;
            }
            named = port;
        }
        named
    }

    /// SIGKILLs the master; returns once the Sentinels name the replica as master and it
    /// answers as one.
    pub async fn kill_master_and_wait_failover(&mut self) {
        self.master.kill();
        let replica = self.replica.port;
        let password = self.password.clone();
        until("the Sentinels promoted the replica", || {
            let password = password.clone();
            async move {
                let role: Option<redis::Value> =
                    try_query(replica, Some(&password), &redis::cmd("ROLE")).await;
                matches!(role, Some(redis::Value::Array(items))
                    if matches!(items.first(), Some(redis::Value::BulkString(r)) if r == b"master"))
            }
        })
        .await;
        let deadline = Instant::now() + FORM_BOUND;
        while self.master_port_named().await != Some(replica) {
            assert!(Instant::now() < deadline, "the Sentinels did not agree");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The userinfo this harness reaches the Sentinels with.
fn sentinel_admin(auth: SentinelAuth, password: &str) -> String {
    match auth {
        SentinelAuth::RequirePass => format!(":{password}@"),
        SentinelAuth::Acl => format!("{SENTINEL_PEER}:{password}@"),
    }
}

async fn start_sentinel(
    args: impl Fn(u16) -> Vec<String>,
    admin: &str,
    master_port: u16,
) -> Process {
    for _ in 0..20 {
        let port = free_port();
        let mut process = Process {
            port,
            child: spawn(&args(port)),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline && !process.exited() {
            let addr: Option<(String, String)> = try_query_as(
                port,
                admin,
                redis::cmd("SENTINEL")
                    .arg("GET-MASTER-ADDR-BY-NAME")
                    .arg(RedisSentinel::MASTER),
            )
            .await;
            if addr.is_some_and(|(_, p)| p == master_port.to_string()) {
                return process;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        process.kill();
    }
    panic!("redis-server --sentinel did not start");
}
