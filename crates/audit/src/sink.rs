//! Copies of committed events for a SIEM: standard output (one CloudTrail
//! record per line) and syslog (RFC 5424, facility "log audit", over a Unix
//! datagram socket such as `/dev/log`, UDP, or TCP with one message per
//! line). They are fed after the trail's sync, from a bounded queue on their
//! own thread, so a slow or absent collector never holds up requests: when
//! the queue is full, copies are dropped and counted in the log. The files
//! are the record; these are copies.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};

/// Where copies go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkConfig {
    /// Standard output.
    Stdout,
    /// A syslog collector.
    Syslog(SyslogTarget),
}

/// A syslog collector's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyslogTarget {
    /// A Unix datagram socket (`unix:/dev/log`).
    Unix(PathBuf),
    /// UDP (`udp:HOST:PORT`).
    Udp(SocketAddr),
    /// TCP, newline-framed (`tcp:HOST:PORT`).
    Tcp(SocketAddr),
}

impl std::str::FromStr for SyslogTarget {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?}: expected unix:/path, udp:IP:PORT or tcp:IP:PORT");
        let (scheme, rest) = s.split_once(':').ok_or_else(bad)?;
        match scheme {
            "unix" if rest.starts_with('/') => Ok(SyslogTarget::Unix(PathBuf::from(rest))),
            "udp" => rest.parse().map(SyslogTarget::Udp).map_err(|_| bad()),
            "tcp" => rest.parse().map(SyslogTarget::Tcp).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
}

const QUEUE: usize = 65_536;

/// The copying thread's inbox (none when no sink is configured).
#[derive(Debug)]
pub(crate) struct Sinks {
    tx: Option<SyncSender<Vec<u8>>>,
    dropped: u64,
}

impl Sinks {
    pub(crate) fn start(configs: &[SinkConfig]) -> Sinks {
        if configs.is_empty() {
            return Sinks {
                tx: None,
                dropped: 0,
            };
        }
        let (tx, rx) = sync_channel::<Vec<u8>>(QUEUE);
        let configs = configs.to_vec();
        let spawned = std::thread::Builder::new()
            .name("audit-sinks".into())
            .spawn(move || {
                let mut outs: Vec<Out> = configs.iter().map(Out::new).collect();
                for record in rx {
                    for out in &mut outs {
                        out.send(&record);
                    }
                }
            });
        match spawned {
            Ok(_) => Sinks {
                tx: Some(tx),
                dropped: 0,
            },
            Err(e) => {
                tracing::error!(error = %e, "audit: cannot start the stdout/syslog copy thread");
                Sinks {
                    tx: None,
                    dropped: 0,
                }
            }
        }
    }

    /// Whether any copy is configured (the writer then hands records over
    /// instead of dropping them).
    pub(crate) fn active(&self) -> bool {
        self.tx.is_some()
    }

    pub(crate) fn send(&mut self, record: Vec<u8>) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(record) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped += 1;
                if self.dropped.is_power_of_two() {
                    tracing::warn!(dropped = self.dropped, "audit: the stdout/syslog copies fall behind; copies were dropped (the trail files have every event)");
                }
            }
        }
    }
}

enum Out {
    Stdout,
    Syslog {
        target: SyslogTarget,
        host: String,
        conn: Option<Conn>,
    },
}

enum Conn {
    Unix(std::os::unix::net::UnixDatagram),
    Udp(std::net::UdpSocket),
    Tcp(std::net::TcpStream),
}

impl Out {
    fn new(c: &SinkConfig) -> Out {
        match c {
            SinkConfig::Stdout => Out::Stdout,
            SinkConfig::Syslog(target) => Out::Syslog {
                target: target.clone(),
                host: std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .map(|h| h.trim().to_string())
                    .ok()
                    .filter(|h| !h.is_empty() && h.is_ascii())
                    .unwrap_or_else(|| "-".to_string()),
                conn: None,
            },
        }
    }

    fn send(&mut self, record: &[u8]) {
        match self {
            Out::Stdout => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(record).and_then(|()| out.write_all(b"\n"));
                let _ = out.flush();
            }
            Out::Syslog { target, host, conn } => {
                // <110>: facility 13 (log audit), severity 6 (informational).
                let mut msg = format!(
                    "<110>1 {} {host} trent - - - ",
                    crate::iso_seconds(crate::now_ms())
                )
                .into_bytes();
                msg.extend_from_slice(record);
                if conn.is_none() {
                    *conn = connect(target);
                }
                let sent = match conn {
                    Some(Conn::Unix(s)) => s.send(&msg).map(|_| ()),
                    Some(Conn::Udp(s)) => s.send(&msg).map(|_| ()),
                    Some(Conn::Tcp(s)) => {
                        msg.push(b'\n');
                        s.write_all(&msg)
                    }
                    None => return,
                };
                if sent.is_err() {
                    *conn = None;
                }
            }
        }
    }
}

fn connect(target: &SyslogTarget) -> Option<Conn> {
    let r = match target {
        SyslogTarget::Unix(path) => std::os::unix::net::UnixDatagram::unbound()
            .and_then(|s| s.connect(path).map(|()| Conn::Unix(s))),
        SyslogTarget::Udp(addr) => {
            let bind: SocketAddr = if addr.is_ipv4() {
                "0.0.0.0:0".parse().ok()?
            } else {
                "[::]:0".parse().ok()?
            };
            std::net::UdpSocket::bind(bind).and_then(|s| s.connect(addr).map(|()| Conn::Udp(s)))
        }
        SyslogTarget::Tcp(addr) => {
            std::net::TcpStream::connect_timeout(addr, std::time::Duration::from_secs(2))
                .map(Conn::Tcp)
        }
    };
    match r {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = %e, target = ?target, "audit: cannot reach the syslog collector");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_targets_parse() {
        assert_eq!(
            "unix:/dev/log".parse(),
            Ok(SyslogTarget::Unix(PathBuf::from("/dev/log")))
        );
        assert!(matches!(
            "udp:127.0.0.1:514".parse(),
            Ok(SyslogTarget::Udp(_))
        ));
        assert!(matches!("tcp:[::1]:601".parse(), Ok(SyslogTarget::Tcp(_))));
        for bad in ["", "udp:", "unix:relative", "http://x", "tcp:host:1"] {
            assert!(bad.parse::<SyslogTarget>().is_err(), "{bad}");
        }
    }
}
