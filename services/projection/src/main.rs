use ehelpdesk_projection::configuration::Settings;
use ehelpdesk_projection::startup::Application;

const USAGE: &str = "usage: ehelpdesk-projection [serve | rebuild | verify]
  serve    project the event stream into PostgreSQL and serve the query API (default)
  rebuild  build every read model afresh from stream sequence 1 and swap it in
  verify   replay the log and compare every complaint with its read-model row and timeline;
           exits 1 on any difference, a duplicate number, or a projection stalled or more
           than VERIFY_MAX_BEHIND events behind";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let command = std::env::args().nth(1).unwrap_or_else(|| "serve".into());
    let telemetry = ehelpdesk_shared::telemetry::init("ehelpdesk-projection");
    let settings = Settings::from_env(&ehelpdesk_shared::config::from_env())?;
    match command.as_str() {
        "serve" => {
            let app = Application::build(settings).await?;
            app.run_until(ehelpdesk_shared::shutdown::signal()).await?;
        }
        "rebuild" => {
            let report = ehelpdesk_projection::rebuild::rebuild(&settings, |p| eprintln!("rebuild: {p}")).await?;
            println!(
                "rebuilt {} events in {:.1} s ({:.0} events/s); read models swapped in, the live projection paused \
                 {} ms for it",
                report.events,
                report.elapsed.as_secs_f64(),
                report.events_per_second(),
                report.live_paused.as_millis()
            );
        }
        "verify" => {
            let pool = ehelpdesk_projection::db::connect(&settings.database_url, &settings.schema, 2).await?;
            let client = async_nats::connect(&settings.event_log.nats_url).await?;
            let jetstream = async_nats::jetstream::new(client);
            let limits = ehelpdesk_projection::verify::Limits::of(&settings);
            let report = ehelpdesk_projection::verify::verify(&pool, &jetstream, &settings.event_log, limits).await?;
            println!(
                "verified {} complaints against {} events (checkpoint {}, stream head {}, {} behind): {} differences",
                report.complaints,
                report.events,
                report.checkpoint,
                report.stream_head,
                report.behind,
                report.differences.len()
            );
            for d in &report.differences {
                println!("  {}: {}", d.complaint_id, d.what);
            }
            for problem in &report.projection_problems {
                println!("  projection {problem}");
            }
            if !report.is_clean() {
                std::process::exit(1);
            }
        }
        "-h" | "--help" | "help" => println!("{USAGE}"),
        other => {
            eprintln!("unknown command `{other}`\n{USAGE}");
            std::process::exit(2);
        }
    }
    telemetry.shutdown();
    Ok(())
}
