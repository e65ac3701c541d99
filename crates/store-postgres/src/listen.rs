//! The change feed: one connection per node runs `LISTEN trent_changes`
//! (the triggers of migration 2 announce every committed change there) and
//! turns each announcement into a [`Change`] for the service's cache.
//!
//! Announcements made while this connection is down are lost, so losing it
//! is itself a change: [`Change::Lost`] (the cache empties and stops
//! caching), then, once listening again, [`Change::Resumed`] (the cache
//! empties again and caches anew). A connection that hangs without closing
//! is found by a ping every [`PING`]: no answer within [`PING_DEADLINE`]
//! counts as lost, so a node never serves from a cache that may have missed
//! a change for longer than about `PING + PING_DEADLINE`.

use crate::{pg, Tls};
use futures_util::StreamExt as _;
use std::sync::Weak;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{AsyncMessage, Socket};
use trent_core::ids::{AccountId, KeyId, KeyLocator, Region};
use trent_store::{Change, StoreError};

/// How often the listening connection is checked.
pub(crate) const PING: Duration = Duration::from_millis(250);
/// How long a check may take before the connection counts as lost.
pub(crate) const PING_DEADLINE: Duration = Duration::from_millis(500);
/// The longest wait between two attempts to listen again.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The channel the triggers announce on.
pub const CHANNEL: &str = "trent_changes";

struct Listening {
    client: tokio_postgres::Client,
    payloads: mpsc::UnboundedReceiver<String>,
}

/// Listen now (failing if the database cannot be reached), then keep
/// listening in the background until every handle of the store is gone.
pub(crate) async fn start(
    config: tokio_postgres::Config,
    tls: Tls,
    changes: broadcast::Sender<Change>,
    alive: Weak<()>,
) -> Result<(), StoreError> {
    let first = open(&config, &tls).await?;
    tokio::spawn(run(config, tls, changes, alive, first));
    Ok(())
}

/// Connect and LISTEN, within the connection's deadline (a server that
/// accepts and then goes silent must not stall the listener).
async fn open(config: &tokio_postgres::Config, tls: &Tls) -> Result<Listening, StoreError> {
    let deadline = config
        .get_connect_timeout()
        .copied()
        .unwrap_or(Duration::from_secs(5));
    let attempt = async {
        match tls {
            Tls::Off(t) => open_with(config, *t).await,
            Tls::On(t) => open_with(config, t.clone()).await,
        }
    };
    match tokio::time::timeout(deadline, attempt).await {
        Ok(r) => r.map_err(pg),
        Err(_) => Err(StoreError::Unavailable(Box::new(crate::DeadlineExceeded(
            deadline,
        )))),
    }
}

async fn open_with<T>(
    config: &tokio_postgres::Config,
    tls: T,
) -> Result<Listening, tokio_postgres::Error>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    let (client, mut connection) = config.connect(tls).await?;
    let (tx, payloads) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n.payload().to_string()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "the connection that hears changes ended");
                    return;
                }
            }
        }
        // Dropping `tx` tells the listener the connection is gone.
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    Ok(Listening { client, payloads })
}

async fn run(
    config: tokio_postgres::Config,
    tls: Tls,
    changes: broadcast::Sender<Change>,
    alive: Weak<()>,
    first: Listening,
) {
    let mut current = Some(first);
    let mut backoff = Duration::from_millis(50);
    loop {
        let listening = match current.take() {
            Some(l) => l,
            None => match open(&config, &tls).await {
                Ok(l) => {
                    tracing::info!(
                        "hearing changes from the database again; the cache starts afresh"
                    );
                    let _ = changes.send(Change::Resumed);
                    backoff = Duration::from_millis(50);
                    l
                }
                Err(e) => {
                    if alive.upgrade().is_none() {
                        return;
                    }
                    tracing::debug!(error = %e, "cannot listen for changes yet");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            },
        };
        if !hear(listening, &changes, &alive).await {
            return;
        }
        tracing::warn!("lost the database connection that hears other nodes' changes: caching is off until it is back");
        let _ = changes.send(Change::Lost);
    }
}

/// Forward announcements until the connection is lost (`true`) or the
/// store is gone (`false`).
async fn hear(mut l: Listening, changes: &broadcast::Sender<Change>, alive: &Weak<()>) -> bool {
    let mut ping = tokio::time::interval(PING);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            p = l.payloads.recv() => match p {
                Some(p) => match parse(&p) {
                    Some(c) => { let _ = changes.send(c); }
                    None => {
                        // Safe side: forget everything.
                        tracing::warn!(payload = %p, "an announcement of a change that this node cannot read; forgetting the whole cache");
                        let _ = changes.send(Change::Resumed);
                    }
                },
                None => return true,
            },
            _ = ping.tick() => {
                if alive.upgrade().is_none() {
                    return false;
                }
                let answered = tokio::time::timeout(PING_DEADLINE, l.client.simple_query("SELECT 1")).await;
                if !matches!(answered, Ok(Ok(_))) {
                    return true;
                }
            }
        }
    }
}

/// An announcement: `k <region> <account> <key id>` or
/// `a <region> <account> <alias name>`.
pub(crate) fn parse(payload: &str) -> Option<Change> {
    let mut parts = payload.splitn(4, ' ');
    let (kind, region, account, rest) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let (region, account) = (Region::parse(region)?, AccountId::parse(account)?);
    match kind {
        "k" => Some(Change::Key(KeyLocator {
            region,
            account,
            key_id: KeyId::parse(rest)?,
        })),
        "a" => Some(Change::Alias {
            region,
            account,
            name: rest.to_string(),
        }),
        _ => None,
    }
}
