//! Mints development tokens: `ehelpdesk-token <staff-id> <role>[,<role>...] [name] [--ttl-minutes N]
//! [--ic N] [--email E] [--phone P] [--ptj D]` (the profile a complainant files under).
//! Signs HS256 with JWT_HS256_SECRET (or the development secret) for JWT_ISSUER and
//! JWT_AUDIENCE, as the services check them. The treasury portal issues the real tokens.

use std::time::Duration;

use ehelpdesk_shared::actor::Role;
use ehelpdesk_shared::auth::{AuthConfig, Profile, claims_for, mint_hs256};
use ehelpdesk_shared::validation::StaffId;

const USAGE: &str = "usage: ehelpdesk-token <staff-id> <role>[,<role>...] [name] [--ttl-minutes N]
                       [--ic N] [--email E] [--phone P] [--ptj D]
  roles: complainant, admin, pic, implementor, auditor
  the profile options are what the portal knows of the person: a complainant's complaint is
  filed under them (ic_number, email, phone_number, ptj claims)
  example: ehelpdesk-token pic-aminah pic \"Aminah binti Yusof\"";

fn main() {
    if let Err(e) = run() {
        eprintln!("ehelpdesk-token: {e}\n{USAGE}");
        std::process::exit(2);
    }
}

/// Removes `--name value` from `args`, giving the value.
fn take_option(args: &mut Vec<String>, name: &str) -> Result<Option<String>, String> {
    let Some(at) = args.iter().position(|a| a == name) else { return Ok(None) };
    let value = args.get(at + 1).cloned().ok_or_else(|| format!("{name} needs a value"))?;
    args.drain(at..at + 2);
    Ok(Some(value))
}

fn run() -> Result<(), String> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let ttl_minutes = match take_option(&mut args, "--ttl-minutes")? {
        Some(value) => value.parse().map_err(|_| format!("--ttl-minutes: `{value}` is not a number"))?,
        None => 480u64,
    };
    let profile = Profile {
        ic_number: take_option(&mut args, "--ic")?,
        email: take_option(&mut args, "--email")?,
        phone_number: take_option(&mut args, "--phone")?,
        ptj: take_option(&mut args, "--ptj")?,
    };
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
    let mut claims = claims_for(&config, id.as_str(), &name, &roles, Duration::from_secs(ttl_minutes * 60));
    claims.profile = profile;
    println!("{}", mint_hs256(secret, &claims)?);
    Ok(())
}
