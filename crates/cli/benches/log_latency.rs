//! From a line Odoo writes to its log to that line on screen, in headless
//! Chromium (docs/benchmarks.md). Against a running `slipway serve` and one
//! of its serving builds (scripts/bench-ui.sh sets them up): the build page's
//! log viewer follows the served Odoo's `server.log` over server-sent events.
//! Each probe is a request straight to the build's Odoo, which logs it
//! (werkzeug's access line) with its own millisecond timestamp; the page
//! records when the line appears (`Date.now()`, same clock). The naive way,
//! measured in the same page at the same time: fetching the whole log every
//! 500 ms, as `slipway logs --follow` polls.
//!
//! `cargo bench -p slipway --bench log_latency -- <ui url> <build id> <login>
//! <password> <build's address, ip:port> [probes]`

#[path = "../tests/common/browser.rs"]
#[allow(dead_code)]
mod browser;

use std::time::Duration;

use browser::Browser;
use serde_json::Value;

const POLL_PAUSE_MS: u64 = 500;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let [ui, build, login, password, address] = &args[..5] else {
        panic!("usage: log_latency <ui url> <build id> <login> <password> <ip:port> [probes]");
    };
    let probes: usize = args.get(5).map(|n| n.parse().unwrap()).unwrap_or(30);
    let browser = Browser::start();
    browser.goto(&format!("{ui}/login?next=/builds/{build}"));
    browser.find("input[name=login]").send_keys(login);
    browser.find("input[name=password]").send_keys(password);
    browser.find("form button[type=submit]").click();
    browser.wait_until("the build page", Duration::from_secs(20), |b| {
        b.try_find("#log").is_some()
    });
    // The server's log is the last tab, opened by default.
    browser.wait_until("the log to be live", Duration::from_secs(20), |b| {
        b.find("#log-state").text() == "live"
    });
    browser.execute(
        &format!(
            "window.seen = {{}}; window.polled = {{}};\
             new MutationObserver(() => {{\
               const now = Date.now();\
               for (const m of document.getElementById('log').innerText.matchAll(/probe=(\\d+)/g))\
                 if (!(m[1] in window.seen)) window.seen[m[1]] = now;\
             }}).observe(document.getElementById('log'), {{childList: true, subtree: true, characterData: true}});\
             const raw = document.querySelector('.log-tab:last-of-type').dataset.log;\
             setInterval(() => fetch(raw).then(r => r.text()).then(text => {{\
               const now = Date.now();\
               for (const m of text.matchAll(/probe=(\\d+)/g))\
                 if (!(m[1] in window.polled)) window.polled[m[1]] = now;\
             }}), {POLL_PAUSE_MS});"
        ),
        &[],
    );
    let mut live = Vec::new();
    let mut polled = Vec::new();
    for probe in 0..probes {
        // Spread over the polling period, as real lines are.
        std::thread::sleep(Duration::from_millis(137 + (probe as u64 * 211) % 400));
        let token = format!("{}{probe:04}", std::process::id());
        ureq::get(&format!("http://{address}/web/login?probe={token}"))
            .call()
            .unwrap();
        browser.wait_until(
            "the probe on screen and polled",
            Duration::from_secs(10),
            |b| {
                b.execute(
                    "return arguments[0] in window.seen && arguments[0] in window.polled;",
                    &[Value::from(token.clone())],
                ) == Value::Bool(true)
            },
        );
        let written = odoo_timestamp_ms(&browser, &token);
        let seen = browser.execute(
            "return window.seen[arguments[0]];",
            &[Value::from(token.clone())],
        );
        let got = browser.execute("return window.polled[arguments[0]];", &[Value::from(token)]);
        live.push(seen.as_i64().unwrap() - written);
        polled.push(got.as_i64().unwrap() - written);
    }
    report("live log (server-sent events)", &mut live);
    report(
        &format!("naive: whole log fetched every {POLL_PAUSE_MS} ms"),
        &mut polled,
    );
}

/// When Odoo wrote the probe's line: its own timestamp (UTC, milliseconds).
fn odoo_timestamp_ms(browser: &Browser, token: &str) -> i64 {
    let line = browser.execute(
        "return document.getElementById('log').innerText.split('\\n').find(l => l.includes('probe=' + arguments[0]));",
        &[Value::from(token)],
    );
    let line = line.as_str().unwrap();
    // `2026-11-28 07:19:05,703 2 INFO …`
    let (date, rest) = line.split_at(10);
    let time = &rest[1..13];
    let days = days_from_civil(&date[0..4], &date[5..7], &date[8..10]);
    let hours: i64 = time[0..2].parse().unwrap();
    let minutes: i64 = time[3..5].parse().unwrap();
    let seconds: i64 = time[6..8].parse().unwrap();
    let millis: i64 = time[9..12].parse().unwrap();
    ((days * 24 + hours) * 60 + minutes) * 60_000 + seconds * 1000 + millis
}

fn days_from_civil(year: &str, month: &str, day: &str) -> i64 {
    let (year, month, day): (i64, i64, i64) = (
        year.parse().unwrap(),
        month.parse().unwrap(),
        day.parse().unwrap(),
    );
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn report(what: &str, samples: &mut [i64]) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{what}: p50 {} ms, p90 {} ms, max {} ms ({} lines)",
        at(0.5),
        at(0.9),
        at(1.0),
        samples.len()
    );
}
