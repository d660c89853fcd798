//! A JetStream cluster of the test's own: nats-server processes on free 127.0.0.1 ports
//! with storage in a temporary directory, killed and removed on drop. Never the shared
//! server on 4222. A "cluster" of one is a single server (no cluster block), for the fault
//! tests that kill and restart the only server.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::process::free_port;

/// The nats-server binary: `NATS_SERVER_BIN`, else Debian's, else whatever is on PATH.
fn nats_server() -> PathBuf {
    if let Ok(path) = std::env::var("NATS_SERVER_BIN") {
        return path.into();
    }
    let debian = PathBuf::from("/usr/sbin/nats-server");
    if debian.exists() { debian } else { "nats-server".into() }
}

pub struct NatsCluster {
    nodes: Vec<Child>,
    ports: Vec<u16>,
    dir: PathBuf,
}

impl NatsCluster {
    /// Starts `size` nodes routed to each other and waits until JetStream can place a
    /// stream with `size` replicas (a meta leader is elected and every node joined).
    pub async fn start(size: usize) -> Self {
        let dir = std::env::temp_dir().join(format!("ehelpdesk-nats-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let ports: Vec<u16> = (0..size).map(|_| free_port()).collect();
        let routes: Vec<u16> = (0..size).map(|_| free_port()).collect();
        let route_list: Vec<String> = routes.iter().map(|p| format!("nats://127.0.0.1:{p}")).collect();
        let mut nodes = vec![];
        for i in 0..size {
            let mut config = format!(
                "server_name: n{i}\nlisten: 127.0.0.1:{}\njetstream {{ store_dir: \"{}\" }}\n",
                ports[i],
                dir.join(format!("n{i}")).display(),
            );
            if size > 1 {
                config.push_str(&format!(
                    "cluster {{ name: ehelpdesk_test, listen: 127.0.0.1:{}, routes: [{}] }}\n",
                    routes[i],
                    route_list.join(", "),
                ));
            }
            std::fs::write(dir.join(format!("n{i}.conf")), config).expect("config written");
            nodes.push(spawn_node(&dir, i));
        }
        let cluster = Self { nodes, ports, dir };
        cluster.wait_for_quorum(size).await;
        cluster
    }

    /// The client URL of node `i`.
    pub fn url(&self, i: usize) -> String {
        format!("nats://127.0.0.1:{}", self.ports[i])
    }

    /// Every node's client URL, comma-separated, the way `NATS_URL` takes them.
    pub fn urls(&self) -> String {
        (0..self.ports.len()).map(|i| self.url(i)).collect::<Vec<_>>().join(",")
    }

    /// Kills node `i` (SIGKILL: a crash, not a shutdown) and waits until it is gone.
    pub fn kill(&mut self, i: usize) {
        let _ = self.nodes[i].kill();
        let _ = self.nodes[i].wait();
    }

    /// Starts node `i` again (after [`Self::kill`]) on its port, config and storage.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.nodes[i] = spawn_node(&self.dir, i);
    }

    /// The index of the node leading `stream`'s replicas, as the cluster reports it through
    /// any live node. `None` while no leader is elected (or no node answers).
    pub async fn leader_of(&self, stream: &str) -> Option<usize> {
        for i in 0..self.ports.len() {
            let Ok(client) =
                async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(1)).connect(self.url(i)).await
            else {
                continue;
            };
            let js = async_nats::jetstream::new(client);
            let Ok(mut handle) = js.get_stream(stream).await else { continue };
            let Ok(info) = handle.info().await else { continue };
            let leader = info.cluster.as_ref().and_then(|c| c.leader.clone());
            if let Some(index) = leader.and_then(|name| name.strip_prefix('n')?.parse().ok()) {
                return Some(index);
            }
        }
        None
    }

    async fn wait_for_quorum(&self, size: usize) {
        for _ in 0..150 {
            if let Ok(client) = async_nats::connect(self.url(0)).await {
                let js = async_nats::jetstream::new(client);
                let probe = async_nats::jetstream::stream::Config {
                    name: "QUORUM_PROBE".into(),
                    subjects: vec!["quorum.probe".into()],
                    num_replicas: size,
                    ..Default::default()
                };
                if js.create_stream(probe).await.is_ok() {
                    let _ = js.delete_stream("QUORUM_PROBE").await;
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("the test's NATS cluster never formed");
    }
}

/// Runs node `i` of the cluster in `dir` (its config written by [`NatsCluster::start`]).
fn spawn_node(dir: &std::path::Path, i: usize) -> Child {
    Command::new(nats_server())
        .arg("-c")
        .arg(dir.join(format!("n{i}.conf")))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server starts")
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.kill();
            let _ = node.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
