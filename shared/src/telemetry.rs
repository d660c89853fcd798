//! Logging set-up, and masking of identity numbers in anything that may reach a log.

use tracing_subscriber::EnvFilter;

/// Pretty logs for people by default; `LOG_FORMAT=json` for log shippers.
/// `RUST_LOG` filters as usual (default `info`).
pub fn init(service: &'static str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f == "json");
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    // `try_init` fails only when a subscriber is already set (tests): keep that one.
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
    tracing::info!(service, version = env!("CARGO_PKG_VERSION"), "starting");
}

/// Replaces every identity number in `text` (12 digits, with or without the dashes of
/// `900101-03-5678`) by `******-**-5678`.
pub fn mask_ic_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let boundary_before = i == 0 || !chars[i - 1].is_ascii_digit();
        if boundary_before && let Some((len, last4)) = ic_at(&chars[i..]) {
            out.push_str("******-**-");
            out.extend(last4);
            i += len;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// If an IC number starts at `s[0]`, its length in chars and its last four digits.
fn ic_at(s: &[char]) -> Option<(usize, [char; 4])> {
    let digits_then_boundary = |n: usize| {
        s.len() >= n && s[..n].iter().all(char::is_ascii_digit) && s.get(n).is_none_or(|c| !c.is_ascii_digit())
    };
    if digits_then_boundary(12) {
        return Some((12, [s[8], s[9], s[10], s[11]]));
    }
    let dashed = s.len() >= 14
        && s[..6].iter().all(char::is_ascii_digit)
        && s[6] == '-'
        && s[7..9].iter().all(char::is_ascii_digit)
        && s[9] == '-'
        && s[10..14].iter().all(char::is_ascii_digit)
        && s.get(14).is_none_or(|c| !c.is_ascii_digit());
    dashed.then(|| (14, [s[10], s[11], s[12], s[13]]))
}

#[cfg(test)]
mod tests {
    use super::mask_ic_numbers;

    #[test]
    fn identity_numbers_are_masked_and_nothing_else() {
        assert_eq!(mask_ic_numbers("KP 900101035678 ok"), "KP ******-**-5678 ok");
        assert_eq!(mask_ic_numbers("KP 900101-03-5678."), "KP ******-**-5678.");
        assert_eq!(mask_ic_numbers("a900101035678"), "a******-**-5678");
        assert_eq!(mask_ic_numbers("phone +60123456789"), "phone +60123456789", "11 digits stay");
        assert_eq!(mask_ic_numbers("1234567890123"), "1234567890123", "13 digits are not an IC number");
        assert_eq!(mask_ic_numbers("tiada"), "tiada");
    }
}
