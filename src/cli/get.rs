//! `sockloop get ADDR NAME`: download one file from `sockloop serve file` (or, `--classic`,
//! from the lab server) into a `.NAME.part` file beside the target, renamed to the target
//! only once every byte is there and the checksum matches. A cut transfer leaves the part
//! file for `--resume`; it never leaves a truncated file under the final name.

use super::{duration, say};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sockloop::protocols::file::client::TAG;
use sockloop::protocols::file::{GetClient, Mode, Outcome, PartFile, Progress, auth};
use sockloop::{Config, Reactor, net};
use std::fs::OpenOptions;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Download a file from `sockloop serve file`.
#[derive(Args, Debug)]
#[command(after_help = "\
The secret comes from --token-file or $SOCKLOOP_TOKEN. The download goes to .NAME.part beside
the target and is renamed when its size and BLAKE3 match the server's header. Exit status 0
only then; a cut transfer keeps the part file: run the same command with --resume.

Examples:
  sockloop get 127.0.0.1:7000 notes.txt --token-file ~/.sockloop-token
  SOCKLOOP_TOKEN=s3cret sockloop get [::1]:7000 'big files/disk.img' -o /tmp/disk.img --resume
  sockloop get 127.0.0.1:7000 RECIEVED_FILE.txt --classic --token-file key")]
pub struct GetArgs {
    /// HOST:PORT or [IPV6]:PORT; every address of the host is tried in turn.
    addr: String,
    /// The file's name under the server's root. With --classic it only names the output.
    name: String,
    /// Where to save it. [default: NAME's last component, in the current directory]
    #[arg(short, long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Continue a cut download from its .part file (the checksum still covers the whole file).
    #[arg(long, conflicts_with = "classic")]
    resume: bool,
    /// Speak the classic lab protocol: the key, AUTH_SUCCESS, then bytes until the close.
    #[arg(long)]
    classic: bool,
    /// Read the secret from this file (one line). [default: $SOCKLOOP_TOKEN]
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Receive through one buffer (read, write) instead of splice(2) from socket to file.
    #[arg(long)]
    no_splice: bool,
    /// Give up when nothing arrives for this long.
    #[arg(long, value_name = "DUR", value_parser = duration::parse_positive, default_value = "30s")]
    idle_timeout: Duration,
}

pub fn run(args: GetArgs) -> Result<(), String> {
    let token = auth::load_token(args.token_file.as_deref())?;
    // Blocking DNS, before the loop exists.
    let addrs = net::resolve(&args.addr).map_err(|e| format!("cannot resolve {:?}: {e}", args.addr))?;
    let Some(&first) = addrs.first() else { return Err(format!("{:?} has no address", args.addr)) };
    let target = match args.output {
        Some(path) => path,
        None => Path::new(&args.name)
            .file_name()
            .map(PathBuf::from)
            .ok_or_else(|| format!("cannot name the output after {:?}: give -o PATH", args.name))?,
    };
    let part = part_path(&target)?;
    let (sink, offset) = open_part(&part, args.resume)?;
    let mode = if args.classic {
        Mode::Classic { key: token }
    } else {
        Mode::Ours { token, name: args.name.into_bytes() }
    };
    let bar = progress_bar();
    let mut client = GetClient::new(addrs, mode, sink, offset);
    if let Some(bar) = bar.clone() {
        client = client.observe(move |p| show(&bar, p));
    }
    // One connection: a bigger read buffer means fewer reads and file writes (socat reads
    // 128 KiB; 128 KiB to 1 MiB measured the same here). With splice(2) (the default on
    // Linux) the file's bytes skip it: the kernel moves them from the socket to the file.
    let config = Config {
        idle_timeout: Some(args.idle_timeout),
        scratch_size: 256 << 10,
        read_budget: 1 << 20,
        splice: Config::default().splice && !args.no_splice,
        ..Config::default()
    };
    let mut reactor = Reactor::new(client, config).map_err(|e| format!("cannot start: {e}"))?;
    reactor.stop_on_signals().map_err(|e| format!("cannot watch for signals: {e}"))?;
    let started = Instant::now();
    reactor.connect(first, TAG);
    reactor.run().map_err(|e| format!("the event loop failed: {e}"))?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let Some(outcome) = reactor.handler().outcome() else { return Err("the download did not finish".into()) };
    match outcome {
        Outcome::Complete { size, checksum } => {
            std::fs::rename(&part, &target)
                .map_err(|e| format!("cannot rename {} to {}: {e}", part.display(), target.display()))?;
            let secs = started.elapsed().as_secs_f64();
            say(&format!(
                "saved {} ({size} bytes, blake3 {}) in {secs:.2}s, {}",
                target.display(),
                checksum.to_hex(),
                rate(size - offset, secs)
            ))
        }
        Outcome::Corrupt { expected, got } => {
            remove(&part);
            Err(format!(
                "checksum mismatch (header {}, received {}): the file changed on the server or was damaged; \
                 the part file was removed",
                expected.to_hex(),
                got.to_hex()
            ))
        }
        Outcome::Interrupted { received, size, why } if !args.classic => Err(format!(
            "{why} after {received} of {} bytes; they are kept in {}: run again with --resume",
            size.map_or("?".into(), |s| s.to_string()),
            part.display()
        )),
        Outcome::Interrupted { received, why, .. } => {
            remove(&part);
            Err(format!("{why} after {received} bytes (a classic transfer cannot be resumed)"))
        }
        Outcome::Refused { code, message } => {
            remove_if_empty(&part);
            Err(format!("the server refused: {code} {message}"))
        }
        Outcome::Failed(why) => {
            remove_if_empty(&part);
            Err(why.clone())
        }
    }
}

fn rate(bytes: u64, secs: f64) -> String {
    let per_sec = bytes as f64 / secs.max(1e-6);
    match per_sec {
        r if r >= f64::from(1 << 20) => format!("{:.1} MiB/s", r / f64::from(1 << 20)),
        r => format!("{:.1} KiB/s", r / 1024.0),
    }
}

/// `dir/.NAME.part` for `dir/NAME`: the same directory, so the rename is atomic.
fn part_path(target: &Path) -> Result<PathBuf, String> {
    let name = target.file_name().ok_or_else(|| format!("{} is not a file name", target.display()))?;
    let mut part = std::ffi::OsString::from(".");
    part.push(name);
    part.push(".part");
    Ok(target.with_file_name(part))
}

/// A fresh part file, or (`resume`) the existing one, to go on from its end; hashed as it
/// grows, mostly by a helper thread (see [`PartFile`]).
fn open_part(part: &Path, resume: bool) -> Result<(PartFile, u64), String> {
    let failed = |e: std::io::Error| format!("cannot open {}: {e}", part.display());
    let file =
        OpenOptions::new().read(true).write(true).create(true).truncate(false).open(part).map_err(failed)?;
    // Two downloads into one part file would each cut and overwrite the other's bytes.
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(format!("{} is in use by another download (of the same file?)", part.display()));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(failed(e)),
    }
    if !resume {
        file.set_len(0).map_err(failed)?;
    }
    let offset = file.metadata().map_err(failed)?.len();
    Ok((PartFile::new(file, offset).map_err(failed)?, offset))
}

fn remove(part: &Path) {
    if let Err(e) = std::fs::remove_file(part) {
        log::warn!("cannot remove {}: {e}", part.display());
    }
}

fn remove_if_empty(part: &Path) {
    if std::fs::metadata(part).is_ok_and(|m| m.len() == 0) {
        remove(part);
    }
}

/// Bytes, rate and ETA on stderr, only when it is a terminal.
fn progress_bar() -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let style =
        ProgressStyle::with_template("[{bar:30}] {bytes}/{total_bytes}  {binary_bytes_per_sec}  eta {eta}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}

fn show(bar: &ProgressBar, progress: Progress) {
    match progress {
        Progress::Started { offset, size } => {
            if let Some(size) = size {
                bar.set_length(size);
            }
            bar.set_position(offset);
            bar.reset_eta();
        }
        Progress::Received(n) => bar.set_position(n),
    }
}
