//! EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus,
//! RotateKeyOnDemand, ListKeyRotations.

use super::{page_size, read_offset, split_page};
use crate::authz::Ask;
use crate::{Caller, Kms, ServiceError};
use trent_core::authz::Action;
use trent_core::ids::Accepts;
use trent_core::key::DEFAULT_ROTATION_DAYS;
use trent_core::Millis;
use trent_proto::ops::*;
use trent_proto::*;

/// RotateKeyOnDemand is refused this close to a scheduled automatic rotation.
const ROTATION_GUARD_MS: Millis = 20 * 60 * 1000;

impl Kms {
    /// EnableKeyRotation.
    pub async fn enable_key_rotation(
        &self,
        caller: &Caller,
        r: EnableKeyRotationRequest,
    ) -> Result<(), ServiceError> {
        let loc = self.locate(caller, &r.key_id).await?;
        let days = r
            .rotation_period_in_days
            .and_then(|d| u32::try_from(d).ok())
            .unwrap_or(DEFAULT_ROTATION_DAYS);
        let now = self.clock.now();
        let ask = Ask {
            rotation_period_days: Some(i64::from(days)),
            ..Default::default()
        };
        self.update(caller, &loc, Action::EnableKeyRotation, &ask, |k| {
            Ok(k.enable_rotation(now, days)?)
        })
        .await?;
        Ok(())
    }

    /// DisableKeyRotation.
    pub async fn disable_key_rotation(
        &self,
        caller: &Caller,
        r: KeyIdRequest,
    ) -> Result<(), ServiceError> {
        let loc = self.locate(caller, &r.key_id).await?;
        self.update(
            caller,
            &loc,
            Action::DisableKeyRotation,
            &Ask::default(),
            |k| Ok(k.disable_rotation()?),
        )
        .await?;
        Ok(())
    }

    /// GetKeyRotationStatus. While a key is pending deletion its status reads
    /// false; cancelling the deletion brings the setting back.
    pub async fn get_key_rotation_status(
        &self,
        caller: &Caller,
        r: KeyIdRequest,
    ) -> Result<GetKeyRotationStatusResponse, ServiceError> {
        let rec = self
            .managed(
                caller,
                &r.key_id,
                Accepts::KeyOnly,
                Action::GetKeyRotationStatus,
            )
            .await?;
        let enabled = rec.rotation.enabled && rec.state != KeyState::PendingDeletion;
        Ok(GetKeyRotationStatusResponse {
            key_rotation_enabled: enabled,
            key_id: rec.locator.key_id.to_string(),
            rotation_period_in_days: enabled.then_some(i64::from(rec.rotation.period_days)),
            next_rotation_date: rec
                .rotation
                .next_at
                .filter(|_| enabled)
                .map(Timestamp::from_millis),
            on_demand_rotation_start_date: None,
        })
    }

    /// RotateKeyOnDemand. The new material is made and committed before the
    /// answer, so the rotation is never "in progress" afterwards.
    pub async fn rotate_key_on_demand(
        &self,
        caller: &Caller,
        r: KeyIdRequest,
    ) -> Result<KeyIdResponse, ServiceError> {
        let loc = self.locate(caller, &r.key_id).await?;
        let now = self.clock.now();
        let next = self
            .update(
                caller,
                &loc,
                Action::RotateKeyOnDemand,
                &Ask::default(),
                |k| {
                    if k.origin == OriginType::External {
                        return Ok(k.rotate_imported(now)?);
                    }
                    if k.rotation.enabled
                        && k.rotation
                            .next_at
                            .is_some_and(|t| t - now < ROTATION_GUARD_MS)
                    {
                        return Err(ServiceError::RotationConflict { arn: k.arn() });
                    }
                    let (material_id, wrapped) =
                        self.new_material(&loc, k.next_version_number())?;
                    Ok(k.rotate(now, RotationType::OnDemand, material_id, wrapped)?)
                },
            )
            .await?;
        // The key ARN, whichever form the request named the key by.
        Ok(KeyIdResponse { key_id: next.arn() })
    }

    /// ListKeyRotations: by default the versions made by rotations; with
    /// `ALL_KEY_MATERIAL` the first material too. Oldest first.
    pub async fn list_key_rotations(
        &self,
        caller: &Caller,
        r: ListKeyRotationsRequest,
    ) -> Result<ListKeyRotationsResponse, ServiceError> {
        let rec = self
            .managed(
                caller,
                &r.key_id,
                Accepts::KeyOnly,
                Action::ListKeyRotations,
            )
            .await?;
        // AWS: IncludeKeyMaterial "can only be used with KMS keys that
        // support automatic or on-demand key rotation"; without it, a key
        // that cannot rotate lists no rotations.
        if r.include_key_material.is_some() && !trent_core::spec::rotates(rec.spec) {
            return Err(trent_core::KeyError::RotationUnsupported { arn: rec.arn() }.into());
        }
        let all = r.include_key_material.as_ref().and_then(|i| i.known())
            == Some(IncludeKeyMaterial::AllKeyMaterial);
        let size = page_size(r.limit, 100, 1000);
        let offset = read_offset("rotations", r.marker.as_deref())?;
        let current = rec.current().map(|v| v.number);
        // New material of a multi-Region key waits for every key of the
        // set to have imported it.
        let mut everywhere = rec.pending_material.as_ref().is_none_or(|p| p.present());
        if rec.pending_material.is_some() {
            for loc in rec.related() {
                if let Some(o) = self.store.get_key(&loc).await? {
                    everywhere &= o.pending_material.as_ref().is_some_and(|p| p.present());
                }
            }
        }
        let key_id = rec.locator.key_id.to_string();
        // Imported material: every material (with ALL_KEY_MATERIAL), the
        // one waiting for RotateKeyOnDemand last, with its import facts.
        let entries: Vec<RotationsListEntry> = rec
            .versions
            .iter()
            .chain(rec.pending_material.iter().filter(|_| all))
            .filter(|v| all || v.rotation_type.is_some())
            .skip(offset)
            .take(size + 1)
            .map(|v| {
                let state = if Some(v.number) == current {
                    KeyMaterialState::Current
                } else if v.number > current.unwrap_or(0) && !everywhere {
                    KeyMaterialState::PendingMultiRegionImportAndRotation
                } else if v.number > current.unwrap_or(0) {
                    KeyMaterialState::PendingRotation
                } else {
                    KeyMaterialState::NonCurrent
                };
                // AWS shows the import fields for symmetric keys only.
                let import = v
                    .import
                    .as_ref()
                    .filter(|_| rec.spec == KeySpec::SymmetricDefault);
                RotationsListEntry {
                    key_id: key_id.clone(),
                    key_material_id: v.material_id.clone(),
                    key_material_description: import.and_then(|i| i.description.clone()),
                    import_state: (rec.origin == OriginType::External
                        && rec.spec == KeySpec::SymmetricDefault)
                        .then(|| {
                            if v.present() {
                                ImportState::Imported
                            } else {
                                ImportState::PendingImport
                            }
                        }),
                    key_material_state: state,
                    expiration_model: import.filter(|_| v.present()).map(|i| {
                        if i.valid_to.is_some() {
                            ExpirationModelType::KeyMaterialExpires
                        } else {
                            ExpirationModelType::KeyMaterialDoesNotExpire
                        }
                    }),
                    valid_to: v
                        .expires_at()
                        .filter(|_| import.is_some())
                        .map(Timestamp::from_millis),
                    rotation_date: v
                        .rotation_type
                        .map(|_| Timestamp::from_millis(v.created_at)),
                    rotation_type: v.rotation_type,
                }
            })
            .collect();
        let (rotations, truncated) = split_page(entries, size);
        Ok(ListKeyRotationsResponse {
            next_marker: truncated.then(|| {
                crate::marker::encode("rotations", &(offset + rotations.len()).to_string())
            }),
            rotations,
            truncated,
        })
    }
}
