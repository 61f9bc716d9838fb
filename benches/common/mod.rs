//! What the benchmarks share: a server as a child process pinned to its own CPU, and the CPU
//! time it spends, read from /proc.
//!
//! The machines these run on have two cores: the load generator (one thread) is pinned to
//! CPU 0 and the server to CPU 1, so the two never compete for a core with each other, and
//! the server's own CPU time per message is a figure that does not depend on how fast the
//! load could push.

// Each benchmark uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A server process, killed when dropped.
pub struct Running {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Running {
    /// Starts `cmd` pinned to `cpu` and waits for its first line, `listening on ADDR`.
    pub fn start(mut cmd: Command, cpu: usize, name: &str) -> Running {
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{name}: cannot start: {e}"));
        pin(child.id() as i32, cpu);
        let out = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(out).read_line(&mut line).expect("listening line");
        let addr = line.trim().strip_prefix("listening on ").and_then(|a| a.parse().ok());
        let addr = addr.unwrap_or_else(|| panic!("{name}: unexpected first line {line:?}"));
        Running { child, addr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).map_or(0, |d| d.count())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// utime + stime of a process, in seconds.
pub fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after ')'.
    (ticks(11) + ticks(12)) / clock_ticks()
}

/// How many times a process's main thread has gone to sleep and been woken
/// (`voluntary_ctxt_switches`): for a one-thread server, one per `epoll_wait` that blocked.
pub fn sleeps(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

pub fn pin(pid: i32, cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

pub fn raise_nofile() {
    // SAFETY: plain getrlimit/setrlimit on a stack struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// A process's CPU time, sampled every few milliseconds from a thread of its own, so the
/// time spent over a window known only afterwards (a run whose set-up took as long as it
/// took) can be read back.
pub struct CpuSampler {
    samples: Arc<Mutex<Vec<(Instant, f64)>>>,
    done: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl CpuSampler {
    pub fn start(pid: u32) -> CpuSampler {
        let samples = Arc::new(Mutex::new(vec![(Instant::now(), cpu_secs(pid))]));
        let done = Arc::new(AtomicBool::new(false));
        let (s, d) = (samples.clone(), done.clone());
        let thread = thread::spawn(move || {
            while !d.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(20));
                let sample = (Instant::now(), cpu_secs(pid));
                s.lock().expect("sampler lock").push(sample);
            }
        });
        CpuSampler { samples, done, thread: Some(thread) }
    }

    /// CPU seconds spent between `from` and `to` (the samples nearest inside the window).
    pub fn between(&self, from: Instant, to: Instant) -> f64 {
        let samples = self.samples.lock().expect("sampler lock");
        let at =
            |t: Instant| samples.iter().find(|(when, _)| *when >= t).or(samples.last()).map_or(0.0, |s| s.1);
        at(to) - at(from)
    }
}

impl Drop for CpuSampler {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The median of a few rounds' figures: one round disturbed by the machine's other work
/// does not move it.
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
