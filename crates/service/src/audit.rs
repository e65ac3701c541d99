//! The service's part of the audit trail: the digest signing key, and the
//! events of work done without a request (AWS's service events). Request
//! events are built by the HTTP layer from the request context and
//! [`crate::AuditNotes`].

use crate::{InternalError, Kms, ServiceError, StartupError};
use std::sync::Arc;
use trent_audit::event::Json;
use trent_audit::{Event, Resource, UserIdentity};
use trent_core::ids::KeyLocator;
use trent_core::{CryptoProvider, RootKey, SigningKey};
use trent_store::KeyStore;

const SIGNING_KEY_META: &str = "audit-signing-key";
const SIGNING_KEY_AAD: &[u8] = b"trent/v1/audit-signing-key";

/// The audit signing key (ECDSA P-256): made by the crypto provider at a
/// store's first start and kept in the store wrapped under the root key, so
/// every node of a store signs with the same key and a copy of the data
/// directory without the root key cannot forge a digest.
pub async fn signing_key(
    store: &dyn KeyStore,
    provider: &dyn CryptoProvider,
    root: &dyn RootKey,
) -> Result<Arc<dyn SigningKey>, StartupError> {
    use StartupError as E;
    let wrapped = match store.get_meta(SIGNING_KEY_META).await.map_err(E::Store)? {
        Some(w) => w,
        None => {
            let fresh = provider.generate_ecdsa_p256().map_err(E::Crypto)?;
            let wrapped = root.wrap(&fresh, SIGNING_KEY_AAD).map_err(E::Crypto)?;
            store
                .put_meta_if_absent(SIGNING_KEY_META, &wrapped)
                .await
                .map_err(E::Store)?;
            // Another node may have stored its key first: use the stored one.
            store
                .get_meta(SIGNING_KEY_META)
                .await
                .map_err(E::Store)?
                .unwrap_or(wrapped)
        }
    };
    let pkcs8 = root
        .unwrap(&wrapped, SIGNING_KEY_AAD)
        .map_err(|_| E::WrongRootKey)?;
    provider.prepare_ecdsa_p256(&pkcs8).map_err(E::Crypto)
}

/// A key as an event's `resources` entry.
pub fn key_resource(arn: &str) -> Resource {
    Resource {
        account_id: arn.split(':').nth(4).unwrap_or_default().to_string(),
        kind: "AWS::KMS::Key",
        arn: arn.to_string(),
    }
}

fn json(v: &serde_json::Value) -> Option<Json> {
    serde_json::value::to_raw_value(v).ok()
}

impl Kms {
    /// A new event id (a random version-4 UUID).
    pub fn new_event_id(&self) -> String {
        let mut b = [0u8; 16];
        let _ = self.provider.fill_random(&mut b);
        uuid4(b)
    }

    /// Record a service event for `loc`: `name` (`RotateKey`, `DeleteKey`)
    /// with `details` as `serviceEventDetails`.
    pub(crate) async fn service_event(
        &self,
        loc: &KeyLocator,
        name: &str,
        details: Option<serde_json::Value>,
    ) -> Result<(), ServiceError> {
        if !self.trail.enabled() {
            return Ok(());
        }
        let now = self.clock.now();
        let mut e = Event::api_call(
            "kms.amazonaws.com",
            name,
            loc.region.as_str(),
            self.new_event_id(),
            now,
        );
        e.event_type = "AwsServiceEvent";
        e.user_identity = UserIdentity {
            account_id: Some(loc.account.to_string()),
            invoked_by: Some("AWS Internal"),
            ..UserIdentity::default()
        };
        e.source_ip_address = "AWS Internal".into();
        e.user_agent = "AWS Internal".into();
        e.resources = vec![key_resource(&loc.arn())];
        e.recipient_account_id = loc.account.to_string();
        e.service_event_details = details.as_ref().and_then(json);
        self.trail
            .record(&e)
            .await
            .map_err(|e| ServiceError::Internal(InternalError::Audit(e)))
    }
}

/// 16 random bytes as a version-4 UUID.
pub fn uuid4(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}
