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
    /// Empty while imported material is deleted or expired: the version
    /// stays, so the same material can be imported into it again and old
    /// ciphertexts decrypt once more.
    #[serde(with = "b64")]
    pub wrapped: Vec<u8>,
    /// Set for imported material (`Origin` `EXTERNAL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<ImportedMaterial>,
}

/// What is kept about imported key material besides the material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedMaterial {
    /// `ValidTo`; `None` for `KEY_MATERIAL_DOES_NOT_EXPIRE`.
    pub valid_to: Option<Millis>,
    /// `KeyMaterialDescription`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// An import token that was used: refused until it has expired anyway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpentToken {
    /// The token's random id (hex).
    pub id: String,
    /// When the token expires; the entry is dropped after that.
    pub expires_at: Millis,
}

/// `ImportType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    /// `NEW_KEY_MATERIAL`.
    New,
    /// `EXISTING_KEY_MATERIAL`.
    Existing,
}

/// One ImportKeyMaterial request, as the key record sees it.
#[derive(Debug, Clone)]
pub struct Import<'a> {
    /// The id computed from the material (see the service).
    pub material_id: &'a str,
    /// `ImportType`, if given.
    pub kind: Option<ImportKind>,
    /// `KeyMaterialId`, if given: must equal `material_id`.
    pub requested_id: Option<&'a str>,
    /// `ValidTo` (`None`: does not expire).
    pub valid_to: Option<Millis>,
    /// `KeyMaterialDescription`.
    pub description: Option<&'a str>,
    /// The token's id and expiry.
    pub token: SpentToken,
}

/// A multi-Region key's configuration, kept on the primary and on every
/// replica (each record is complete, so a Region can answer alone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiRegion {
    /// The primary key's Region.
    pub primary: crate::ids::Region,
    /// Replica Regions, in the order they were made.
    pub replicas: Vec<crate::ids::Region>,
}

impl std::fmt::Debug for KeyVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyVersion")
            .field("number", &self.number)
            .field("material_id", &self.material_id)
            .field("created_at", &self.created_at)
            .field("rotation_type", &self.rotation_type)
            .field("present", &self.present())
            .field("import", &self.import)
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

    /// Whether the material is held (imported material can be deleted).
    pub fn present(&self) -> bool {
        !self.wrapped.is_empty()
    }

    /// When imported material expires, if it is held and expires.
    pub fn expires_at(&self) -> Option<Millis> {
        self.import
            .as_ref()
            .and_then(|i| i.valid_to)
            .filter(|_| self.present())
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
    /// Imported material waiting for RotateKeyOnDemand (`PENDING_ROTATION`);
    /// its number is the next version's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_material: Option<KeyVersion>,
    /// Import tokens already used, until they expire.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spent_import_tokens: Vec<SpentToken>,
    /// Set for multi-Region keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_region: Option<MultiRegion>,
    /// While `Updating` (UpdatePrimaryRegion): the state to go back to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_state: Option<KeyState>,
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
            pending_material: None,
            spent_import_tokens: Vec::new(),
            multi_region: None,
            restore_state: None,
        }
    }

    /// A new key for imported material (`Origin` `EXTERNAL`): no material,
    /// `PendingImport`.
    pub fn new_external(
        locator: KeyLocator,
        now: Millis,
        spec_usage: (KeySpec, KeyUsageType),
        description: String,
        policy: String,
        tags: Vec<(String, String)>,
    ) -> KeyRecord {
        let placeholder = KeyVersion {
            number: 0,
            material_id: String::new(),
            created_at: now,
            rotation_type: None,
            wrapped: Vec::new(),
            import: None,
        };
        let mut r = Self::new(
            locator,
            now,
            spec_usage,
            description,
            policy,
            tags,
            placeholder,
        );
        r.versions.clear();
        r.origin = OriginType::External;
        r.state = KeyState::PendingImport;
        r
    }

    /// The key ARN.
    pub fn arn(&self) -> String {
        self.locator.arn()
    }

    /// The current (newest) version; `None` only for a key created for
    /// imported material before its first import.
    pub fn current(&self) -> Option<&KeyVersion> {
        self.versions.last()
    }

    /// Whether this is a multi-Region primary key with replicas.
    pub fn has_replicas(&self) -> bool {
        !self.is_replica()
            && self
                .multi_region
                .as_ref()
                .is_some_and(|m| !m.replicas.is_empty())
    }

    /// The locators of every other key of this multi-Region key's set.
    pub fn related(&self) -> Vec<KeyLocator> {
        let Some(m) = &self.multi_region else {
            return Vec::new();
        };
        std::iter::once(&m.primary)
            .chain(m.replicas.iter())
            .filter(|r| **r != self.locator.region)
            .map(|region| KeyLocator {
                region: region.clone(),
                ..self.locator.clone()
            })
            .collect()
    }

    /// A new replica of this (primary) key in `region`: same id, spec,
    /// usage, origin, rotation settings and `versions` (wrapped for the
    /// replica by the caller); its own description, policy and tags. Enabled,
    /// or PendingImport when its current imported material is not there.
    pub fn replica(
        &self,
        region: crate::ids::Region,
        now: Millis,
        (description, policy, tags): (String, String, Vec<(String, String)>),
        versions: Vec<KeyVersion>,
        config: MultiRegion,
    ) -> KeyRecord {
        let locator = KeyLocator {
            region,
            ..self.locator.clone()
        };
        let usable = versions.last().is_some_and(KeyVersion::present);
        KeyRecord {
            locator,
            revision: 1,
            created_at: now,
            description,
            usage: self.usage,
            spec: self.spec,
            origin: self.origin,
            state: if usable {
                KeyState::Enabled
            } else {
                KeyState::PendingImport
            },
            deletion: None,
            policy,
            tags,
            rotation: self.rotation.clone(),
            versions,
            on_demand_rotations: self.on_demand_rotations,
            pending_material: None,
            spent_import_tokens: Vec::new(),
            multi_region: Some(config),
            restore_state: None,
        }
    }

    /// Whether `next` (made from `self`) changed what the keys of a
    /// multi-Region set share: material versions, rotation, the set itself.
    pub fn shared_changed(&self, next: &KeyRecord) -> bool {
        let numbers = |r: &KeyRecord| r.versions.iter().map(|v| v.number).collect::<Vec<_>>();
        numbers(self) != numbers(next)
            || self.rotation != next.rotation
            || self.on_demand_rotations != next.on_demand_rotations
            || self.multi_region != next.multi_region
            || self.pending_material.as_ref().map(|p| &p.material_id)
                != next.pending_material.as_ref().map(|p| &p.material_id)
    }

    /// The material waiting for RotateKeyOnDemand as a replica of a set
    /// whose primary waits with `primary_pending` keeps it: its own copy
    /// (with or without material) when it names the same material, else an
    /// entry without material, to be filled by the replica's own import.
    pub fn pending_for_replica(&self, primary_pending: Option<&KeyVersion>) -> Option<KeyVersion> {
        let p = primary_pending?;
        match &self.pending_material {
            Some(own) if own.material_id == p.material_id => Some(own.clone()),
            _ => Some(KeyVersion {
                wrapped: Vec::new(),
                import: None,
                ..p.clone()
            }),
        }
    }

    /// This replica (or former primary) brought in line with `primary`:
    /// its shared properties copied, `new_versions` (the primary's versions
    /// this key lacks, wrapped for it by the caller) appended, and the
    /// material waiting for rotation set to `pending`.
    pub fn synced_with(
        &self,
        primary: &KeyRecord,
        new_versions: Vec<KeyVersion>,
        pending: Option<KeyVersion>,
    ) -> KeyRecord {
        let mut r = self.next();
        r.versions.extend(new_versions);
        r.pending_material = pending;
        r.rotation = primary.rotation.clone();
        r.on_demand_rotations = primary.on_demand_rotations;
        r.multi_region = primary.multi_region.clone();
        r
    }

    /// The set without the replica in `region` (it was deleted). A primary
    /// waiting in `PendingReplicaDeletion` starts its own waiting period
    /// when its last replica goes.
    pub fn without_replica(&self, region: &crate::ids::Region, now: Millis) -> KeyRecord {
        let mut r = self.next();
        if let Some(m) = r.multi_region.as_mut() {
            m.replicas.retain(|x| x != region);
        }
        if r.state == KeyState::PendingReplicaDeletion && !r.has_replicas() {
            r.state = KeyState::PendingDeletion;
            if let Some(d) = r.deletion.as_mut() {
                d.date = now + i64::from(d.window_days) * DAY_MS;
            }
        }
        r
    }

    /// This key with its set's configuration replaced (ReplicateKey,
    /// UpdatePrimaryRegion).
    pub fn with_set(&self, config: MultiRegion) -> KeyRecord {
        let mut r = self.next();
        r.multi_region = Some(config);
        r
    }

    /// This key with its set's new configuration, in `Updating` while it
    /// swaps roles with another key of the set (UpdatePrimaryRegion; AWS's
    /// transient state). It stays usable for cryptography meanwhile (see
    /// [`KeyRecord::effective_state`]); the background sweep ends it with
    /// [`KeyRecord::finish_updating`].
    pub fn swapping_roles(&self, config: MultiRegion) -> KeyRecord {
        let mut r = self.with_set(config);
        r.restore_state = Some(self.effective_state());
        r.state = KeyState::Updating;
        r
    }

    /// The end of `Updating`: the state the key had before.
    pub fn finish_updating(&self) -> Option<KeyRecord> {
        if self.state != KeyState::Updating {
            return None;
        }
        let mut r = self.next();
        r.state = self.restore_state.unwrap_or(KeyState::Enabled);
        r.restore_state = None;
        Some(r)
    }

    /// The state cryptographic operations go by: an `Updating` key is
    /// used as in the state it will return to.
    pub fn effective_state(&self) -> KeyState {
        match (self.state, self.restore_state) {
            (KeyState::Updating, Some(s)) => s,
            (s, _) => s,
        }
    }

    /// Whether this is a multi-Region key in a Region other than its primary's.
    pub fn is_replica(&self) -> bool {
        self.multi_region
            .as_ref()
            .is_some_and(|m| m.primary != self.locator.region)
    }

    /// A version by number.
    pub fn version(&self, number: u32) -> Option<&KeyVersion> {
        self.versions.iter().find(|v| v.number == number)
    }

    /// When the background task must next look at this key: the end of its
    /// deletion window, or its next automatic rotation while enabled.
    pub fn due_at(&self) -> Option<Millis> {
        let scheduled = match self.state {
            KeyState::PendingDeletion => self.deletion.as_ref().map(|d| d.date),
            // Finished by the next sweep.
            KeyState::Updating => Some(0),
            // Replicas rotate when their primary does, never on their own.
            KeyState::Enabled if self.rotation.enabled && !self.is_replica() => {
                self.rotation.next_at
            }
            _ => None,
        };
        [scheduled, self.next_expiry()].into_iter().flatten().min()
    }

    /// When the next held imported material expires.
    pub fn next_expiry(&self) -> Option<Millis> {
        self.versions
            .iter()
            .chain(self.pending_material.iter())
            .filter_map(KeyVersion::expires_at)
            .min()
    }

    fn next(&self) -> KeyRecord {
        let mut r = self.clone();
        r.revision += 1;
        r
    }

    fn refuse_pending_deletion(&self) -> Result<(), KeyError> {
        if matches!(
            self.state,
            KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
        ) {
            return Err(KeyError::PendingDeletion { arn: self.arn() });
        }
        Ok(())
    }

    /// EnableKey and DisableKey need material: refused while pending
    /// import; and, as AWS documents, while the key is `Updating`.
    fn refuse_pending_import(&self) -> Result<(), KeyError> {
        self.refuse_pending_deletion()?;
        match self.state {
            KeyState::PendingImport => Err(KeyError::PendingImport { arn: self.arn() }),
            KeyState::Updating => Err(KeyError::Updating { arn: self.arn() }),
            _ => Ok(()),
        }
    }

    /// Whether the key can be used now for an operation that needs `usage`.
    pub fn check_usable(
        &self,
        usage: KeyUsageType,
        operation: &'static str,
    ) -> Result<(), KeyError> {
        check_usable(self.effective_state(), self.usage, usage, operation, || {
            self.arn()
        })
    }

    /// Whether the key can be changed by a management operation (tags,
    /// description, aliases): anything but pending deletion.
    pub fn check_mutable(&self) -> Result<(), KeyError> {
        self.refuse_pending_deletion()
    }

    /// EnableKey.
    pub fn enable(&self) -> Result<KeyRecord, KeyError> {
        self.refuse_pending_import()?;
        let mut r = self.next();
        r.state = KeyState::Enabled;
        Ok(r)
    }

    /// DisableKey.
    pub fn disable(&self) -> Result<KeyRecord, KeyError> {
        self.refuse_pending_import()?;
        let mut r = self.next();
        r.state = KeyState::Disabled;
        Ok(r)
    }

    /// ScheduleKeyDeletion (the window, 7 to 30 days, is checked by the
    /// caller). A multi-Region primary key with replicas waits in
    /// `PendingReplicaDeletion` until its last replica is deleted; its
    /// waiting period starts then (see [`KeyRecord::without_replica`]).
    pub fn schedule_deletion(&self, now: Millis, window_days: u32) -> Result<KeyRecord, KeyError> {
        self.refuse_pending_deletion()?;
        let mut r = self.next();
        r.state = if self.has_replicas() {
            KeyState::PendingReplicaDeletion
        } else {
            KeyState::PendingDeletion
        };
        r.deletion = Some(Deletion {
            date: now + i64::from(window_days) * DAY_MS,
            window_days,
        });
        Ok(r)
    }

    /// CancelKeyDeletion: the key comes back Disabled, as in AWS (or
    /// PendingImport when it has no material).
    pub fn cancel_deletion(&self) -> Result<KeyRecord, KeyError> {
        if !matches!(
            self.state,
            KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
        ) {
            return Err(KeyError::NotPendingDeletion { arn: self.arn() });
        }
        let mut r = self.next();
        r.state = if self.current().is_some_and(KeyVersion::present) {
            KeyState::Disabled
        } else {
            KeyState::PendingImport
        };
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
        // Rotation is shared by a multi-Region set and managed on its primary.
        if self.spec != KeySpec::SymmetricDefault
            || self.origin != OriginType::AwsKms
            || self.is_replica()
        {
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
        let next_at = if let Some(current) = self.current().filter(|_| self.rotation.enabled) {
            (current.created_at + period).max(now)
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
            number: self.next_version_number(),
            material_id,
            created_at: now,
            rotation_type: Some(kind),
            wrapped,
            import: None,
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
        self.current().map_or(1, |v| v.number + 1)
    }

    /// ImportKeyMaterial. `wrap(number)` wraps the material for the version
    /// it lands in. First import: version 1, the key becomes Enabled. Same
    /// material again (`EXISTING_KEY_MATERIAL`, or no `ImportType` once the
    /// key has material): back into its version, with the new expiry; the
    /// key leaves PendingImport if that version is current. New material
    /// (`NEW_KEY_MATERIAL`, symmetric keys only): waits as
    /// `PENDING_ROTATION` until RotateKeyOnDemand. The token is spent in
    /// the same record, so two imports with one token cannot both commit.
    pub fn import<E: From<KeyError>>(
        &self,
        now: Millis,
        imp: &Import<'_>,
        wrap: impl FnOnce(u32) -> Result<Vec<u8>, E>,
    ) -> Result<KeyRecord, E> {
        self.refuse_pending_deletion()?;
        let mut r = self.next();
        r.spent_import_tokens.retain(|t| t.expires_at > now);
        if r.spent_import_tokens.iter().any(|t| t.id == imp.token.id) {
            return Err(KeyError::ImportTokenUsed.into());
        }
        r.spent_import_tokens.push(imp.token.clone());
        let incorrect = || KeyError::IncorrectMaterial { arn: self.arn() };
        if imp.requested_id.is_some_and(|id| id != imp.material_id) {
            return Err(incorrect().into());
        }
        let info = |old: Option<&ImportedMaterial>| ImportedMaterial {
            valid_to: imp.valid_to,
            description: imp
                .description
                .map(str::to_string)
                .or_else(|| old.and_then(|o| o.description.clone())),
        };
        let fresh = self.versions.is_empty() && self.pending_material.is_none();
        let known = self
            .versions
            .iter()
            .position(|v| v.material_id == imp.material_id);
        let pending_match = self
            .pending_material
            .as_ref()
            .is_some_and(|p| p.material_id == imp.material_id);
        match imp.kind {
            _ if fresh => {
                // A replica's versions come from its primary: before the
                // primary has material there is nothing to match.
                if imp.kind == Some(ImportKind::Existing) || self.is_replica() {
                    return Err(incorrect().into());
                }
                r.versions.push(KeyVersion {
                    number: 1,
                    material_id: imp.material_id.to_string(),
                    created_at: now,
                    rotation_type: None,
                    wrapped: wrap(1)?,
                    import: Some(info(None)),
                });
                r.state = KeyState::Enabled;
            }
            Some(ImportKind::New) => {
                // New material of a multi-Region key goes into its primary
                // first; each replica then imports the same material.
                if self.spec != KeySpec::SymmetricDefault || self.is_replica() {
                    return Err(KeyError::NewMaterialUnsupported { arn: self.arn() }.into());
                }
                if known.is_some() || pending_match {
                    return Err(KeyError::MaterialNotNew { arn: self.arn() }.into());
                }
                if let Some(p) = &self.pending_material {
                    return Err(KeyError::MaterialPendingRotation {
                        key_id: self.locator.key_id.to_string(),
                        new_id: imp.material_id.to_string(),
                        pending_id: p.material_id.clone(),
                    }
                    .into());
                }
                let number = self.next_version_number();
                r.pending_material = Some(KeyVersion {
                    number,
                    material_id: imp.material_id.to_string(),
                    created_at: now,
                    rotation_type: None,
                    wrapped: wrap(number)?,
                    import: Some(info(None)),
                });
            }
            Some(ImportKind::Existing) | None => {
                if let Some(i) = known {
                    let number = r.versions[i].number;
                    let old = r.versions[i].import.clone();
                    r.versions[i].wrapped = wrap(number)?;
                    r.versions[i].import = Some(info(old.as_ref()));
                    // AWS: every material of the key must be back before
                    // it leaves PendingImport.
                    if r.state == KeyState::PendingImport
                        && r.versions.iter().all(KeyVersion::present)
                    {
                        r.state = KeyState::Enabled;
                    }
                } else if let Some(p) = r.pending_material.as_mut().filter(|_| pending_match) {
                    p.wrapped = wrap(p.number)?;
                    p.import = Some(info(p.import.as_ref()));
                } else {
                    return Err(incorrect().into());
                }
            }
        }
        Ok(r)
    }

    /// DeleteImportedKeyMaterial: destroy one material (the current one when
    /// no id is given). The key goes to PendingImport (unless it is pending
    /// deletion) until every material is imported again, as AWS documents;
    /// a pending-rotation material is forgotten entirely. On a key that has
    /// no material yet it does nothing (AWS: "No effect"). Returns the new
    /// record and the id of the deleted material (`None`: nothing deleted).
    pub fn delete_imported(
        &self,
        material_id: Option<&str>,
    ) -> Result<(KeyRecord, Option<String>), KeyError> {
        let mut r = self.next();
        if self.versions.is_empty() && material_id.is_none() {
            return Ok((r, None));
        }
        if let Some(p) = &self.pending_material {
            if material_id == Some(p.material_id.as_str()) {
                // A replica keeps the entry (its primary decides whether the
                // material is pending); a single-Region key forgets it.
                if self.is_replica() {
                    if let Some(own) = r.pending_material.as_mut() {
                        own.wrapped.clear();
                    }
                } else {
                    r.pending_material = None;
                }
                return Ok((r, Some(p.material_id.clone())));
            }
        }
        let index = match material_id {
            Some(id) => self
                .versions
                .iter()
                .position(|v| v.material_id == id)
                .ok_or_else(|| KeyError::MaterialNotFound {
                    arn: self.arn(),
                    material_id: id.to_string(),
                })?,
            None => self
                .versions
                .len()
                .checked_sub(1)
                .ok_or_else(|| KeyError::PendingImport { arn: self.arn() })?,
        };
        let id = r.versions[index].material_id.clone();
        r.versions[index].wrapped.clear();
        if !self.is_pending_deletion() {
            r.state = KeyState::PendingImport;
        }
        Ok((r, Some(id)))
    }

    fn is_pending_deletion(&self) -> bool {
        matches!(
            self.state,
            KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
        )
    }

    /// Destroy imported material whose `ValidTo` has passed. Returns `None`
    /// when nothing expired, else the record and the expired ids.
    pub fn expire(&self, now: Millis) -> Option<(KeyRecord, Vec<String>)> {
        let expired = |v: &KeyVersion| v.expires_at().is_some_and(|t| t <= now);
        let mut ids = Vec::new();
        let mut r = self.next();
        for v in r.versions.iter_mut() {
            if expired(v) {
                v.wrapped.clear();
                ids.push(v.material_id.clone());
                if !self.is_pending_deletion() {
                    r.state = KeyState::PendingImport;
                }
            }
        }
        if r.pending_material.as_ref().is_some_and(expired) {
            ids.extend(r.pending_material.take().map(|p| p.material_id));
        }
        (!ids.is_empty()).then_some((r, ids))
    }

    /// RotateKeyOnDemand of a key with imported material: the material
    /// imported as `NEW_KEY_MATERIAL` becomes current.
    pub fn rotate_imported(&self, now: Millis) -> Result<KeyRecord, KeyError> {
        if self.spec != KeySpec::SymmetricDefault || self.is_replica() {
            return Err(KeyError::RotationUnsupported { arn: self.arn() });
        }
        match self.state {
            KeyState::Enabled => {}
            KeyState::Disabled => return Err(KeyError::Disabled { arn: self.arn() }),
            KeyState::PendingImport => return Err(KeyError::PendingImport { arn: self.arn() }),
            _ => return Err(KeyError::PendingDeletion { arn: self.arn() }),
        }
        if self.on_demand_rotations >= MAX_ON_DEMAND_ROTATIONS {
            return Err(KeyError::OnDemandRotationLimit { arn: self.arn() });
        }
        let mut r = self.next();
        let mut v = r
            .pending_material
            .take()
            .filter(KeyVersion::present)
            .ok_or_else(|| KeyError::NoMaterialPendingRotation { arn: self.arn() })?;
        v.created_at = now;
        v.rotation_type = Some(RotationType::OnDemand);
        r.versions.push(v);
        r.on_demand_rotations += 1;
        Ok(r)
    }

    /// Whether an automatic rotation is due at `now`.
    pub fn rotation_due(&self, now: Millis) -> bool {
        self.state == KeyState::Enabled
            && !self.is_replica()
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
        KeyState::PendingImport => Err(KeyError::PendingImport { arn: arn() }),
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
            import: None,
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
        assert_eq!(r.current().unwrap().number, 2);
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

    fn external() -> KeyRecord {
        let loc = KeyLocator {
            region: Region::parse("us-east-1").unwrap(),
            account: AccountId::parse("111122223333").unwrap(),
            key_id: KeyId::from_random([8; 16]),
        };
        KeyRecord::new_external(
            loc,
            0,
            (KeySpec::SymmetricDefault, KeyUsageType::EncryptDecrypt),
            String::new(),
            "{}".into(),
            vec![],
        )
    }

    fn imp<'a>(id: &'a str, kind: Option<ImportKind>, token: &str) -> Import<'a> {
        Import {
            material_id: id,
            kind,
            requested_id: None,
            valid_to: Some(100),
            description: None,
            token: SpentToken {
                id: token.into(),
                expires_at: 1000,
            },
        }
    }

    fn wrap(n: u32) -> Result<Vec<u8>, KeyError> {
        Ok(vec![n as u8, 1])
    }

    #[test]
    fn import_expire_reimport() {
        let k = external();
        assert_eq!(k.state, KeyState::PendingImport);
        assert!(k.current().is_none());
        assert!(matches!(k.enable(), Err(KeyError::PendingImport { .. })));
        assert!(matches!(
            k.check_usable(KeyUsageType::EncryptDecrypt, "Encrypt"),
            Err(KeyError::PendingImport { .. })
        ));
        // EXISTING before anything was imported: there is nothing to match.
        assert!(matches!(
            k.import(0, &imp("a", Some(ImportKind::Existing), "t0"), wrap),
            Err(KeyError::IncorrectMaterial { .. })
        ));
        let a = k.import(0, &imp("a", None, "t1"), wrap).unwrap();
        assert_eq!(a.state, KeyState::Enabled);
        assert_eq!(a.current().unwrap().number, 1);
        assert_eq!(a.due_at(), Some(100));
        // The token is spent; other material is refused.
        assert!(matches!(
            a.import(0, &imp("a", None, "t1"), wrap),
            Err(KeyError::ImportTokenUsed)
        ));
        assert!(matches!(
            a.import(0, &imp("b", None, "t2"), wrap),
            Err(KeyError::IncorrectMaterial { .. })
        ));
        let mut wrong_id = imp("a", Some(ImportKind::Existing), "t2");
        wrong_id.requested_id = Some("b");
        assert!(matches!(
            a.import(0, &wrong_id, wrap),
            Err(KeyError::IncorrectMaterial { .. })
        ));
        // Expiry empties the version and the key waits for the material.
        assert!(a.expire(99).is_none());
        let (e, ids) = a.expire(100).unwrap();
        assert_eq!(ids, vec!["a".to_string()]);
        assert_eq!(e.state, KeyState::PendingImport);
        assert!(!e.current().unwrap().present());
        assert_eq!(e.due_at(), None);
        let back = e.import(200, &imp("a", None, "t3"), wrap).unwrap();
        assert_eq!(back.state, KeyState::Enabled);
        assert_eq!(back.versions.len(), 1);
        // New material waits for an on-demand rotation.
        assert!(matches!(
            back.rotate_imported(0),
            Err(KeyError::NoMaterialPendingRotation { .. })
        ));
        assert!(matches!(
            back.import(0, &imp("a", Some(ImportKind::New), "t4"), wrap),
            Err(KeyError::MaterialNotNew { .. })
        ));
        let n = back
            .import(0, &imp("b", Some(ImportKind::New), "t4"), wrap)
            .unwrap();
        assert_eq!(n.current().unwrap().material_id, "a");
        assert!(matches!(
            n.import(0, &imp("c", Some(ImportKind::New), "t5"), wrap),
            Err(KeyError::MaterialPendingRotation { .. })
        ));
        let r = n.rotate_imported(5).unwrap();
        assert_eq!(r.current().unwrap().material_id, "b");
        assert_eq!(r.current().unwrap().number, 2);
        // Deleting any material puts the key in PendingImport until every
        // material is back.
        let (d, id) = r.delete_imported(Some("a")).unwrap();
        assert_eq!(id.as_deref(), Some("a"));
        assert_eq!(d.state, KeyState::PendingImport);
        let (d, id) = d.delete_imported(None).unwrap();
        assert_eq!(id.as_deref(), Some("b"));
        assert_eq!(d.state, KeyState::PendingImport);
        let d = d.import(0, &imp("b", None, "t6"), wrap).unwrap();
        assert_eq!(d.state, KeyState::PendingImport, "a is still missing");
        let d = d.import(0, &imp("a", None, "t7"), wrap).unwrap();
        assert_eq!(d.state, KeyState::Enabled);
        // Nothing to delete on a key that never had material.
        let (n, id) = external().delete_imported(None).unwrap();
        assert_eq!((n.state, id), (KeyState::PendingImport, None));
        assert!(matches!(
            d.delete_imported(Some("zz")),
            Err(KeyError::MaterialNotFound { .. })
        ));
    }

    #[test]
    fn asymmetric_keys_take_one_material() {
        let mut k = external();
        k.spec = KeySpec::Rsa2048;
        let a = k.import(0, &imp("a", None, "t1"), wrap).unwrap();
        assert!(matches!(
            a.import(0, &imp("b", Some(ImportKind::New), "t2"), wrap),
            Err(KeyError::NewMaterialUnsupported { .. })
        ));
    }

    #[test]
    fn debug_hides_wrapped_material() {
        let v = version(1);
        assert!(!format!("{v:?}").contains("wrapped"));
    }
}
