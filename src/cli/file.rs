//! `sockloop serve file`: the options of the file server and the handler they make. The
//! reactor set-up is `serve.rs`'s, like every other server's.

use clap::Args;
use sockloop::protocols::file::{ClassicServer, FileServer, Root, Secret, auth};
use std::path::PathBuf;

pub const HELP: &str = "\
Our protocol (lines): the client sends `AUTH <token>` and `GET <name> [<offset>]`; the server
answers `OK`, then `FILE <size> <blake3>` and the bytes from the offset, or `ERR <code> <why>`
(400 bad request, 401 bad token, 403 not allowed, 404 not found, 416 bad offset). Names are
relative to --root, percent-encoded; `..`, absolute names and symlinks out of the root are
refused. Wrong tokens are answered ever more slowly, per address, and logged.

--classic: the lab program's protocol, byte for byte: the first read is the key; the reply is
AUTH_SUCCESS and, 50 ms later, the raw bytes of --file and the close, or AUTH_ERROR.

The secret comes from --token-file (one line) or $SOCKLOOP_TOKEN, never the command line.

Examples:
  sockloop serve file --root /srv/files --token-file ~/.sockloop-token
  sockloop get 127.0.0.1:7000 notes.txt --token-file ~/.sockloop-token
  printf 'AUTH s3cret\\nGET notes.txt\\n' | nc -N 127.0.0.1 7000
  sockloop serve file --classic --file report.pdf --token-file key   # key holds SECRET_KEY
  printf SECRET_KEY | nc 127.0.0.1 7000 | tail -c +13 > got.pdf";

#[derive(Args, Debug)]
pub struct FileArgs {
    /// Serve the regular files under this directory.
    #[arg(long, value_name = "DIR", required_unless_present = "classic")]
    root: Option<PathBuf>,
    /// Read the secret from this file (one line; a trailing newline is ignored).
    /// [default: $SOCKLOOP_TOKEN]
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Speak the classic lab protocol, sending the one file given by --file.
    #[arg(long, requires = "file", conflicts_with = "root")]
    classic: bool,
    /// The file a --classic server sends.
    #[arg(long, value_name = "PATH", requires = "classic")]
    file: Option<PathBuf>,
    /// Send files with read+write through one buffer instead of sendfile(2).
    #[arg(long)]
    pub no_sendfile: bool,
}

/// The handler the options ask for.
pub enum Server {
    Ours(FileServer),
    Classic(ClassicServer),
}

impl FileArgs {
    /// Reads the secret and checks the root (or the classic file) now, before listening.
    pub fn server(&self) -> Result<Server, String> {
        let secret = Secret::new(&auth::load_token(self.token_file.as_deref())?);
        match (&self.file, &self.root) {
            (Some(file), _) if self.classic => ClassicServer::new(file.clone(), secret)
                .map(Server::Classic)
                .map_err(|e| format!("cannot serve {}: {e}", file.display())),
            (_, Some(root)) => {
                let root = Root::new(root).map_err(|e| format!("bad --root {}: {e}", root.display()))?;
                log::info!("serving files under {}", root.path().display());
                Ok(Server::Ours(FileServer::new(root, secret)))
            }
            _ => Err("give --root DIR, or --classic --file PATH".into()),
        }
    }
}
