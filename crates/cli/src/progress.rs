//! Progress on stderr: on a terminal one status line that is rewritten in place
//! (current step, elapsed time, what Odoo is doing); elsewhere one line per step.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Instant;

use slipway_engine::{Event, Observer};

pub struct Progress {
    terminal: bool,
    started: Instant,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    step: String,
    detail: String,
    drawn: bool,
    last_draw: Option<Instant>,
}

/// Redraws at most this often: Odoo logs thousands of lines a second.
const REDRAW_EVERY_MS: u128 = 80;
const DETAIL_WIDTH: usize = 70;

impl Progress {
    pub fn new() -> Progress {
        Progress {
            terminal: std::io::stderr().is_terminal(),
            started: Instant::now(),
            state: Mutex::new(State::default()),
        }
    }

    /// Clears the status line before something else is printed.
    pub fn finish(&self) {
        let mut state = self.state.lock().expect("progress lock");
        if self.terminal && state.drawn {
            eprint!("\r\x1b[2K");
            let _ = std::io::stderr().flush();
            state.drawn = false;
        }
    }

    fn draw(&self, state: &mut State, force: bool) {
        let now = Instant::now();
        if !force
            && state
                .last_draw
                .is_some_and(|last| now.duration_since(last).as_millis() < REDRAW_EVERY_MS)
        {
            return;
        }
        state.last_draw = Some(now);
        let detail: String = state.detail.chars().take(DETAIL_WIDTH).collect();
        let elapsed = self.started.elapsed().as_secs();
        eprint!(
            "\r\x1b[2K[{:>3}s] {} {}",
            elapsed,
            state.step,
            if detail.is_empty() {
                String::new()
            } else {
                format!("· {detail}")
            }
        );
        let _ = std::io::stderr().flush();
        state.drawn = true;
    }
}

impl Observer for Progress {
    fn event(&self, event: Event<'_>) {
        let mut state = self.state.lock().expect("progress lock");
        match event {
            Event::Step(step) => {
                state.step = step.to_string();
                state.detail.clear();
                if self.terminal {
                    self.draw(&mut state, true);
                } else {
                    eprintln!("[{:>3}s] {step}", self.started.elapsed().as_secs());
                }
            }
            Event::Notice(notice) => {
                if self.terminal && state.drawn {
                    eprint!("\r\x1b[2K");
                }
                eprintln!("{notice}");
                if self.terminal {
                    self.draw(&mut state, true);
                }
            }
            Event::OdooLine(line) => {
                if !self.terminal {
                    return;
                }
                if let Some(detail) = interesting(line) {
                    state.detail = detail;
                    self.draw(&mut state, false);
                }
            }
        }
    }
}

/// The part of an Odoo line worth showing in the status line: module loading and
/// test progress.
fn interesting(line: &str) -> Option<String> {
    let message = line.split_once(": ").map(|(_, message)| message.trim())?;
    if message.starts_with("Loading module")
        || message.starts_with("Starting ")
        || message.starts_with("loading ")
    {
        Some(message.to_string())
    } else {
        None
    }
}
