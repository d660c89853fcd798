//! A PostgreSQL cluster of the test's own, for fault tests that stop it hard: `initdb` into
//! a temporary directory, `pg_ctl start` on a free 127.0.0.1 port with trust authentication,
//! stopped (`-m immediate`) and removed on drop. Never the shared server on 5432.
//!
//! initdb and postgres refuse to run as root; as root the cluster belongs to the Debian
//! package's `postgres` user and its programs run through `runuser`, as scripts/services.sh
//! does.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::process::free_port;

/// The directory of `initdb` and `pg_ctl`: `PG_BIN_DIR`, else the newest
/// `/usr/lib/postgresql/<major>/bin` that has both, else the ones on PATH.
fn bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("PG_BIN_DIR") {
        return Some(dir.into());
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            (bin.join("initdb").exists() && bin.join("pg_ctl").exists()).then_some((major, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn program(name: &str) -> PathBuf {
    bin_dir().map(|dir| dir.join(name)).unwrap_or_else(|| name.into())
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

pub struct PostgresServer {
    dir: PathBuf,
    port: u16,
    /// `Some("postgres")` when we are root.
    run_as: Option<&'static str>,
}

impl PostgresServer {
    /// Creates and starts a cluster with the database `ehelpdesk`.
    pub async fn start() -> Self {
        let dir =
            std::env::temp_dir().join(format!("ehelpdesk-pg-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let run_as = running_as_root().then_some("postgres");
        if let Some(user) = run_as {
            let owner = format!("{user}:{user}");
            let chown = Command::new("chown").arg(&owner).arg(&dir).status().expect("chown runs");
            assert!(chown.success(), "chown {owner} {}", dir.display());
        }
        // The guard exists from here on: a failure below still removes the directory.
        let server = Self { dir, port: free_port(), run_as };
        let data = server.data();
        let initdb = server.run(
            &program("initdb"),
            &["-D", &data, "--auth=trust", "-U", "postgres", "-E", "UTF8", "--no-locale", "--no-sync"],
        );
        assert!(initdb, "initdb failed in {} (PostgreSQL installed? `ls /usr/lib/postgresql`)", server.dir.display());
        server.start_again().await;
        let admin = sqlx::PgPool::connect(&server.url_of("postgres")).await.expect("private PostgreSQL reachable");
        sqlx::query("CREATE DATABASE ehelpdesk").execute(&admin).await.expect("create database");
        admin.close().await;
        server
    }

    /// `postgres://postgres@127.0.0.1:<port>/ehelpdesk`.
    pub fn url(&self) -> String {
        self.url_of("ehelpdesk")
    }

    fn url_of(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// Runs a PostgreSQL program as the cluster's owner, output discarded (pg_ctl start
    /// leaves a server behind, which must not hold our pipes); true when it succeeded.
    fn run(&self, program: &Path, args: &[&str]) -> bool {
        let mut command = match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        };
        command.args(args).current_dir("/").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        command.status().is_ok_and(|s| s.success())
    }

    /// Starts the server (again, after [`Self::stop_immediate`]) and waits until it answers.
    pub async fn start_again(&self) {
        let log = self.dir.join("postgres.log").display().to_string();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories='{}'",
            self.port,
            self.dir.display()
        );
        let started =
            self.run(&program("pg_ctl"), &["-D", &self.data(), "-l", &log, "-w", "-t", "60", "-o", &options, "start"]);
        assert!(started, "pg_ctl start failed (log: {log})");
        for _ in 0..200 {
            if let Ok(pool) = sqlx::PgPool::connect(&self.url_of("postgres")).await {
                pool.close().await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the private PostgreSQL never answered (log: {log})");
    }

    /// `pg_ctl stop -m immediate`: every server process quits at once, no checkpoint; the
    /// next start recovers from the WAL, as after a crash.
    pub fn stop_immediate(&self) {
        let stopped = self.run(&program("pg_ctl"), &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
        assert!(stopped, "pg_ctl stop -m immediate failed");
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        // Whether it runs or not (a failed test may have left it stopped).
        let _ = self.run(&program("pg_ctl"), &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
