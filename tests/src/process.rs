//! The service binaries as real processes on free ports, for tests that need processes
//! (two instances racing, signals, exporters started from the environment).
//!
//! Needs the binaries built first (`cargo build --bins`; `make test` does it).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target dir");
    let path = dir.join(name);
    assert!(path.exists(), "{} is missing: run `cargo build --bins` (make test does) before this test", path.display());
    path
}

/// A port nothing listens on, for a child process to bind a moment later.
///
/// Not a port the kernel picks (`bind(0)`): those come from the ephemeral range
/// (`ip_local_port_range`, 32768-60999), which every outgoing connection of the tests
/// also draws from, so between our check and the child's bind a client socket could take
/// it ("Address already in use", seen in CI). Ports below that range are never handed
/// out implicitly; each test process walks its own stretch of them, starting at an
/// offset from its pid, and skips any that something already holds.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000; // 20000-31999, below the ephemeral range
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let start = std::process::id().wrapping_mul(7_919) % COUNT;
    let _ = NEXT.compare_exchange(u32::MAX, start, Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..COUNT {
        let port = (FIRST + NEXT.fetch_add(1, Ordering::SeqCst) % COUNT) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {FIRST}-{}", FIRST + COUNT - 1)
}

/// A child process killed on drop, whatever happened.
pub struct Service {
    child: Child,
    pub url: String,
    pub addr: std::net::SocketAddr,
    /// The admin address (`/metrics`).
    pub admin: std::net::SocketAddr,
}

/// The admin address's variable beside a service's address variable:
/// `COMMAND_ADDR` -> `COMMAND_ADMIN_ADDR`.
pub fn admin_var(addr_var: &str) -> String {
    format!("{}_ADMIN_ADDR", addr_var.trim_end_matches("_ADDR"))
}

impl Service {
    pub fn start(name: &str, env: &[(&str, String)], addr_var: &str) -> Self {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
        let admin = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut command = Command::new(binary(name));
        // `RUST_LOG` is `warn` unless `env` says otherwise.
        command
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env(addr_var, addr.to_string())
            .env(admin_var(addr_var), admin.to_string());
        command.stdout(Stdio::null()).stderr(Stdio::inherit());
        let child = command.spawn().expect("service starts");
        Self { child, url: format!("http://{addr}"), addr, admin }
    }

    pub async fn wait_ready(&mut self) {
        self.wait_ready_within(Duration::from_secs(20)).await
    }

    /// [`Self::wait_ready`] with a deadline of the caller's (a cluster electing leaders).
    pub async fn wait_ready_within(&mut self, within: Duration) {
        // A hung service must not hang the wait.
        let http = reqwest::Client::builder().timeout(Duration::from_secs(3)).build().expect("HTTP client");
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(r) = http.get(format!("{}/readyz", self.url)).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited early: {status}", self.url);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{} never became ready", self.url);
    }

    /// SIGTERM, then the exit status (a graceful shutdown exits 0).
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
        for _ in 0..100 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("service did not stop on SIGTERM");
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
