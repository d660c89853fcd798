//! The results table: stdout, bench/results/<time>.json and .md.

use serde::Serialize;

use crate::Sizes;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Row {
    pub figure: String,
    pub value: String,
    pub limit: String,
    pub ratio: String,
    pub target: String,
}

pub fn markdown(sizes: &Sizes, rows: &[Row]) -> String {
    let mut out = format!(
        "eHelpdesk bench ({} run, {} UTC)\n\n| figure | measured | limit (same run) | ratio | target |\n|---|---|---|---|---|\n",
        sizes.mode,
        chrono::Utc::now().format("%Y-%m-%d %H:%M")
    );
    for r in rows {
        out.push_str(&format!("| {} | {} | {} | {} | {} |\n", r.figure, r.value, r.limit, r.ratio, r.target));
    }
    out
}

pub fn write(sizes: &Sizes, rows: &[Row]) -> std::io::Result<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/results");
    std::fs::create_dir_all(dir)?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let json = format!("{dir}/{stamp}-{}.json", sizes.mode);
    let md = format!("{dir}/{stamp}-{}.md", sizes.mode);
    let body = serde_json::json!({ "sizes": sizes, "rows": rows });
    std::fs::write(&json, serde_json::to_vec_pretty(&body).unwrap_or_default())?;
    std::fs::write(&md, markdown(sizes, rows))?;
    Ok(format!("{json}, {md}"))
}
