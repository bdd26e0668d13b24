//! Running client programs with a time limit, and bounded waiting.

use std::fmt;
use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// What a finished command did: its exit status and everything it printed.
#[derive(Debug, Clone)]
pub struct Output {
    /// The command line, for messages.
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Output {
    /// Panics, showing the whole output, unless the command exited with status 0.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(self.status.success(), "command failed:\n{self}");
        self
    }

    /// The lines of standard output.
    pub fn stdout_lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "$ {}\n  exit: {}, after {:.1} s",
            self.command,
            self.status,
            self.elapsed.as_secs_f64()
        )?;
        writeln!(f, "--- stdout ---\n{}", tail(&self.stdout, 200))?;
        write!(f, "--- stderr ---\n{}", tail(&self.stderr, 200))
    }
}

/// The last `max_lines` lines of `text`, saying how many were left out.
pub(crate) fn tail(text: &str, max_lines: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= max_lines {
        return text.trim_end().to_owned();
    }
    let skipped = lines.len() - max_lines;
    format!(
        "[... {skipped} earlier lines ...]\n{}",
        lines[skipped..].join("\n")
    )
}

/// A command line as one string, for messages.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a| {
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
            format!("'{}'", a.replace('\'', r"'\''"))
        } else {
            a.into_owned()
        }
    }));
    parts.join(" ")
}

/// Runs `cmd` to completion, feeding it `stdin` (or nothing), and returns what it printed.
///
/// Panics (with everything the command printed so far) if it cannot be started or has not
/// exited after `timeout`; it is killed then. A non-zero exit is returned, not a panic: call
/// [`Output::assert_success`].
#[track_caller]
pub fn run(cmd: &mut Command, stdin: Option<&[u8]>, timeout: Duration) -> Output {
    let command = describe(cmd);
    let started = Instant::now();
    let mut child = cmd
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{command}`: {e}"));

    let writer = stdin.map(|input| {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        let input = input.to_vec();
        // A child that exits early closes the pipe: its exit status tells what happened.
        thread::spawn(move || {
            let _ = pipe.write_all(&input);
        })
    });
    let stdout = read_in_background(child.stdout.take().expect("stdout is piped"));
    let stderr = read_in_background(child.stderr.take().expect("stderr is piped"));

    let status = wait_with_deadline(&mut child, started + timeout);
    let timed_out = status.is_none();
    let status = status.unwrap_or_else(|| {
        let _ = child.kill();
        child
            .wait()
            .unwrap_or_else(|e| panic!("cannot wait for `{command}`: {e}"))
    });
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    let output = Output {
        command,
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        elapsed: started.elapsed(),
    };
    if timed_out {
        panic!("command did not finish within {timeout:?}; killed it:\n{output}");
    }
    output
}

fn read_in_background(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Waits for `child` to exit until `deadline`; `None` if it is still running then.
pub(crate) fn wait_with_deadline(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => {}
            Err(e) => panic!("cannot wait for child process {}: {e}", child.id()),
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Calls `probe` every `interval` until it returns `Some`, for at most `timeout`.
///
/// Panics with `what` and the time waited if it never does.
#[track_caller]
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    interval: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        thread::sleep(interval);
    }
}
