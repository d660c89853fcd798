//! Projection service: not built yet (issue 3). It will consume the HELPDESK stream into
//! PostgreSQL read models and serve the query API on 127.0.0.1:8081.

fn main() {
    eprintln!("ehelpdesk-projection: the read side is not built yet (see issue 3)");
    std::process::exit(2);
}
