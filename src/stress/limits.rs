//! Will N connections fit? Every connection is a file descriptor and, towards one
//! destination, one ephemeral port per source address. Running out mid-run shows up as
//! EMFILE or EADDRNOTAVAIL on connection 28,233 after the first 28,232 have warmed up; it is
//! better refused before the start with the numbers and the fix.

use std::io;
use std::ops::RangeInclusive;

/// Descriptors the process needs besides the connections: epoll, the waker, signals,
/// stdio, the start-up socket, a log file.
pub(crate) const RESERVED_FDS: u64 = 64;

/// Raises the soft RLIMIT_NOFILE to the hard limit and returns it: an unprivileged process
/// may do so, and a load generator has no reason to stop at a default of 1024.
pub(crate) fn raise_nofile() -> io::Result<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we pass and nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // An "unlimited" hard limit is still capped by the kernel (fs.nr_open on Linux).
    let ceiling =
        if lim.rlim_max == libc::RLIM_INFINITY { nr_open().unwrap_or(1 << 20) } else { lim.rlim_max };
    if lim.rlim_cur < ceiling {
        let want = libc::rlimit { rlim_cur: ceiling, rlim_max: lim.rlim_max };
        // SAFETY: setrlimit only reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
            lim.rlim_cur = ceiling;
        }
    }
    Ok(lim.rlim_cur)
}

fn nr_open() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/nr_open").ok()?.trim().parse().ok()
}

/// The kernel's ephemeral port range, where it can be read (Linux).
pub(crate) fn ephemeral_ports() -> Option<RangeInclusive<u16>> {
    parse_port_range(&std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?)
}

fn parse_port_range(text: &str) -> Option<RangeInclusive<u16>> {
    let mut parts = text.split_whitespace().map(str::parse::<u16>);
    match (parts.next(), parts.next()) {
        (Some(Ok(low)), Some(Ok(high))) if low <= high => Some(low..=high),
        _ => None,
    }
}

/// Refuses a run that cannot fit, saying what to change.
pub(crate) fn check(
    clients: u32,
    sources: usize,
    fd_limit: u64,
    ports: Option<RangeInclusive<u16>>,
) -> Result<(), String> {
    let need_fds = u64::from(clients) + RESERVED_FDS;
    if need_fds > fd_limit {
        return Err(format!(
            "{clients} clients need about {need_fds} file descriptors, but this process may open only \
             {fd_limit} (the hard RLIMIT_NOFILE). Raise the hard limit (as root: ulimit -Hn {need_fds}; \
             for a service: LimitNOFILE= in its systemd unit; for a user: nofile in \
             /etc/security/limits.conf), or use fewer --clients."
        ));
    }
    if let Some(range) = ports {
        let per_source = u64::from(range.end() - range.start()) + 1;
        let sources = sources.max(1) as u64;
        if u64::from(clients) > per_source * sources {
            let more = u64::from(clients).div_ceil(per_source);
            return Err(format!(
                "{clients} clients to one destination need {clients} ephemeral ports, but \
                 ip_local_port_range {}-{} gives {per_source} per source address and {sources} source \
                 address(es) are in use. Spread them over {more} source addresses (--bind 127.0.0.1 \
                 --bind 127.0.0.2 ... on loopback, which owns all of 127.0.0.0/8), or widen the range \
                 (sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\"), or use fewer --clients.",
                range.start(),
                range.end()
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_or_says_why_not() {
        let ports = Some(32768..=60999);
        assert_eq!(check(10_000, 0, 20_000, ports.clone()), Ok(()));
        let fds = check(30_000, 0, 20_000, ports.clone()).expect_err("too many fds");
        assert!(fds.contains("30064 file descriptors") && fds.contains("ulimit -Hn"), "{fds}");
        let one = check(30_000, 0, 100_000, ports.clone()).expect_err("too few ports");
        assert!(one.contains("28232 per source") && one.contains("2 source addresses"), "{one}");
        assert_eq!(check(30_000, 2, 100_000, ports), Ok(()));
        assert_eq!(check(30_000, 1, 100_000, None), Ok(()), "unknown range: not checked");
    }

    #[test]
    fn port_range_file() {
        assert_eq!(parse_port_range("32768\t60999\n"), Some(32768..=60999));
        assert_eq!(parse_port_range("junk"), None);
        assert_eq!(parse_port_range("9 1"), None);
    }

    #[test]
    fn raising_never_lowers() {
        let before = raise_nofile().expect("getrlimit");
        assert!(raise_nofile().expect("getrlimit") >= before);
    }
}
