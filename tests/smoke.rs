use sockloop::{Config, Reactor, protocols::echo::Echo};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn echo_roundtrip_smoke() {
    let (tx, rx) = mpsc::channel();
    let t = std::thread::spawn(move || {
        let mut r = Reactor::new(Echo, Config::default()).unwrap();
        let addr = r.listen("127.0.0.1:0".parse().unwrap(), 128).unwrap();
        tx.send((addr, r.handle())).unwrap();
        r.run().unwrap();
        r.stats().bytes_in.get()
    });
    let (addr, handle) = rx.recv().unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let data: Vec<u8> = (0..4_000_000u32).map(|i| (i % 251) as u8).collect();
    let w = {
        let mut s2 = s.try_clone().unwrap();
        let d = data.clone();
        std::thread::spawn(move || {
            s2.write_all(&d).unwrap();
            s2.shutdown(Shutdown::Write).unwrap();
        })
    };
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    w.join().unwrap();
    assert_eq!(got.len(), data.len());
    assert!(got == data);
    handle.stop();
    assert_eq!(t.join().unwrap(), data.len() as u64);
}
