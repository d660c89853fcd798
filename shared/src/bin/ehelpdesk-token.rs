//! Mints development tokens: `ehelpdesk-token <staff-id> <role>[,<role>...] [name] [--ttl-minutes N]`.
//! Signs HS256 with JWT_HS256_SECRET (or the development secret) for JWT_ISSUER and
//! JWT_AUDIENCE, as the services check them. The treasury portal issues the real tokens.

use std::time::Duration;

use ehelpdesk_shared::actor::Role;
use ehelpdesk_shared::auth::{AuthConfig, claims_for, mint_hs256};
use ehelpdesk_shared::validation::StaffId;

const USAGE: &str = "usage: ehelpdesk-token <staff-id> <role>[,<role>...] [name] [--ttl-minutes N]
  roles: complainant, admin, pic, implementor, auditor
  example: ehelpdesk-token pic-aminah pic \"Aminah binti Yusof\"";

fn main() {
    if let Err(e) = run() {
        eprintln!("ehelpdesk-token: {e}\n{USAGE}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut ttl_minutes = 480u64;
    if let Some(at) = args.iter().position(|a| a == "--ttl-minutes") {
        let value = args.get(at + 1).ok_or("--ttl-minutes needs a number")?;
        ttl_minutes = value.parse().map_err(|_| format!("--ttl-minutes: `{value}` is not a number"))?;
        args.drain(at..at + 2);
    }
    if args.iter().any(|a| a == "-h" || a == "--help") || args.len() < 2 {
        return Err("missing arguments".into());
    }
    let id = StaffId::parse("staff-id", &args[0]).map_err(|e| e.to_string())?;
    let roles = args[1]
        .split(',')
        .map(|r| r.trim().parse::<Role>().map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let name = args.get(2).cloned().unwrap_or_else(|| id.to_string());
    let config = AuthConfig::from_env(&ehelpdesk_shared::config::from_env()).map_err(|e| e.to_string())?;
    let secret = config.effective_secret().ok_or("no HS256 secret configured (JWT_HS256_SECRET)")?;
    let claims = claims_for(&config, id.as_str(), &name, &roles, Duration::from_secs(ttl_minutes * 60));
    println!("{}", mint_hs256(secret, &claims)?);
    Ok(())
}
