use ehelpdesk_notifier::configuration::Settings;
use ehelpdesk_notifier::startup::Application;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = ehelpdesk_shared::telemetry::init("ehelpdesk-notifier");
    let settings = Settings::from_env(&ehelpdesk_shared::config::from_env())?;
    let app = Application::build(settings, ehelpdesk_notifier::clock::system()).await?;
    app.run_until(ehelpdesk_shared::shutdown::signal()).await?;
    telemetry.shutdown();
    Ok(())
}
