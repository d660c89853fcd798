//! The web app in a real headless Chromium, against real command and query services on NATS
//! and PostgreSQL: sign-in, the inbox, a complaint's page and the PIC's reply; and what nobody
//! may do (no page without a session, no form without its CSRF token, no complaint of
//! another's, no picker in production).

use ehelpdesk_tests::browser::{Browser, DESKTOP, PHONE};
use ehelpdesk_tests::fixtures::*;
use ehelpdesk_tests::process::Service;
use ehelpdesk_tests::{TestDatabase, TestEventLog, service_env};
use serde_json::{Value, json};

/// The command and query services and the web app over them, each test its own.
struct WebSystem {
    _log: TestEventLog,
    _db: TestDatabase,
    command: Service,
    query: Service,
    web: Service,
    http: reqwest::Client,
}

impl WebSystem {
    async fn start() -> Self {
        Self::start_with(&[]).await
    }

    async fn start_with(web_env: &[(&'static str, &str)]) -> Self {
        let log = TestEventLog::new();
        let db = TestDatabase::new().await;
        let env = service_env(&log, &db);
        let mut command = Service::start("ehelpdesk-command", &env, "COMMAND_ADDR");
        command.wait_ready().await;
        let mut query = Service::start("ehelpdesk-projection", &env, "PROJECTION_ADDR");
        query.wait_ready().await;
        let mut web_vars = env.clone();
        web_vars.push(("COMMAND_URL", command.url.clone()));
        web_vars.push(("QUERY_URL", query.url.clone()));
        web_vars.extend(web_env.iter().map(|(k, v)| (*k, v.to_string())));
        let mut web = Service::start("ehelpdesk-web", &web_vars, "WEB_ADDR");
        web.wait_ready().await;
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { _log: log, _db: db, command, query, web, http }
    }

    async fn post(&self, who: &Person, path: &str, body: Value) -> Value {
        let response = who.headers(self.http.post(format!("{}{path}", self.command.url))).json(&body).send().await;
        let response = response.expect("command service answers");
        let status = response.status();
        let value: Value = response.json().await.expect("JSON");
        assert!(status.is_success(), "{path}: {status} {value}");
        value
    }

    async fn register(&self, person: &Person, roles: &[&str], categories: &[&str]) {
        self.post(&ADMIN, "/v1/staff", person.registration(roles, categories)).await;
    }

    /// A complaint filed by `complainant`; (id, number, stream sequence).
    async fn file(&self, complainant: &Person, title: &str) -> (String, String, u64) {
        let receipt = self.post(complainant, "/v1/complaints", complaint("AC", title)).await;
        let id = receipt["complaint_id"].as_str().unwrap().to_owned();
        let number = receipt["complaint_number"].as_str().unwrap().to_owned();
        (id, number, receipt["stream_sequence"].as_u64().unwrap())
    }

    async fn assign(&self, id: &str, pic: &Person) -> u64 {
        let receipt = self.post(&ADMIN, &format!("/v1/complaints/{id}/assignment"), json!({"pic_id": pic.id})).await;
        receipt["stream_sequence"].as_u64().unwrap()
    }

    /// Waits until the query service has applied `seq`.
    async fn projected(&self, seq: u64) {
        let url = format!("{}/v1/complaints?limit=1&min_seq={seq}", self.query.url);
        let response = ADMIN.headers(self.http.get(url)).send().await.unwrap();
        assert!(response.status().is_success(), "projection never reached {seq}");
    }

    /// A request to the web app carrying `who`'s session and a CSRF seed cookie.
    fn as_signed_in(&self, who: &Person, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.header("cookie", format!("ehd_session={}; ehd_csrf={}", who.token(), "ab".repeat(32)))
    }
}

#[tokio::test]
async fn a_pic_signs_in_finds_the_assigned_complaint_and_replies_with_each_status() {
    let system = WebSystem::start().await;
    system.register(&PIC, &["pic"], &["AC"]).await;
    let (id, number, _) = system.file(&COMPLAINANT, "Amaun salah pada baris arahan bayaran").await;
    let seq = system.assign(&id, &PIC).await;
    system.projected(seq).await;

    let browser = Browser::open(&system.web.url).await;
    // No session: to the sign-in, which remembers where the PIC was going.
    browser.goto("/inbox").await;
    assert_eq!(browser.path().await, "/masuk?next=%2Finbox");
    browser.click("button[data-person='pic-aminah-pic']").await;
    let inbox = browser.wait_for_text(&number).await;
    assert_eq!(browser.path().await, "/inbox");
    assert!(inbox.contains("******-**-5678"), "the inbox masks identity numbers: {inbox}");
    assert!(!inbox.contains("900101"), "no whole identity number in a list: {inbox}");
    assert!(inbox.contains("DITUGASKAN") && inbox.contains("Pendahuluan & Tuntutan (AC)"), "{inbox}");
    screenshots(&browser, "inbox").await;

    browser.click(&format!("a[href='/complaints/{id}']")).await;
    let page = browser.wait_for_text("Maklumat Aduan & Pengadu").await;
    assert!(page.contains("Ali bin Abu") && page.contains("Amaun salah pada baris arahan bayaran"), "{page}");
    assert!(page.contains("Ditugaskan kepada PIC"), "the history shows the assignment: {page}");

    // "Mohon Maklumbalas Pengadu": the page after the submit shows the reply (min_seq).
    reply(&browser, "Sila nyatakan nombor baucar yang terlibat.", "awaiting_complainant", "", "").await;
    let page = browser.wait_for_text("Sila nyatakan nombor baucar yang terlibat.").await;
    assert!(page.contains("MOHON MAKLUMBALAS PENGADU"), "{page}");

    // "Dalam Tindakan Vendor" without a vendor: refused on the form, what was typed kept.
    reply(&browser, "Dirujuk kepada vendor.", "with_vendor", "", "").await;
    assert!(browser.text("#reply-error").await.contains("Sila pilih vendor"));
    assert_eq!(browser.find("#message").await.prop("value").await.unwrap().as_deref(), Some("Dirujuk kepada vendor."));

    // With TTSB and its log number.
    reply(&browser, "Dirujuk kepada vendor.", "with_vendor", "TTSB", "TTSB-2026-0042").await;
    let page = browser.wait_for_text("TTSB (log TTSB-2026-0042)").await;
    assert!(page.contains("DALAM TINDAKAN VENDOR"), "{page}");

    // "Mohon Pengadu Tutup Aduan".
    reply(&browser, "Masalah telah diselesaikan oleh vendor.", "pending_closure", "", "").await;
    let page = browser.wait_for_text("Masalah telah diselesaikan oleh vendor.").await;
    assert!(page.contains("MOHON PENGADU TUTUP ADUAN"), "{page}");
    screenshots(&browser, "complaint").await;
    browser.close().await;
}

/// With `EHELPDESK_SCREENSHOTS=<folder>` (README's pictures: `docs/screenshots`), the page at
/// desktop and phone width, as `<name>-desktop.png` and `<name>-phone.png`.
async fn screenshots(browser: &Browser, name: &str) {
    let Ok(folder) = std::env::var("EHELPDESK_SCREENSHOTS") else { return };
    let folder = std::path::Path::new(&folder);
    for (size, label) in [(DESKTOP, "desktop"), (PHONE, "phone")] {
        browser.resize(size).await;
        browser.screenshot(&folder.join(format!("{name}-{label}.png"))).await;
    }
    browser.resize(DESKTOP).await;
}

#[tokio::test]
async fn the_badge_rises_in_the_pic_s_open_page_when_the_admin_assigns() {
    let system = WebSystem::start().await;
    system.register(&PIC, &["pic"], &["AC"]).await;
    let (first, _, _) = system.file(&COMPLAINANT, "Baucar tidak dapat disimpan").await;
    let seq = system.assign(&first, &PIC).await;
    system.projected(seq).await;

    let browser = Browser::open(&system.web.url).await;
    browser.goto("/").await;
    browser.click("button[data-person='pic-aminah-pic']").await;
    browser.wait_for_text("Inbox Helpdesk").await;
    let badge = browser.find("#badge").await;
    assert_eq!(badge.text().await.unwrap(), "1");

    let (second, _, _) = system.file(&COMPLAINANT, "Laporan lejar tidak seimbang").await;
    system.assign(&second, &PIC).await;
    // The same element, on the page as it was loaded (a reload would make it stale), rises.
    let mut shown = String::new();
    for _ in 0..150 {
        shown = badge.text().await.expect("the page was not reloaded");
        if shown == "2" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(shown, "2", "the badge did not rise without a reload");
    assert_eq!(browser.path().await, "/");
    browser.close().await;
}

#[tokio::test]
async fn the_admin_triages_and_assigns_with_the_pics_load_and_a_warning_outside_their_category() {
    let system = WebSystem::start().await;
    system.register(&PIC, &["pic"], &["AC"]).await;
    system.register(&OTHER_PIC, &["pic"], &["GL"]).await;
    let (held, _, _) = system.file(&COMPLAINANT, "Baucar bayaran bertindih").await;
    system.assign(&held, &PIC).await;
    let (id, number, seq) = system.file(&COMPLAINANT, "Arahan bayaran tidak dapat diluluskan").await;
    system.projected(seq).await;

    let browser = Browser::open(&system.web.url).await;
    browser.goto("/triage").await;
    browser.click("button[data-person='admin-siti-admin']").await;
    let triage = browser.wait_for_text(&number).await;
    assert!(triage.contains("BARU"), "{triage}");
    browser.click(&format!("a[href='/complaints/{id}']")).await;
    browser.wait_for_text("Tugaskan kepada PIC").await;
    // Who covers AC comes first, with the open complaints each holds.
    let options = browser.text("#pic").await;
    let aminah = options.find("Aminah binti Yusof — 1 aduan terbuka").expect("Aminah and her load");
    let bakar =
        options.find("Abu Bakar bin Salleh — 0 aduan terbuka / open · tidak meliputi").expect("Bakar, outside AC");
    assert!(aminah < bakar, "{options}");

    // Handed to the PIC who does not cover AC: done, with the warning.
    browser.select("#pic", OTHER_PIC.id).await;
    browser.click("form.assign button[type=submit]").await;
    let page = browser.wait_for_text("Amaran: PIC ini tidak meliputi kategori aduan ini.").await;
    assert!(page.contains("DITUGASKAN") && page.contains("Abu Bakar bin Salleh"), "{page}");

    // Reassigned to the PIC who does.
    browser.select("#pic", PIC.id).await;
    browser.click("form.assign button[type=submit]").await;
    browser.wait_for_element_text("#fact-pic", PIC.name).await;
    assert!(!browser.page_text().await.contains("Amaran:"), "no warning for a PIC of the category");
    browser.goto("/triage").await;
    assert!(!browser.wait_for_text("Aduan Baru").await.contains(&number), "assigned: no longer new");
    browser.close().await;
}

/// Signs out (if signed in) and signs in as `who` through the picker, landing on `path`.
async fn sign_in_as(browser: &Browser, who: &Person, path: &str) {
    browser.goto("/masuk").await;
    if browser.exists("form[action='/keluar'] button").await {
        browser.click("form[action='/keluar'] button").await;
        browser.wait_for_text("Log Masuk").await;
    }
    browser.goto(path).await;
    browser.click(&format!("button[data-person='{}-{}']", who.id, who.role)).await;
    browser.wait_for_text(who.name).await;
}

/// The guide's whole flow through the pages, each person in turn in the same browser.
#[tokio::test]
async fn the_guide_s_whole_flow_through_the_pages() {
    let system = WebSystem::start().await;
    system.register(&PIC, &["pic"], &["AC"]).await;
    system.register(&IMPLEMENTOR, &["implementor"], &[]).await;
    system.register(&AUDITOR, &["auditor"], &[]).await;
    let browser = Browser::open(&system.web.url).await;

    // The complainant files.
    sign_in_as(&browser, &COMPLAINANT, "/complaints/new").await;
    browser.select("#category", "AC").await;
    browser.fill("#title", "Amaun salah pada baris arahan bayaran").await;
    browser.fill("#description", "Amaun yang dicaj pada baris kedua tidak sama dengan invois.").await;
    browser.fill("#reference", "BV-2026-0101").await;
    browser.click("form.file button[type=submit]").await;
    let page = browser.wait_for_text("Maklumat Aduan & Pengadu").await;
    assert!(page.contains("BARU") && page.contains("BV-2026-0101"), "{page}");
    let complaint = browser.path().await;
    let complaint = complaint.split('?').next().unwrap().to_owned();

    // The admin assigns it to the PIC.
    sign_in_as(&browser, &ADMIN, &complaint).await;
    browser.select("#pic", PIC.id).await;
    browser.click("form.assign button[type=submit]").await;
    browser.wait_for_element_text("#fact-pic", PIC.name).await;

    // The PIC asks the complainant for more.
    sign_in_as(&browser, &PIC, &complaint).await;
    reply(&browser, "Sila nyatakan nombor baucar.", "awaiting_complainant", "", "").await;
    browser.wait_for_text("Sila nyatakan nombor baucar.").await;

    // The complainant answers.
    sign_in_as(&browser, &COMPLAINANT, &complaint).await;
    browser.fill("#answer-message", "Nombor baucar ialah BV-2026-0101.").await;
    browser.click("form.answer button[type=submit]").await;
    browser.wait_for_text("Nombor baucar ialah BV-2026-0101.").await;

    // The PIC refers it to the implementor, who adds an internal note.
    sign_in_as(&browser, &PIC, &complaint).await;
    browser.select("#implementor", IMPLEMENTOR.id).await;
    browser.fill("#refer-message", "Mohon semak konfigurasi baucar.").await;
    browser.click("form.refer button[type=submit]").await;
    browser.wait_for_text("RUJUK IMPLEMENTOR").await;
    sign_in_as(&browser, &IMPLEMENTOR, &complaint).await;
    browser.fill("#note-message", "Masalah pada modul vendor.").await;
    browser.click("form.note button[type=submit]").await;
    browser.wait_for_text("Masalah pada modul vendor.").await;

    // The PIC escalates to TTSB with its log number, records the vendor's answer, and asks
    // the complainant to close.
    sign_in_as(&browser, &PIC, &complaint).await;
    reply(&browser, "Dirujuk kepada TTSB.", "with_vendor", "TTSB", "TTSB-2026-0042").await;
    browser.wait_for_text("TTSB (log TTSB-2026-0042)").await;
    browser.fill("#vendor-message", "Pembetulan dipasang pada versi 3.2.").await;
    browser.click("form.vendor-update button[type=submit]").await;
    browser.wait_for_text("Pembetulan dipasang pada versi 3.2.").await;
    reply(&browser, "Masalah telah diselesaikan.", "pending_closure", "", "").await;
    browser.wait_for_text("MOHON PENGADU TUTUP ADUAN").await;

    // The complainant closes it with a rating; the closed complaint can be reopened.
    sign_in_as(&browser, &COMPLAINANT, &complaint).await;
    browser.click("form.close button[type=submit]").await;
    assert!(browser.text("#close-error").await.contains("Sila beri penilaian"), "a rating is required");
    browser.click("#rating-5").await;
    browser.fill("#close-comment", "Terima kasih atas bantuan.").await;
    browser.click("form.close button[type=submit]").await;
    let page = browser.wait_for_text("SELESAI").await;
    assert!(page.contains("Buka Semula"), "a closed complaint offers reopening: {page}");
    // A complainant never sees the internal note.
    assert!(!page.contains("Masalah pada modul vendor."), "{page}");
    // Their list shows it solved.
    browser.goto("/inbox").await;
    assert!(browser.wait_for_text("Selesai dalam masa:").await.contains("SELESAI"));

    // The auditor reads its history straight from the log, its state before it existed and
    // now, exports it, and verifies the log against the read models.
    let id = complaint.trim_start_matches("/complaints/").to_owned();
    sign_in_as(&browser, &AUDITOR, &complaint).await;
    browser.click("#audit-link").await;
    let log = browser.wait_for_text("Sejarah daripada log").await;
    for event_type in WHOLE_FLOW_EVENTS {
        assert!(log.contains(event_type), "{event_type} is in the log page");
    }
    audit_state_as_of(&browser, &id, "2020-01-01T09:00").await;
    browser.wait_for_element_text("#state-status", "belum wujud / did not exist yet").await;
    let in_an_hour = (chrono::Utc::now() + chrono::Duration::hours(9)).format("%Y-%m-%dT%H:%M").to_string();
    audit_state_as_of(&browser, &id, &in_an_hour).await;
    browser.wait_for_element_text("#state-status", "closed").await;
    let url = format!("{}/audit/export/events.jsonl?complaint_id={id}", system.web.url);
    let export = system.as_signed_in(&AUDITOR, system.http.get(url)).send().await.unwrap();
    assert_eq!(export.status(), 200);
    assert!(export.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let lines = export.text().await.unwrap();
    assert!(lines.contains("{\"export_complete\":{\"count\":10,"), "{lines}");
    browser.goto("/audit").await;
    browser.wait_for_text("Tiada perbezaan").await;
    browser.close().await;
}

/// The auditor's "state as of" for `as_of` (Malaysian time, as a datetime-local sends it).
async fn audit_state_as_of(browser: &Browser, id: &str, as_of: &str) {
    browser.goto(&format!("/audit/complaints/{id}?as_of={as_of}")).await;
}

/// axe-core (vendored) on the main pages, as each role sees them: no serious or critical
/// violation.
#[tokio::test]
async fn the_main_pages_have_no_serious_accessibility_violations() {
    let system = WebSystem::start().await;
    system.register(&PIC, &["pic"], &["AC"]).await;
    let (id, _, _) = system.file(&COMPLAINANT, "Slip gaji bulan lepas tidak dijana").await;
    let seq = system.assign(&id, &PIC).await;
    system.projected(seq).await;
    let (_, _, seq) = system.file(&COMPLAINANT, "Laporan tunai harian tidak seimbang").await;
    system.projected(seq).await;
    let browser = Browser::open(&system.web.url).await;
    let mut found = vec![];
    let mut check = async |path: &str| {
        browser.goto(path).await;
        browser.find("main").await;
        for violation in browser.accessibility_violations().await {
            found.push(format!("{path}: {violation}"));
        }
    };
    check("/masuk").await;
    sign_in_as(&browser, &PIC, "/").await;
    for path in ["/", "/inbox", &format!("/complaints/{id}"), "/halaman-tiada"] {
        check(path).await;
    }
    sign_in_as(&browser, &ADMIN, "/").await;
    for path in [
        "/",
        "/triage",
        &format!("/complaints/{id}"),
        &format!("/audit/complaints/{id}?as_of=2030-01-01T09:00"),
        "/audit",
    ] {
        check(path).await;
    }
    sign_in_as(&browser, &COMPLAINANT, "/").await;
    for path in ["/complaints/new", "/inbox", &format!("/complaints/{id}")] {
        check(path).await;
    }
    assert!(found.is_empty(), "serious or critical accessibility violations:\n{}", found.join("\n"));
    // The check can fail: an image without a text alternative is caught.
    let plant = "document.querySelector('main').insertAdjacentHTML('beforeend', '<img src=\"/static/none.png\">')";
    browser.client.execute(plant, vec![]).await.unwrap();
    let caught = browser.accessibility_violations().await;
    assert!(caught.iter().any(|v| v.contains("image-alt")), "{caught:?}");
    browser.close().await;
}

async fn reply(browser: &Browser, message: &str, status: &str, vendor: &str, log: &str) {
    browser.fill("#message", message).await;
    browser.select("#reply-status", status).await;
    browser.select("#vendor", vendor).await;
    browser.fill("#vendor_log_number", log).await;
    browser.click("form.reply button[type=submit]").await;
}

#[tokio::test]
async fn a_refusal_from_the_api_is_shown_on_the_form_in_malay() {
    let system = WebSystem::start().await;
    // Nobody has been assigned: the API refuses a reply (not_assigned).
    let (id, _, seq) = system.file(&COMPLAINANT, "Slip gaji bulan lepas tidak dijana").await;
    system.projected(seq).await;
    let browser = Browser::open(&system.web.url).await;
    browser.goto(&format!("/complaints/{id}")).await;
    browser.click("button[data-person='admin-siti-admin']").await;
    browser.wait_for_text("Maklumat Aduan & Pengadu").await;
    reply(&browser, "Sila semak.", "awaiting_complainant", "", "").await;
    let error = browser.text("#reply-error").await;
    assert!(error.starts_with("Aduan ini belum ditugaskan kepada PIC"), "{error}");
    assert!(!browser.page_text().await.contains("\"code\""), "no raw JSON on the page");
    browser.close().await;
}

#[tokio::test]
async fn no_page_without_a_session_no_form_without_its_token_and_no_complaint_of_another() {
    let system = WebSystem::start().await;
    let (id, _, seq) = system.file(&COMPLAINANT, "Invois tidak dapat dicetak").await;
    system.projected(seq).await;
    let web = &system.web.url;
    for path in ["/", "/inbox", &format!("/complaints/{id}")] {
        let response = system.http.get(format!("{web}{path}")).send().await.unwrap();
        assert_eq!(response.status(), 303, "{path}");
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        assert!(location.starts_with("/masuk?next="), "{path} -> {location}");
    }
    // A link from an e-mail arrives without the SameSite=Strict cookie: the page reloads
    // itself from this site rather than asking to sign in at once.
    let response =
        system.http.get(format!("{web}/complaints/{id}")).header("sec-fetch-site", "cross-site").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains(&format!("url=/complaints/{id}")));

    // A malformed address is a readable page, not the framework's plain text.
    let response =
        system.as_signed_in(&ADMIN, system.http.get(format!("{web}/complaints/bukan-uuid"))).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("Alamat ini tidak sah"));

    // Another complainant gets the same 404 as from the API.
    let other = system.as_signed_in(&OTHER_COMPLAINANT, system.http.get(format!("{web}/complaints/{id}")));
    let response = other.send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.text().await.unwrap().contains("Tidak dijumpai"));

    // A form without its CSRF token is refused and changes nothing.
    let events_before = system._log.event_count().await;
    let forged = system
        .as_signed_in(&ADMIN, system.http.post(format!("{web}/complaints/{id}/reply")))
        .form(&[("message", "Dipalsukan"), ("status", "awaiting_complainant")]);
    let response = forged.send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("Borang tamat tempoh"));
    let wrong = system.as_signed_in(&ADMIN, system.http.post(format!("{web}/complaints/{id}/reply"))).form(&[
        ("_csrf", "00".repeat(32).as_str()),
        ("message", "Dipalsukan"),
        ("status", "awaiting_complainant"),
    ]);
    assert_eq!(wrong.send().await.unwrap().status(), 403);
    assert_eq!(system._log.event_count().await, events_before);

    // Every answer forbids inline script and framing.
    let response = system.http.get(format!("{web}/masuk")).send().await.unwrap();
    let csp = response.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'")
    );
}

#[tokio::test]
async fn production_has_no_development_picker() {
    let system = WebSystem::start_with(&[
        ("APP_ENV", "production"),
        // Production refuses the development secret the other services use here.
        ("JWT_HS256_SECRET", "a-portal-secret-for-the-production-test-0123456"),
        ("WEB_SESSION_SECRET", "a-session-secret-for-the-production-test-0123"),
        ("MYPKN_SIGN_IN_URL", "https://mypkn.example.gov.my/masuk"),
        ("PUBLIC_BASE_URL", "https://helpdesk.example.gov.my"),
    ])
    .await;
    let web = &system.web.url;
    let page = system.http.get(format!("{web}/masuk")).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("data-person"), "no picker in production");
    assert!(page.contains("MyPKN"));
    let pick = system.http.post(format!("{web}/masuk/dev")).form(&[("id", "admin-siti"), ("role", "admin")]);
    assert_eq!(pick.send().await.unwrap().status(), 404);
}
