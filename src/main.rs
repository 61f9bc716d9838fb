//! `sockloop`: parse the command line, run the subcommand, turn its error into one line.

mod cli;

use clap::Parser;
use cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Serve(args) => {
            cli::init_logging("info");
            cli::serve::run(args)
        }
        Command::Stress(args) => {
            cli::init_logging("warn");
            match cli::stress::run(args) {
                // The report is out; errors counted in it make the exit status non-zero.
                Ok(false) => return ExitCode::FAILURE,
                other => other.map(|_| ()),
            }
        }
        Command::Connect(args) => {
            // stdout carries only the server's bytes, and stderr stays quiet unless asked.
            cli::init_logging("warn");
            cli::connect::run(args)
        }
        Command::Chat(args) => {
            // stdout is the room; stderr stays quiet unless asked.
            cli::init_logging("warn");
            cli::chat::run(args)
        }
        Command::Framed(args) => {
            // stdout carries only the replies' texts; stderr stays quiet unless asked.
            cli::init_logging("warn");
            cli::framed::run(args)
        }
        Command::Relay(args) => {
            cli::init_logging("warn");
            cli::relay::run(args)
        }
        Command::Ping(args) => {
            // stdout carries the ping lines and the report; stderr stays quiet unless asked.
            cli::init_logging("warn");
            match cli::ping::run(args) {
                // The report is out; no reply at all makes the exit status non-zero, as with ping(8).
                Ok(false) => return ExitCode::FAILURE,
                other => other.map(|_| ()),
            }
        }
        Command::Get(args) => {
            // stdout carries the one `saved ...` line; stderr the progress bar.
            cli::init_logging("warn");
            cli::get::run(args)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("sockloop: {message}");
            ExitCode::FAILURE
        }
    }
}
