//! The key record and its state machine.
//!
//! A record is immutable data; every transition returns a new record with its
//! `revision` increased, which the caller writes back only if the stored
//! revision is still the one it read (compare-and-swap). Two racing rotations
//! therefore cannot both win, and neither version is lost: the loser reloads
//! and tries again on top of the winner's record.

use crate::clock::{Millis, DAY_MS};
use crate::error::KeyError;
use crate::ids::KeyLocator;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use trent_proto::{KeySpec, KeyState, KeyUsageType, OriginType, RotationType};

/// Default and bounds of automatic rotation, in days.
pub const DEFAULT_ROTATION_DAYS: u32 = 365;
/// Default waiting period before deletion, in days.
pub const DEFAULT_DELETION_WINDOW_DAYS: u32 = 30;
/// Maximum number of on-demand rotations of one key.
pub const MAX_ON_DEMAND_ROTATIONS: u32 = 25;
/// Maximum number of tags on one key.
pub const MAX_TAGS: usize = 50;

/// One version of key material, wrapped under the root key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyVersion {
    /// 1 for the material the key was created with, then +1 per rotation.
    pub number: u32,
    /// `KeyMaterialId`: 64 lowercase hex digits.
    pub material_id: String,
    /// When this material was made.
    pub created_at: Millis,
    /// How it came to be, for all but the first.
    pub rotation_type: Option<RotationType>,
    /// The material, wrapped by the root key (see [`KeyVersion::wrap_aad`]).
    #[serde(with = "b64")]
    pub wrapped: Vec<u8>,
}

impl std::fmt::Debug for KeyVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyVersion")
            .field("number", &self.number)
            .field("material_id", &self.material_id)
            .field("created_at", &self.created_at)
            .field("rotation_type", &self.rotation_type)
            .finish_non_exhaustive()
    }
}

impl KeyVersion {
    /// The additional data the root key binds wrapped material to: which key
    /// and which version. Swapping wrapped material between keys or versions
    /// in the database makes unwrapping fail.
    pub fn wrap_aad(locator: &KeyLocator, number: u32) -> Vec<u8> {
        format!("trent/v1/key-material/{}/{number}", locator.arn()).into_bytes()
    }
}

mod b64 {
    use super::*;
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD.decode(s).map_err(serde::de::Error::custom)
    }
}

/// Automatic rotation settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    /// Whether automatic rotation is on.
    pub enabled: bool,
    /// `RotationPeriodInDays`.
    pub period_days: u32,
    /// When the next automatic rotation is due (when enabled).
    pub next_at: Option<Millis>,
}

/// A scheduled deletion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deletion {
    /// When the key and its material are destroyed.
    pub date: Millis,
    /// The waiting period that was asked for.
    pub window_days: u32,
}

/// Everything Trent keeps about one KMS key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Region, account, id.
    pub locator: KeyLocator,
    /// Bumped by every transition; the compare-and-swap token.
    pub revision: u64,
    /// `CreationDate`.
    pub created_at: Millis,
    /// `Description`.
    pub description: String,
    /// `KeyUsage`.
    pub usage: KeyUsageType,
    /// `KeySpec`.
    pub spec: KeySpec,
    /// `Origin`.
    pub origin: OriginType,
    /// `KeyState`.
    pub state: KeyState,
    /// Set while `PendingDeletion`.
    pub deletion: Option<Deletion>,
    /// The key policy document, verbatim.
    pub policy: String,
    /// Tags, in the order they were first set.
    pub tags: Vec<(String, String)>,
    /// Automatic rotation.
    pub rotation: Rotation,
    /// Key material versions, oldest first; the last is current.
    pub versions: Vec<KeyVersion>,
    /// How many on-demand rotations were made.
    pub on_demand_rotations: u32,
}

impl KeyRecord {
    /// A new, enabled, symmetric encryption key with its first version.
    pub fn new_symmetric(
        locator: KeyLocator,
        now: Millis,
        description: String,
        policy: String,
        tags: Vec<(String, String)>,
        first: KeyVersion,
    ) -> KeyRecord {
        Self::new(
            locator,
            now,
            (KeySpec::SymmetricDefault, KeyUsageType::EncryptDecrypt),
            description,
            policy,
            tags,
            first,
        )
    }

    /// A new, enabled key of `spec` for `usage` (a pair the caller checked
    /// against [`crate::spec::usages`]) with its first version.
    pub fn new(
        locator: KeyLocator,
        now: Millis,
        (spec, usage): (KeySpec, KeyUsageType),
        description: String,
        policy: String,
        tags: Vec<(String, String)>,
        first: KeyVersion,
    ) -> KeyRecord {
        KeyRecord {
            locator,
            revision: 1,
            created_at: now,
            description,
            usage,
            spec,
            origin: OriginType::AwsKms,
            state: KeyState::Enabled,
            deletion: None,
            policy,
            tags,
            rotation: Rotation {
                enabled: false,
                period_days: DEFAULT_ROTATION_DAYS,
                next_at: None,
            },
            versions: vec![first],
            on_demand_rotations: 0,
        }
    }

    /// The key ARN.
    pub fn arn(&self) -> String {
        self.locator.arn()
    }

    /// The current (newest) version.
    pub fn current(&self) -> &KeyVersion {
        // A record always has at least one version: every constructor makes one.
        &self.versions[self.versions.len() - 1]
    }

    /// A version by number.
    pub fn version(&self, number: u32) -> Option<&KeyVersion> {
        self.versions.iter().find(|v| v.number == number)
    }

    /// When the background task must next look at this key: the end of its
    /// deletion window, or its next automatic rotation while enabled.
    pub fn due_at(&self) -> Option<Millis> {
        match self.state {
            KeyState::PendingDeletion => self.deletion.as_ref().map(|d| d.date),
            KeyState::Enabled if self.rotation.enabled => self.rotation.next_at,
            _ => None,
        }
    }

    fn next(&self) -> KeyRecord {
        let mut r = self.clone();
        r.revision += 1;
        r
    }

    fn refuse_pending_deletion(&self) -> Result<(), KeyError> {
        if self.state == KeyState::PendingDeletion {
            return Err(KeyError::PendingDeletion { arn: self.arn() });
        }
        Ok(())
    }

    /// Whether the key can be used now for an operation that needs `usage`.
    pub fn check_usable(
        &self,
        usage: KeyUsageType,
        operation: &'static str,
    ) -> Result<(), KeyError> {
        check_usable(self.state, self.usage, usage, operation, || self.arn())
    }

    /// Whether the key can be changed by a management operation (tags,
    /// description, aliases): anything but pending deletion.
    pub fn check_mutable(&self) -> Result<(), KeyError> {
        self.refuse_pending_deletion()
    }

    /// EnableKey.
    pub fn enable(&self) -> Result<KeyRecord, KeyError> {
        self.refuse_pending_deletion()?;
        let mut r = self.next();
        r.state = KeyState::Enabled;
        Ok(r)
    }

    /// DisableKey.
    pub fn disable(&self) -> Result<KeyRecord, KeyError> {
        self.refuse_pending_deletion()?;
        let mut r = self.next();
        r.state = KeyState::Disabled;
        Ok(r)
    }

    /// ScheduleKeyDeletion (the window, 7 to 30 days, is checked by the caller).
    pub fn schedule_deletion(&self, now: Millis, window_days: u32) -> Result<KeyRecord, KeyError> {
        self.refuse_pending_deletion()?;
        let mut r = self.next();
        r.state = KeyState::PendingDeletion;
        r.deletion = Some(Deletion {
            date: now + i64::from(window_days) * DAY_MS,
            window_days,
        });
        Ok(r)
    }

    /// CancelKeyDeletion: the key comes back Disabled, as in AWS.
    pub fn cancel_deletion(&self) -> Result<KeyRecord, KeyError> {
        if self.state != KeyState::PendingDeletion {
            return Err(KeyError::NotPendingDeletion { arn: self.arn() });
        }
        let mut r = self.next();
        r.state = KeyState::Disabled;
        r.deletion = None;
        Ok(r)
    }

    /// UpdateKeyDescription.
    pub fn with_description(&self, description: String) -> Result<KeyRecord, KeyError> {
        self.refuse_pending_deletion()?;
        let mut r = self.next();
        r.description = description;
        Ok(r)
    }

    /// PutKeyPolicy (allowed in every state).
    pub fn with_policy(&self, policy: String) -> KeyRecord {
        let mut r = self.next();
        r.policy = policy;
        r
    }

    /// TagResource: new keys are appended, existing keys get the new value.
    /// Returns `None` if the result would exceed [`MAX_TAGS`].
    pub fn with_tags(&self, tags: &[(String, String)]) -> Result<Option<KeyRecord>, KeyError> {
        self.refuse_pending_deletion()?;
        let mut r = self.next();
        for (k, v) in tags {
            match r.tags.iter_mut().find(|(ek, _)| ek == k) {
                Some(slot) => slot.1 = v.clone(),
                None => r.tags.push((k.clone(), v.clone())),
            }
        }
        Ok((r.tags.len() <= MAX_TAGS).then_some(r))
    }

    /// UntagResource: missing keys are ignored.
    pub fn without_tags(&self, keys: &[String]) -> Result<KeyRecord, KeyError> {
        self.refuse_pending_deletion()?;
        let mut r = self.next();
        r.tags.retain(|(k, _)| !keys.contains(k));
        Ok(r)
    }

    fn check_rotatable(&self) -> Result<(), KeyError> {
        if self.spec != KeySpec::SymmetricDefault || self.origin != OriginType::AwsKms {
            return Err(KeyError::RotationUnsupported { arn: self.arn() });
        }
        match self.state {
            KeyState::Enabled => Ok(()),
            KeyState::Disabled => Err(KeyError::Disabled { arn: self.arn() }),
            _ => Err(KeyError::PendingDeletion { arn: self.arn() }),
        }
    }

    /// EnableKeyRotation. Turning it on schedules the first rotation one
    /// period from now; changing the period of an enabled schedule moves the
    /// next rotation to one new period after the current material was made
    /// (but never into the past).
    pub fn enable_rotation(&self, now: Millis, period_days: u32) -> Result<KeyRecord, KeyError> {
        self.check_rotatable()?;
        let mut r = self.next();
        let period = i64::from(period_days) * DAY_MS;
        let next_at = if self.rotation.enabled {
            (self.current().created_at + period).max(now)
        } else {
            now + period
        };
        r.rotation = Rotation {
            enabled: true,
            period_days,
            next_at: Some(next_at),
        };
        Ok(r)
    }

    /// DisableKeyRotation. AWS accepts it for keys that cannot rotate too
    /// (there is nothing to turn off); the state rule still applies.
    pub fn disable_rotation(&self) -> Result<KeyRecord, KeyError> {
        if crate::spec::rotates(self.spec) {
            self.check_rotatable()?;
        } else {
            self.refuse_pending_deletion()?;
            if self.state == KeyState::Disabled {
                return Err(KeyError::Disabled { arn: self.arn() });
            }
        }
        let mut r = self.next();
        r.rotation.enabled = false;
        r.rotation.next_at = None;
        Ok(r)
    }

    /// Add a new version of key material. On-demand rotation counts against
    /// [`MAX_ON_DEMAND_ROTATIONS`] and leaves the automatic schedule alone;
    /// automatic rotation moves the schedule one period on.
    pub fn rotate(
        &self,
        now: Millis,
        kind: RotationType,
        material_id: String,
        wrapped: Vec<u8>,
    ) -> Result<KeyRecord, KeyError> {
        self.check_rotatable()?;
        if kind == RotationType::OnDemand && self.on_demand_rotations >= MAX_ON_DEMAND_ROTATIONS {
            return Err(KeyError::OnDemandRotationLimit { arn: self.arn() });
        }
        let mut r = self.next();
        r.versions.push(KeyVersion {
            number: self.current().number + 1,
            material_id,
            created_at: now,
            rotation_type: Some(kind),
            wrapped,
        });
        match kind {
            RotationType::OnDemand => r.on_demand_rotations += 1,
            _ => {
                r.rotation.next_at = Some(now + i64::from(r.rotation.period_days) * DAY_MS);
            }
        }
        Ok(r)
    }

    /// The number the next version will get.
    pub fn next_version_number(&self) -> u32 {
        self.current().number + 1
    }

    /// Whether an automatic rotation is due at `now`.
    pub fn rotation_due(&self, now: Millis) -> bool {
        self.state == KeyState::Enabled
            && self.rotation.enabled
            && self.rotation.next_at.is_some_and(|t| t <= now)
    }

    /// Whether the deletion window has passed at `now`.
    pub fn deletion_due(&self, now: Millis) -> bool {
        self.state == KeyState::PendingDeletion
            && self.deletion.as_ref().is_some_and(|d| d.date <= now)
    }
}

/// The usage and state rule of cryptographic operations, shared by the
/// stored record and the service's hot-path cache entry. Usage is checked
/// before state, as AWS does: a disabled HMAC key asked to Encrypt is told
/// about its usage.
pub fn check_usable(
    state: KeyState,
    usage: KeyUsageType,
    required: KeyUsageType,
    operation: &'static str,
    arn: impl FnOnce() -> String,
) -> Result<(), KeyError> {
    if usage != required {
        return Err(KeyError::WrongUsage {
            arn: arn(),
            usage: usage.to_string(),
            operation,
        });
    }
    match state {
        KeyState::Enabled => Ok(()),
        KeyState::Disabled => Err(KeyError::Disabled { arn: arn() }),
        _ => Err(KeyError::PendingDeletion { arn: arn() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AccountId, KeyId, Region};

    fn version(n: u32) -> KeyVersion {
        KeyVersion {
            number: n,
            material_id: format!("{n:064x}"),
            created_at: 0,
            rotation_type: None,
            wrapped: vec![n as u8],
        }
    }

    fn record() -> KeyRecord {
        let loc = KeyLocator {
            region: Region::parse("us-east-1").unwrap(),
            account: AccountId::parse("111122223333").unwrap(),
            key_id: KeyId::from_random([7; 16]),
        };
        KeyRecord::new_symmetric(loc, 0, String::new(), "{}".into(), vec![], version(1))
    }

    #[test]
    fn lifecycle() {
        let k = record();
        assert!(k
            .check_usable(KeyUsageType::EncryptDecrypt, "Encrypt")
            .is_ok());
        let d = k.disable().unwrap();
        assert_eq!(d.revision, 2);
        assert!(matches!(
            d.check_usable(KeyUsageType::EncryptDecrypt, "Encrypt"),
            Err(KeyError::Disabled { .. })
        ));
        let p = d.schedule_deletion(1000, 7).unwrap();
        assert_eq!(p.deletion.as_ref().unwrap().date, 1000 + 7 * DAY_MS);
        assert_eq!(p.due_at(), Some(1000 + 7 * DAY_MS));
        assert!(matches!(
            p.check_usable(KeyUsageType::EncryptDecrypt, "Encrypt"),
            Err(KeyError::PendingDeletion { .. })
        ));
        assert!(matches!(p.enable(), Err(KeyError::PendingDeletion { .. })));
        assert!(matches!(
            p.schedule_deletion(0, 7),
            Err(KeyError::PendingDeletion { .. })
        ));
        let c = p.cancel_deletion().unwrap();
        assert_eq!(c.state, KeyState::Disabled);
        assert!(c.deletion.is_none());
        assert!(matches!(
            c.cancel_deletion(),
            Err(KeyError::NotPendingDeletion { .. })
        ));
        assert_eq!(
            KeyError::PendingDeletion { arn: "A".into() }.to_string(),
            "A is pending deletion."
        );
    }

    #[test]
    fn rotation_schedule_and_limits() {
        let k = record();
        let e = k.enable_rotation(10, 90).unwrap();
        assert_eq!(e.rotation.next_at, Some(10 + 90 * DAY_MS));
        assert!(!e.rotation_due(10));
        assert!(e.rotation_due(10 + 90 * DAY_MS));
        let r = e
            .rotate(
                10 + 90 * DAY_MS,
                RotationType::Automatic,
                "x".into(),
                vec![],
            )
            .unwrap();
        assert_eq!(r.current().number, 2);
        assert_eq!(r.rotation.next_at, Some(10 + 180 * DAY_MS));
        // On-demand rotation leaves the schedule alone and is limited.
        let mut o = r.clone();
        for _ in 0..MAX_ON_DEMAND_ROTATIONS {
            o = o
                .rotate(5, RotationType::OnDemand, "y".into(), vec![])
                .unwrap();
        }
        assert_eq!(o.rotation.next_at, r.rotation.next_at);
        assert!(matches!(
            o.rotate(5, RotationType::OnDemand, "z".into(), vec![]),
            Err(KeyError::OnDemandRotationLimit { .. })
        ));
        // Disabled keys neither rotate nor come due.
        let d = r.disable().unwrap();
        assert_eq!(d.due_at(), None);
        assert!(matches!(
            d.rotate(0, RotationType::OnDemand, "q".into(), vec![]),
            Err(KeyError::Disabled { .. })
        ));
    }

    #[test]
    fn tags_replace_and_limit() {
        let k = record();
        let t = k
            .with_tags(&[("a".into(), "1".into()), ("b".into(), "2".into())])
            .unwrap()
            .unwrap();
        let t = t.with_tags(&[("a".into(), "3".into())]).unwrap().unwrap();
        assert_eq!(
            t.tags,
            vec![("a".into(), "3".into()), ("b".into(), "2".into())]
        );
        let many: Vec<(String, String)> = (0..51).map(|i| (i.to_string(), String::new())).collect();
        assert!(k.with_tags(&many).unwrap().is_none());
        let u = t.without_tags(&["a".into(), "zz".into()]).unwrap();
        assert_eq!(u.tags, vec![("b".into(), "2".into())]);
    }

    #[test]
    fn debug_hides_wrapped_material() {
        let v = version(1);
        assert!(!format!("{v:?}").contains("wrapped"));
    }
}
