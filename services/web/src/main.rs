use std::process::ExitCode;

use ehelpdesk_web::configuration::Settings;
use ehelpdesk_web::startup::Application;

#[tokio::main]
async fn main() -> ExitCode {
    let telemetry = ehelpdesk_shared::telemetry::init("ehelpdesk-web");
    let outcome = run().await;
    telemetry.shutdown();
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Display, not Debug: an operator reads which variable is wrong and why.
            eprintln!("ehelpdesk-web: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let settings = Settings::from_env(&ehelpdesk_shared::config::from_env())?;
    let app = Application::build(settings).await?;
    app.run_until(ehelpdesk_shared::shutdown::signal()).await?;
    Ok(())
}
