//! The turns of `turns.rs` with each server's connections held by a load process of its
//! own: 10,000 connections to each of three servers do not fit in one process where the
//! descriptor limit is 20,000. This process says `go` to one load process at a time and
//! reads back its turn; each load process runs `turns::serve_stdio`, pinned (like this
//! one) to CPU 0, and sleeps between its turns.

use super::turns::{Plan, Target, Turn};
use std::io::{self, BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

/// One load process: the command line it is started with names its server and the plan.
struct Load {
    child: Child,
    to: ChildStdin,
    from: BufReader<ChildStdout>,
}

impl Load {
    fn start(exe: &str, target: Target, plan: Plan) -> io::Result<Load> {
        let mut child = Command::new(exe)
            .args(["turns-load", &target.addr.to_string(), &target.pid.to_string()])
            .args([plan.clients.to_string(), plan.size.to_string(), plan.turn.as_millis().to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let to = child.stdin.take().ok_or_else(|| io::Error::other("no stdin"))?;
        let from = BufReader::new(child.stdout.take().ok_or_else(|| io::Error::other("no stdout"))?);
        Ok(Load { child, to, from })
    }

    fn line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.from.read_line(&mut line)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "a load process ended early"));
        }
        Ok(line)
    }

    fn turn(&mut self) -> io::Result<(Turn, u64)> {
        self.to.write_all(b"go\n")?;
        let line = self.line()?;
        Turn::parse(&line)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("not a turn: {line:?}")))
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        // Killed rather than waited for: it may be stuck connecting, and nothing it would
        // still do matters (the end of its stdin would stop it too).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// As `turns::run`, with one load process per server (`exe turns-load ...` runs
/// `turns::serve_stdio`).
pub fn run(exe: &str, targets: &[Target], plan: Plan) -> io::Result<(Vec<Vec<Turn>>, u64)> {
    let mut loads = Vec::new();
    for &target in targets {
        loads.push(Load::start(exe, target, plan)?);
    }
    for load in &mut loads {
        let line = load.line()?;
        if line.trim() != "ready" {
            return Err(io::Error::other(format!("load process: {line:?}")));
        }
    }
    let mut measured = vec![Vec::new(); targets.len()];
    let mut errors = vec![0; targets.len()];
    for round in 0..plan.warm + plan.rounds {
        for k in 0..targets.len() {
            // The order rotates from round to round, as in `turns::run`.
            let i = (k + round) % targets.len();
            let (turn, errs) = loads[i].turn()?;
            errors[i] = errs;
            if round >= plan.warm {
                measured[i].push(turn);
            }
        }
    }
    Ok((measured, errors.iter().sum()))
}

/// A load process: `turns-load ADDR PID CLIENTS SIZE TURN_MS`, as [`Load::start`] runs it.
pub fn load_main(args: &[String]) {
    let arg = |i: usize| args.get(i).map_or("", String::as_str);
    let number =
        |i: usize| arg(i).parse::<u64>().unwrap_or_else(|_| panic!("turns-load: bad argument {}", arg(i)));
    let target = Target {
        addr: arg(0).parse().unwrap_or_else(|_| panic!("turns-load: bad address {}", arg(0))),
        pid: number(1) as u32,
    };
    let plan = Plan {
        clients: number(2) as u32,
        size: number(3) as usize,
        turn: Duration::from_millis(number(4)),
        rounds: 0,
        warm: 0,
    };
    if let Err(e) = super::turns::serve_stdio(target, plan) {
        eprintln!("turns-load {}: {e}", target.addr);
        std::process::exit(1);
    }
}
