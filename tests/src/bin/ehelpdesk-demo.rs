//! `make demo`: walks the flow of domain.md against a running system and prints each step.
//! COMMAND_URL (default http://127.0.0.1:8080) and QUERY_URL (default http://127.0.0.1:8081).

#[tokio::main]
async fn main() {
    let command = std::env::var("COMMAND_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let query = std::env::var("QUERY_URL").unwrap_or_else(|_| "http://127.0.0.1:8081".into());
    match ehelpdesk_tests::demo::Demo::new(&command, &query).run().await {
        Ok(_) => println!("demo: selesai / done"),
        Err(e) => {
            eprintln!("demo failed at {e}");
            std::process::exit(1);
        }
    }
}
