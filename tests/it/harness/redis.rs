//! A private `redis-server` per test: free loopback port, no persistence, killed on drop.
//!
//! Redis cannot pick its own port, so the port comes from a listener bound and dropped first,
//! and another process may take it in between. Each server therefore gets a random password:
//! it is used only once it answered `PING` with that password (a server that is not ours
//! refuses it), and a server that could not bind exits and is started again on another port.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct RedisServer {
    pub port: u16,
    /// `user:password` (user empty: the default user) in URLs.
    userinfo: String,
    child: Child,
}

impl RedisServer {
    pub async fn start() -> RedisServer {
        RedisServer::start_as(None).await
    }

    /// A server whose users come from `acl_file`, used as `user` with `password`.
    pub async fn start_with_acl(
        acl_file: &std::path::Path,
        user: &str,
        password: &str,
    ) -> RedisServer {
        RedisServer::start_as(Some((acl_file, user, password))).await
    }

    async fn start_as(acl: Option<(&std::path::Path, &str, &str)>) -> RedisServer {
        for _ in 0..20 {
            let password = uuid::Uuid::new_v4().simple().to_string();
            let (auth, userinfo) = match acl {
                Some((file, user, password)) => (
                    ["--aclfile".to_owned(), file.display().to_string()],
                    format!("{user}:{password}"),
                ),
                None => (
                    ["--requirepass".to_owned(), password.clone()],
                    format!(":{password}"),
                ),
            };
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let child = Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--protected-mode",
                    "yes",
                    &auth[0],
                    &auth[1],
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server must be installed (apt-get install redis-server)");
            let mut server = RedisServer {
                port,
                userinfo,
                child,
            };
            if server.wait_ready().await {
                return server;
            }
            let _ = server.child.kill();
        }
        panic!("redis-server did not start");
    }

    async fn wait_ready(&mut self) -> bool {
        // Only bounds a server that is not ours and never accepts the password (then another
        // port is tried); ours answers as soon as it runs.
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(client) = ::redis::Client::open(self.url())
                && let Ok(mut c) = client.get_multiplexed_async_connection().await
                && ::redis::cmd("PING")
                    .query_async::<String>(&mut c)
                    .await
                    .is_ok()
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    pub fn url(&self) -> String {
        format!("redis://{}@127.0.0.1:{}/0", self.userinfo, self.port)
    }

    /// Every key in the database except the registry of configured roles and users (and its
    /// index), which each broker writes at start, and the access keys' last uses, which a
    /// broker writes up to a second after a request signed with a long-term key (see
    /// [`RedisServer::all_keys`]).
    pub async fn keys(&self) -> Vec<String> {
        let mut keys = self.all_keys().await;
        keys.retain(|k| {
            !k.starts_with("sts-broker:principals:")
                && k != "sts-broker:index:principals"
                && k != sts_broker::store::KEY_LAST_USED
        });
        keys
    }

    /// A new connection as the test's user.
    async fn connection(&self) -> ::redis::aio::MultiplexedConnection {
        let client = ::redis::Client::open(self.url()).unwrap();
        client.get_multiplexed_async_connection().await.unwrap()
    }

    /// Every key in the database, sorted (`KEYS` answers in hash-table order, which changes
    /// as the table grows).
    pub async fn all_keys(&self) -> Vec<String> {
        let mut c = self.connection().await;
        let mut keys = ::redis::cmd("KEYS")
            .arg("*")
            .query_async::<Vec<String>>(&mut c)
            .await
            .unwrap();
        keys.sort_unstable();
        keys
    }

    /// Seconds to live of a key (-2 absent, -1 no expiry).
    pub async fn ttl(&self, key: &str) -> i64 {
        let mut c = self.connection().await;
        ::redis::cmd("TTL")
            .arg(key)
            .query_async::<i64>(&mut c)
            .await
            .unwrap()
    }

    /// How many times Redis has answered `command` (lower case) so far (`INFO commandstats`).
    pub async fn command_calls(&self, command: &str) -> u64 {
        let mut c = self.connection().await;
        let info: String = ::redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut c)
            .await
            .unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
            .and_then(|rest| rest.split(',').next())
            .map_or(0, |n| n.parse().unwrap())
    }

    /// Connections open to the server, not counting the one that asks.
    pub async fn clients(&self) -> usize {
        let mut c = self.connection().await;
        let list: String = ::redis::cmd("CLIENT")
            .arg("LIST")
            .query_async(&mut c)
            .await
            .unwrap();
        list.lines().count() - 1
    }

    /// Closes the connection opened last (besides the one that asks), first setting
    /// `maxclients` to the connections left, so that no new one is accepted.
    pub async fn cut_newest_client_and_refuse_more(&self) {
        let mut c = self.connection().await;
        let me: i64 = ::redis::cmd("CLIENT")
            .arg("ID")
            .query_async(&mut c)
            .await
            .unwrap();
        let list: String = ::redis::cmd("CLIENT")
            .arg("LIST")
            .query_async(&mut c)
            .await
            .unwrap();
        let ids: Vec<i64> = list
            .lines()
            .filter_map(|l| l.strip_prefix("id=")?.split(' ').next()?.parse().ok())
            .filter(|&id| id != me)
            .collect();
        let newest = *ids.iter().max().unwrap();
        ::redis::cmd("CONFIG")
            .arg("SET")
            .arg("maxclients")
            .arg(ids.len() - 1)
            .query_async::<()>(&mut c)
            .await
            .unwrap();
        ::redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(newest)
            .query_async::<i64>(&mut c)
            .await
            .unwrap();
    }

    /// `CONFIG SET name value`.
    pub async fn config_set(&self, name: &str, value: &str) {
        let mut c = self.connection().await;
        ::redis::cmd("CONFIG")
            .arg("SET")
            .arg(name)
            .arg(value)
            .query_async::<()>(&mut c)
            .await
            .unwrap();
    }

    /// Raw value of a key.
    pub async fn get(&self, key: &str) -> Option<String> {
        let mut c = self.connection().await;
        ::redis::cmd("GET")
            .arg(key)
            .query_async::<Option<String>>(&mut c)
            .await
            .unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
