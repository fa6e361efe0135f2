//! A `redis-server` that survives its own death: every write is in its append-only file before
//! it is acknowledged (`appendfsync always`), so a server killed with SIGKILL and started again
//! on the same port and folder holds every key it ever acknowledged. For fault tests: kill it,
//! freeze it (SIGSTOP), thaw it, start it again.
//!
//! No password (loopback only, protected mode): the server proves it is ours by its working
//! folder (`CONFIG GET dir`), which is this test's own temporary folder.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct DurableRedis {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl DurableRedis {
    pub async fn start() -> DurableRedis {
        let mut dir = tempfile::tempdir().unwrap();
        for _ in 0..20 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut server = DurableRedis {
                port,
                dir,
                child: None,
            };
            if server.spawn().await {
                return server;
            }
            dir = server.take_dir();
        }
        panic!("redis-server did not start");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open and nothing answers.
    pub fn freeze(&self) {
        self.signal("STOP");
    }

    /// Lets a frozen server run again (SIGCONT).
    pub fn thaw(&self) {
        self.signal("CONT");
    }

    /// Starts the killed server again on its port and folder; returns once it answers.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "kill it first");
        // The port was ours until the kill; only another process taking it in between makes
        // this fail, and then the test cannot go on.
        for _ in 0..50 {
            if self.spawn().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("redis-server did not start again on port {}", self.port);
    }

    /// Every key in the database.
    pub async fn keys(&self) -> Vec<String> {
        let client = ::redis::Client::open(self.url()).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        ::redis::cmd("KEYS")
            .arg("*")
            .query_async::<Vec<String>>(&mut c)
            .await
            .unwrap()
    }

    fn signal(&self, name: &str) {
        let child = self.child.as_ref().expect("running");
        let status = Command::new("kill")
            .args([&format!("-{name}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name}");
    }

    fn take_dir(self) -> tempfile::TempDir {
        let mut me = self;
        me.kill();
        let placeholder = tempfile::tempdir().unwrap();
        std::mem::replace(&mut me.dir, placeholder)
    }

    fn folder(&self) -> PathBuf {
        self.dir.path().canonicalize().unwrap()
    }

    /// Starts `redis-server` on the port and folder; whether it runs and is ours.
    async fn spawn(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--dir",
                self.folder().to_str().unwrap(),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--protected-mode",
                "yes",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        self.child = Some(child);
        // Bounds only a server that never becomes ready; ours answers as soon as its file is
        // read back.
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return false;
            }
            if let Ok(client) = ::redis::Client::open(self.url())
                && let Ok(mut c) = client.get_multiplexed_async_connection().await
                && let Ok((_, dir)) = ::redis::cmd("CONFIG")
                    .arg("GET")
                    .arg("dir")
                    .query_async::<(String, String)>(&mut c)
                    .await
            {
                if std::path::Path::new(&dir) == self.folder() {
                    return true;
                }
                // Another process's server on this port.
                self.kill();
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.kill();
        false
    }
}

impl Drop for DurableRedis {
    fn drop(&mut self) {
        // SIGKILL ends a frozen process too.
        self.kill();
    }
}
