//! The shared store: Redis through a self-reconnecting multiplexed connection — to one server
//! (`redis://`, `rediss://`), to a Redis Cluster (the `redis` crate's cluster client: slots
//! discovered, MOVED/ASK and failover followed), or to the master Sentinel names (looked up
//! again after any failure, so a failover is followed without a restart; the Sentinels are
//! asked with their own user and password, and a refusal at start names whose it was: the
//! Sentinels' or the master's). Every command has a
//! deadline, so a stalled Redis turns into an error rather than a hung request. No command
//! names keys of two slots: each entry is one key, and scripts touch only their one key, but
//! for the IAM documents' (`super::documents`), whose keys share the `{iam}` hash tag. Session
//! records are written in pipelines ([`super::batch`]), on a cluster one per node; on one
//! server or a cluster, each serving thread writes over connections of its own ([`Dialer`]).
//! Subscriptions get a dedicated connection each (pub/sub cannot share the multiplexed one);
//! on a cluster, to any node, since `PUBLISH` reaches every node.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use futures_util::StreamExt as _;
use redis::aio::{ConnectionManager, MultiplexedConnection, PubSubSink, PubSubStream};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{Client, Cmd, FromRedisValue, IntoConnectionInfo as _, TlsCertificates, TlsMode};

use super::StoreError;
use super::batch::Writes;
use crate::config::{Credentials, StoreSettings, Topology};
use crate::rate::Limit;

pub(super) const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// Entries read per batch when listing a namespace.
const LIST_BATCH: usize = 1000;
/// Largest published message handed on; larger ones are dropped.
const MAX_MESSAGE_BYTES: usize = 64 * 1024;

#[derive(Clone)]
pub struct RedisStore {
    link: Link,
    /// Where subscriptions connect.
    subscriber: Arc<Subscriber>,
    /// Session records refused as not authentic.
    pub(super) refused_records: Arc<AtomicU64>,
    /// Failures per operation.
    pub(super) errors: Arc<super::errors::Errors>,
    /// Where records are written, in batches ([`super::batch`]).
    writes: Writes,
    /// `/readyz`'s pings, shared ([`super::probe`]).
    pub(super) probe: Arc<super::probe::Probe>,
}

/// The connection commands go through.
#[derive(Clone)]
pub(super) enum Link {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel(Arc<SentinelLink>),
}

/// Where a new subscription connects.
enum Subscriber {
    Single(Box<Client>),
    /// Each node in turn, starting after the one used last.
    Cluster {
        nodes: Vec<Client>,
        next: AtomicUsize,
    },
    Sentinel(Arc<SentinelLink>),
}

/// The master Sentinel names: one multiplexed connection, dropped on any failure so the next
/// command asks the Sentinels again.
pub(super) struct SentinelLink {
    sentinel: tokio::sync::Mutex<SentinelClient>,
    current: ArcSwapOption<MultiplexedConnection>,
}

/// Makes, for the serving thread that asks, a connection of its own to the store, driven by
/// that thread's runtime: a write sent and answered there never wakes another thread
/// ([`super::batch`]). To one server, or to a cluster (a connection to each node); not
/// through Sentinel, whose master is looked up by one shared connection, so that a failover
/// is looked up once.
#[derive(Clone)]
pub(super) enum Dialer {
    Single(Box<Client>),
    Cluster(Box<redis::cluster::ClusterClient>),
}

impl Dialer {
    /// A new link, connected now, within the deadline.
    pub(super) async fn dial(&self) -> Result<Link, StoreError> {
        match self {
            Dialer::Single(client) => Ok(Link::Single(manager(client).await?)),
            Dialer::Cluster(client) => Ok(Link::Cluster(
                deadline(Box::pin(client.get_async_connection())).await??,
            )),
        }
    }
}

/// A self-reconnecting connection to the one server `client` names, made within the deadline.
async fn manager(client: &Client) -> Result<ConnectionManager, StoreError> {
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(COMMAND_TIMEOUT))
        .set_response_timeout(Some(COMMAND_TIMEOUT))
        .set_number_of_retries(1);
    Ok(deadline(client.get_connection_manager_with_config(config)).await??)
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").finish_non_exhaustive()
    }
}

impl RedisStore {
    /// One server at `url` (credentials, if any, in the URL).
    pub async fn open(url: &str) -> Result<RedisStore, StoreError> {
        RedisStore::single(Client::open(url)?).await
    }

    /// The store `settings` describe (not `memory://`).
    pub async fn connect(settings: &StoreSettings) -> Result<RedisStore, StoreError> {
        install_tls_provider();
        match &settings.topology {
            Topology::Memory => Err(StoreError::BadUrl("memory://".to_owned())),
            Topology::Single(url) => RedisStore::single(client(url.as_str(), settings)?).await,
            Topology::Cluster(urls) => RedisStore::cluster(urls, settings).await,
            Topology::Sentinel { urls, master, auth } => {
                RedisStore::sentinel(urls, master, auth, settings).await
            }
        }
    }

    async fn single(client: Client) -> Result<RedisStore, StoreError> {
        let connection = manager(&client).await?;
        Ok(RedisStore::new(
            Link::Single(connection),
            Some(Dialer::Single(Box::new(client.clone()))),
            Subscriber::Single(Box::new(client)),
        ))
    }

    async fn cluster(
        urls: &[crate::config::StoreUrl],
        settings: &StoreSettings,
    ) -> Result<RedisStore, StoreError> {
        let mut builder =
            redis::cluster::ClusterClientBuilder::new(urls.iter().map(|u| u.as_str().to_owned()))
                .connection_timeout(COMMAND_TIMEOUT)
                .response_timeout(COMMAND_TIMEOUT)
                .retries(3)
                .min_retry_wait(10)
                .max_retry_wait(200);
        if let Some(user) = &settings.username {
            builder = builder.username(user);
        }
        if let Some(password) = &settings.password {
            builder = builder.password(password.expose());
        }
        if urls.iter().any(|u| u.as_str().starts_with("rediss://")) {
            builder = builder.tls(TlsMode::Secure);
        }
        if let Some(pem) = &settings.ca_pem {
            builder = builder.certs(certificates(pem));
        }
        let cluster = builder.build()?;
        let connection = deadline(Box::pin(cluster.get_async_connection())).await??;
        let nodes = urls
            .iter()
            .map(|u| client(u.as_str(), settings))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RedisStore::new(
            Link::Cluster(connection),
            Some(Dialer::Cluster(Box::new(cluster))),
            Subscriber::Cluster {
                nodes,
                next: AtomicUsize::new(0),
            },
        ))
    }

    /// The master the Sentinels at `urls` name `master`: the Sentinels asked as `auth`, the
    /// master reached with the settings' user, password and CA.
    async fn sentinel(
        urls: &[crate::config::StoreUrl],
        master: &str,
        auth: &Credentials,
        settings: &StoreSettings,
    ) -> Result<RedisStore, StoreError> {
        let sentinels = urls
            .iter()
            .map(|u| Ok(u.as_str().into_connection_info()?.addr().clone()))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let tls = urls.iter().any(|u| u.as_str().starts_with("rediss://"));
        let mut builder =
            SentinelClientBuilder::new(sentinels, master, SentinelServerType::Master)?;
        if tls {
            builder = builder
                .set_client_to_redis_tls_mode(TlsMode::Secure)
                .set_client_to_sentinel_tls_mode(TlsMode::Secure);
        }
        if let Some(pem) = &settings.ca_pem {
            builder = builder
                .set_client_to_redis_certificates(certificates(pem))
                .set_client_to_sentinel_certificates(certificates(pem));
        }
        if let Some(user) = &settings.username {
            builder = builder.set_client_to_redis_username(user);
        }
        if let Some(password) = &settings.password {
            builder = builder.set_client_to_redis_password(password.expose());
        }
        if let Some(user) = &auth.username {
            builder = builder.set_client_to_sentinel_username(user);
        }
        if let Some(password) = &auth.password {
            builder = builder.set_client_to_sentinel_password(password.expose());
        }
        let link = Arc::new(SentinelLink {
            sentinel: tokio::sync::Mutex::new(builder.build()?),
            current: ArcSwapOption::empty(),
        });
        if let Err(e) = Box::pin(link.connection()).await {
            return Err(Box::pin(whose_refusal(e, urls, auth, settings)).await);
        }
        Ok(RedisStore::new(
            Link::Sentinel(link.clone()),
            None,
            Subscriber::Sentinel(link),
        ))
    }

    fn new(link: Link, dialer: Option<Dialer>, subscriber: Subscriber) -> RedisStore {
        let writes = Writes::start(link.clone(), dialer);
        RedisStore {
            writes,
            link,
            subscriber: Arc::new(subscriber),
            refused_records: Arc::new(AtomicU64::new(0)),
            errors: Arc::default(),
            probe: Arc::default(),
        }
    }

    /// `cmd` on the store, within the deadline.
    pub(super) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        self.link.query(cmd).await
    }

    pub(super) async fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let seconds = ttl.as_secs().max(1);
        self.writes.set(key.to_owned(), value, seconds).await
    }

    /// One script, so no other client runs between the check and the count: below `limit`,
    /// `INCR` (with `EXPIRE` when it starts a window) and the new count; else `0`.
    pub(super) async fn increment_below(
        &self,
        key: &str,
        limit: u64,
        ttl: Duration,
    ) -> Result<Option<u64>, StoreError> {
        const SCRIPT: &str = "local n = tonumber(redis.call('GET', KEYS[1]) or '0') \
            if n >= tonumber(ARGV[1]) then return 0 end \
            n = redis.call('INCR', KEYS[1]) \
            if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end \
            return n";
        let count: u64 = self
            .query(
                redis::cmd("EVAL")
                    .arg(SCRIPT)
                    .arg(1)
                    .arg(key)
                    .arg(limit)
                    .arg(ttl.as_secs().max(1)),
            )
            .await?;
        Ok((count > 0).then_some(count))
    }

    /// A token-bucket check in one script on one key, the arithmetic of [`crate::rate::check`]
    /// on the stored TAT (microseconds, exact in Lua's doubles within the limits `rate`
    /// accepts): `1` when a token is there (taken, with `ARGV[4]` = 1, and the key kept until
    /// the bucket is full again), `0` when not (nothing written).
    pub(super) async fn rate_check(
        &self,
        key: &str,
        limit: &Limit,
        now_us: u64,
        take: bool,
    ) -> Result<bool, StoreError> {
        const SCRIPT: &str = "local now = tonumber(ARGV[1]) \
            local interval = tonumber(ARGV[2]) \
            local tat = tonumber(redis.call('GET', KEYS[1]) or '0') or 0 \
            if tat < now then tat = now end \
            local ahead = tat + interval - now \
            if ahead > interval * tonumber(ARGV[3]) then return 0 end \
            if ARGV[4] == '1' then \
              redis.call('SET', KEYS[1], string.format('%.0f', tat + interval), \
                'PX', math.ceil(ahead / 1000)) \
            end \
            return 1";
        let allowed: i64 = self
            .query(
                redis::cmd("EVAL")
                    .arg(SCRIPT)
                    .arg(1)
                    .arg(key)
                    .arg(now_us)
                    .arg(limit.interval_us())
                    .arg(limit.burst())
                    .arg(u8::from(take)),
            )
            .await?;
        Ok(allowed == 1)
    }

    /// `DECR key` when it exists and is positive, in one script (a key that expired in between
    /// is not re-created without a TTL).
    pub(super) async fn decrement_live(&self, key: &str) -> Result<(), StoreError> {
        const SCRIPT: &str = "local n = tonumber(redis.call('GET', KEYS[1]) or '0') \
            if n > 0 then redis.call('DECR', KEYS[1]) end \
            return 0";
        self.query::<i64>(redis::cmd("EVAL").arg(SCRIPT).arg(1).arg(key))
            .await?;
        Ok(())
    }

    /// `SET key 1 NX EX ttl`: whether the key was new.
    pub(super) async fn insert_new(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let set: Option<String> = self
            .query(
                redis::cmd("SET")
                    .arg(key)
                    .arg(1)
                    .arg("NX")
                    .arg("EX")
                    .arg(ttl.as_secs().max(1)),
            )
            .await?;
        Ok(set.is_some())
    }

    pub(super) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.query(redis::cmd("GET").arg(key)).await
    }

    /// Adds `member` to the sorted-set index `index` until `ttl` from now (Redis's clock), in
    /// one script on that one key: members past their time are dropped, and the index lives
    /// at least as long as its longest-lived member.
    pub(super) async fn index_add(
        &self,
        index: &str,
        member: &str,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        const SCRIPT: &str = "local t = redis.call('TIME') \
            local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) \
            local ttl = tonumber(ARGV[2]) \
            redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) \
            local until_ms = now + ttl \
            local old = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]) or '0') \
            if old < until_ms then redis.call('ZADD', KEYS[1], until_ms, ARGV[1]) end \
            if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end \
            return 0";
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1000);
        self.query::<i64>(
            redis::cmd("EVAL")
                .arg(SCRIPT)
                .arg(1)
                .arg(index)
                .arg(member)
                .arg(ttl_ms),
        )
        .await?;
        Ok(())
    }

    /// Adds to the index `index` every key `prefix`* that is not in it yet, with its remaining
    /// time to live: entries written by builds before the index (which listed with `SCAN`), so
    /// that none is lost on an upgrade. Those builds ran on a single server only, so a cluster
    /// has none; on a single server or behind Sentinel this is one `SCAN` pass. Returns how
    /// many were added.
    pub(super) async fn index_unlisted(
        &self,
        index: &str,
        prefix: &str,
    ) -> Result<usize, StoreError> {
        if matches!(self.link, Link::Cluster(_)) {
            return Ok(0);
        }
        let listed: std::collections::HashSet<String> = self
            .query::<Vec<String>>(redis::cmd("ZRANGE").arg(index).arg(0).arg(-1))
            .await?
            .into_iter()
            .collect();
        let pattern = format!("{}*", glob_escape(prefix));
        let mut cursor: u64 = 0;
        let mut added = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = self
                .query(
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(&pattern)
                        .arg("COUNT")
                        .arg(1000),
                )
                .await?;
            for key in keys {
                let Some(id) = key.strip_prefix(prefix) else {
                    continue;
                };
                if listed.contains(id) {
                    continue;
                }
                let ms: i64 = self.query(redis::cmd("PTTL").arg(&key)).await?;
                // Gone since (-2), or kept without expiry (-1, never written so): skipped.
                let Ok(ms) = u64::try_from(ms) else {
                    continue;
                };
                self.index_add(index, id, Duration::from_millis(ms)).await?;
                added += 1;
            }
            if next == 0 {
                return Ok(added);
            }
            cursor = next;
        }
    }

    /// Values of the keys `prefix` + each member of the index `index`, read one `GET` each (so
    /// on a cluster no command spans two slots; the multiplexed connection pipelines them).
    /// Keys gone since, or expired, are skipped.
    pub(super) async fn indexed(
        &self,
        index: &str,
        prefix: &str,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let members: Vec<String> = self
            .query(redis::cmd("ZRANGE").arg(index).arg(0).arg(-1))
            .await?;
        let mut out = Vec::new();
        for batch in members.chunks(LIST_BATCH) {
            let commands: Vec<Cmd> = batch
                .iter()
                .map(|m| redis::cmd("GET").arg(format!("{prefix}{m}")).clone())
                .collect();
            let values = futures_util::future::join_all(
                commands.iter().map(|c| self.query::<Option<Vec<u8>>>(c)),
            )
            .await;
            for value in values {
                out.extend(value?);
            }
        }
        Ok(out)
    }

    /// Seconds `key` has left: `None` when absent, `u64::MAX` when it never expires.
    pub(super) async fn ttl(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let ttl: i64 = self.query(redis::cmd("TTL").arg(key)).await?;
        Ok(match ttl {
            -1 => Some(u64::MAX),
            t => u64::try_from(t).ok(),
        })
    }

    pub(super) async fn publish(&self, channel: &str, payload: &[u8]) -> Result<(), StoreError> {
        self.query::<()>(redis::cmd("PUBLISH").arg(channel).arg(payload))
            .await
    }

    /// A new connection subscribed to `channel`: to the server, to the master Sentinel names
    /// now, or to the first cluster node that answers (each in turn, starting after the one
    /// used last: a message published on any node reaches subscribers on every node).
    pub(super) async fn subscribe(&self, channel: &str) -> Result<Subscription, StoreError> {
        let pubsub = match &*self.subscriber {
            Subscriber::Single(client) => deadline(client.get_async_pubsub()).await??,
            Subscriber::Sentinel(link) => {
                let client =
                    deadline(async { link.sentinel.lock().await.async_get_client().await })
                        .await??;
                deadline(client.get_async_pubsub()).await??
            }
            Subscriber::Cluster { nodes, next } => {
                let start = next.fetch_add(1, Ordering::Relaxed);
                let mut last = None;
                let mut found = None;
                for i in 0..nodes.len() {
                    let client = &nodes[(start + i) % nodes.len()];
                    match deadline(client.get_async_pubsub()).await {
                        Ok(Ok(p)) => {
                            found = Some(p);
                            break;
                        }
                        Ok(Err(e)) => last = Some(StoreError::from(e)),
                        Err(e) => last = Some(e),
                    }
                }
                match (found, last) {
                    (Some(p), _) => p,
                    (None, Some(e)) => return Err(e),
                    (None, None) => return Err(StoreError::Closed),
                }
            }
        };
        let (mut sink, stream) = pubsub.split();
        deadline(sink.subscribe(channel)).await??;
        Ok(Subscription { sink, stream })
    }

    pub(super) async fn ping(&self) -> Result<(), StoreError> {
        self.query::<String>(&redis::cmd("PING")).await?;
        Ok(())
    }
}

impl Link {
    /// `request` (one command or a pipeline) on the store, within the deadline.
    pub(super) async fn query<T: FromRedisValue>(
        &self,
        request: &impl Request,
    ) -> Result<T, StoreError> {
        match self {
            Link::Single(c) => Ok(deadline(request.send(&mut c.clone())).await??),
            Link::Cluster(c) => {
                // Boxed: the cluster client's futures nest deep.
                let mut c = c.clone();
                Ok(deadline(Box::pin(request.send(&mut c))).await??)
            }
            Link::Sentinel(link) => {
                let (current, mut c) = Box::pin(link.connection()).await?;
                let result = deadline(request.send(&mut c)).await;
                if !matches!(result, Ok(Ok(_))) {
                    link.forget(&current);
                }
                Ok(result??)
            }
        }
    }
}

/// What goes to the store in one exchange: a command or a pipeline.
pub(super) trait Request: Sync {
    fn send<T: FromRedisValue>(
        &self,
        connection: &mut (impl redis::aio::ConnectionLike + Send),
    ) -> impl Future<Output = redis::RedisResult<T>> + Send;
}

impl Request for Cmd {
    fn send<T: FromRedisValue>(
        &self,
        connection: &mut (impl redis::aio::ConnectionLike + Send),
    ) -> impl Future<Output = redis::RedisResult<T>> + Send {
        self.query_async(connection)
    }
}

impl Request for redis::Pipeline {
    fn send<T: FromRedisValue>(
        &self,
        connection: &mut (impl redis::aio::ConnectionLike + Send),
    ) -> impl Future<Output = redis::RedisResult<T>> + Send {
        self.query_async(connection)
    }
}

impl SentinelLink {
    /// The connection to the master, made (after asking the Sentinels) when there is none.
    async fn connection(
        &self,
    ) -> Result<(Arc<MultiplexedConnection>, MultiplexedConnection), StoreError> {
        if let Some(c) = self.current.load_full() {
            let connection = (*c).clone();
            return Ok((c, connection));
        }
        deadline(async {
            let mut sentinel = self.sentinel.lock().await;
            if let Some(c) = self.current.load_full() {
                let connection = (*c).clone();
                return Ok((c, connection));
            }
            let config = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(COMMAND_TIMEOUT))
                .set_response_timeout(Some(COMMAND_TIMEOUT));
            let connection = sentinel.get_async_connection_with_config(&config).await?;
            let shared = Arc::new(connection.clone());
            self.current.store(Some(shared.clone()));
            Ok((shared, connection))
        })
        .await?
    }

    /// Drops `failed` (unless another connection replaced it already): the next command asks
    /// the Sentinels where the master is now.
    fn forget(&self, failed: &Arc<MultiplexedConnection>) {
        self.current.rcu(|current| match current {
            Some(c) if Arc::ptr_eq(c, failed) => None,
            other => other.clone(),
        });
    }
}

/// The first connection through the Sentinels failed with `e`. When that was an
/// authentication refusal (`NOAUTH`, `WRONGPASS`, `NOPERM`, a failed `AUTH`), it says whose: the
/// Sentinels', when none of them accepts its credentials for `ROLE`, else the master's.
async fn whose_refusal(
    e: StoreError,
    urls: &[crate::config::StoreUrl],
    auth: &Credentials,
    settings: &StoreSettings,
) -> StoreError {
    let StoreError::Redis(source) = e else {
        return e;
    };
    if !is_refusal(&source) {
        return StoreError::Redis(source);
    }
    let mut refused = None;
    for url in urls {
        let asked = async {
            let client = client_as(url.as_str(), auth, settings.ca_pem.as_deref())?;
            let mut c = deadline(client.get_multiplexed_async_connection()).await??;
            deadline(redis::cmd("ROLE").query_async::<redis::Value>(&mut c)).await??;
            Ok::<(), StoreError>(())
        };
        match asked.await {
            Ok(()) => {
                refused = None;
                break;
            }
            Err(StoreError::Redis(e)) if is_refusal(&e) => refused = Some(e),
            Err(_) => {}
        }
    }
    match refused {
        Some(source) => StoreError::Refused {
            by: "the Sentinels",
            keys: "sentinel_username, sentinel_password_env or sentinel_password_file",
            source,
        },
        None => StoreError::Refused {
            by: "the master the Sentinels name",
            keys: "username, password_env or password_file",
            source,
        },
    }
}

/// Whether Redis refused who the connection is (or what that user may do).
fn is_refusal(e: &redis::RedisError) -> bool {
    e.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("NOAUTH" | "WRONGPASS" | "NOPERM"))
}

/// A client for one server at `url` with the settings' user, password and CA.
fn client(url: &str, settings: &StoreSettings) -> Result<Client, StoreError> {
    let auth = Credentials {
        username: settings.username.clone(),
        password: settings.password.clone(),
    };
    client_as(url, &auth, settings.ca_pem.as_deref())
}

/// A client for one server at `url` as `auth`, trusting `ca_pem` (else the system's roots).
fn client_as(url: &str, auth: &Credentials, ca_pem: Option<&[u8]>) -> Result<Client, StoreError> {
    let info = url.into_connection_info()?;
    let mut redis = info.redis_settings().clone();
    if let Some(user) = &auth.username {
        redis = redis.set_username(user);
    }
    if let Some(password) = &auth.password {
        redis = redis.set_password(password.expose());
    }
    let info = info.set_redis_settings(redis);
    Ok(match ca_pem {
        Some(pem) => Client::build_with_tls(info, certificates(pem))?,
        None => Client::open(info)?,
    })
}

fn certificates(pem: &[u8]) -> TlsCertificates {
    TlsCertificates {
        client_tls: None,
        root_cert: Some(pem.to_vec()),
    }
}

/// TLS connections need a process-wide rustls provider; the first one installed stays.
fn install_tls_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// What a subscription saw.
#[derive(Debug)]
pub enum Received {
    /// A published message (at most 64 KiB; larger ones are dropped).
    Message(Vec<u8>),
    /// Nothing arrived, and the connection answered a ping.
    Alive,
}

/// A dedicated pub/sub connection. It ends on the first error: make a new one.
pub struct Subscription {
    sink: PubSubSink,
    stream: PubSubStream,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

impl Subscription {
    /// The next message, or, when none arrives within `quiet`, a ping proving the connection
    /// still works. An error means the connection is gone.
    pub async fn next_or_ping(&mut self, quiet: Duration) -> Result<Received, StoreError> {
        loop {
            tokio::select! {
                message = self.stream.next() => {
                    let Some(message) = message else {
                        return Err(StoreError::Closed);
                    };
                    let payload = message.get_payload_bytes();
                    if payload.len() <= MAX_MESSAGE_BYTES {
                        return Ok(Received::Message(payload.to_vec()));
                    }
                    tracing::warn!(bytes = payload.len(), "oversized event dropped");
                }
                () = tokio::time::sleep(quiet) => {
                    // On a subscribed RESP2 connection Redis answers a ping with the array
                    // `["pong", ""]`, not the `PONG` status of an ordinary connection: any
                    // reply that is not an error proves the connection works.
                    deadline(self.sink.ping::<redis::Value>()).await??;
                    return Ok(Received::Alive);
                }
            }
        }
    }
}

/// `text` with Redis glob characters escaped, for a `MATCH` pattern.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub(super) async fn deadline<T>(f: impl Future<Output = T>) -> Result<T, StoreError> {
    tokio::time::timeout(COMMAND_TIMEOUT, f)
        .await
        .map_err(|_| StoreError::Timeout(COMMAND_TIMEOUT))
}

#[cfg(test)]
mod tests {
    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(super::glob_escape("a:b:"), "a:b:");
        assert_eq!(super::glob_escape("a*?[]\\"), "a\\*\\?\\[\\]\\\\");
    }
}
