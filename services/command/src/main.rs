use ehelpdesk_command::configuration::Settings;
use ehelpdesk_command::startup::Application;

const USAGE: &str = "usage: ehelpdesk-command [serve | repair-numbers]
  serve           take commands and append their events to the log (default)
  repair-numbers  claim every complaint number in the log and raise each year's counter to
                  the highest one (after the counter was found deleted, garbled or behind)";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let command = std::env::args().nth(1).unwrap_or_else(|| "serve".into());
    let telemetry = ehelpdesk_shared::telemetry::init("ehelpdesk-command");
    let settings = Settings::from_env(&ehelpdesk_shared::config::from_env())?;
    match command.as_str() {
        "serve" => {
            let app = Application::build(settings).await?;
            app.run_until(ehelpdesk_shared::shutdown::signal()).await?;
        }
        "repair-numbers" => repair_numbers(&settings).await?,
        "-h" | "--help" | "help" => println!("{USAGE}"),
        other => {
            eprintln!("unknown command `{other}`\n{USAGE}");
            std::process::exit(2);
        }
    }
    telemetry.shutdown();
    Ok(())
}

async fn repair_numbers(settings: &Settings) -> Result<(), Box<dyn std::error::Error>> {
    let client = async_nats::connect(&settings.event_log.nats_url).await?;
    let jetstream = async_nats::jetstream::new(client);
    let report = ehelpdesk_command::numbers::repair::repair(&jetstream, &settings.event_log).await?;
    println!("claimed {} numbers the log had without a claim", report.backfilled);
    for (year, counter) in &report.counters {
        println!("counter year-{year}: {counter}");
    }
    for (number, complaints) in &report.duplicates {
        let ids: Vec<String> = complaints.iter().map(ToString::to_string).collect();
        println!("DUPLICATE {number} (written before claims existed): {}", ids.join(", "));
    }
    Ok(())
}
