//! ReplicateKey and UpdatePrimaryRegion.
//!
//! A multi-Region key is one record per Region, all with the same key id
//! (`mrk-…`), each complete on its own: a Region answers Encrypt, Decrypt and
//! DescribeKey from its own record, with no call to another Region. What the
//! set shares (material versions, rotation settings, the list of Regions) is
//! written to every record in one store transaction (see `Kms::commit`);
//! what each key keeps for itself (policy, description, tags, aliases,
//! enabled state, grants) is never copied.

use super::keys::{check_tags, metadata, req, requested_policy, tag_list};
use crate::authz::{Ask, KeyView};
use crate::{Caller, Kms, ServiceError, Unsupported};
use trent_core::authz::Action;
use trent_core::ids::{Accepts, KeyLocator, Region};
use trent_core::key::{KeyRecord, MultiRegion};
use trent_proto::ops::*;
use trent_proto::*;
use trent_store::{KeyWrite, StoreError};

/// How many times a multi-Region change is retried after losing a race.
const ATTEMPTS: usize = 16;

impl Kms {
    /// Whether this deployment serves `region` (configured; default: any).
    fn serves(&self, region: &Region) -> bool {
        self.regions
            .as_ref()
            .is_none_or(|served| served.contains(region))
    }

    /// ReplicateKey.
    pub async fn replicate_key(
        &self,
        caller: &Caller,
        r: ReplicateKeyRequest,
    ) -> Result<ReplicateKeyResponse, ServiceError> {
        let target = Region::parse(req(&r.replica_region))
            .ok_or_else(|| Unsupported::ReplicaRegion(req(&r.replica_region).to_string()))?;
        let tags = check_tags(r.tags.as_deref().unwrap_or_default())?;
        let explicit_policy = r.policy.is_some();
        let policy = requested_policy(caller, &r.policy)?;
        let region_name = target.to_string();
        let ask = Ask {
            key_set: trent_core::authz::KeySetFacts {
                replica_region: Some(&region_name),
                ..Default::default()
            },
            ..Default::default()
        };
        for _ in 0..ATTEMPTS {
            let (primary, config) = self
                .set_primary(
                    caller,
                    &r.key_id,
                    Action::ReplicateKey,
                    ask,
                    Unsupported::ReplicaOfReplica,
                )
                .await?;
            let arn = primary.arn();
            if target == primary.locator.region {
                return Err(Unsupported::SameRegion(target.to_string()).into());
            }
            if !self.serves(&target) {
                return Err(Unsupported::ReplicaRegion(target.to_string()).into());
            }
            if config.replicas.contains(&target) {
                return Err(ServiceError::ReplicaExists {
                    arn,
                    region: target.to_string(),
                });
            }
            match primary.state {
                KeyState::Disabled => return Err(trent_core::KeyError::Disabled { arn }.into()),
                KeyState::PendingImport => {
                    return Err(trent_core::KeyError::PendingImport { arn }.into())
                }
                KeyState::Updating => return Err(trent_core::KeyError::Updating { arn }.into()),
                KeyState::PendingDeletion | KeyState::PendingReplicaDeletion => {
                    return Err(trent_core::KeyError::PendingDeletion { arn }.into())
                }
                _ => {}
            }
            let replica_loc = KeyLocator {
                region: target.clone(),
                ..primary.locator.clone()
            };
            // The replica is a new key in its Region: CreateKey there too.
            let tag_keys: Vec<String> = tags.iter().map(|(k, _)| k.clone()).collect();
            self.authorize_identity(
                caller,
                Action::CreateKey,
                "*",
                &Ask {
                    request_tags: Some(&tags),
                    tag_keys: Some(&tag_keys),
                    new_key: Some((
                        primary.spec.as_str(),
                        primary.usage.as_str(),
                        primary.origin.as_str(),
                        true,
                    )),
                    ..Default::default()
                },
            )?;
            if explicit_policy && r.bypass_policy_lockout_safety_check != Some(true) {
                self.check_lockout(caller, &replica_loc, &policy).await?;
            }
            let mut next_config = config.clone();
            next_config.replicas.push(target.clone());
            let versions = primary
                .versions
                .iter()
                .map(|v| {
                    let mut copy = self.rewrap_version(&primary, v, &replica_loc)?;
                    // Imported material is imported into each Region's key.
                    if primary.origin == OriginType::External {
                        copy.wrapped.clear();
                    }
                    Ok(copy)
                })
                .collect::<Result<Vec<_>, ServiceError>>()?;
            let mut replica = primary.replica(
                target.clone(),
                self.clock.now(),
                (
                    r.description.clone().unwrap_or_default(),
                    policy.clone(),
                    tags.clone(),
                ),
                versions,
                next_config.clone(),
            );
            // New imported material waiting on the primary waits here too,
            // for this replica's own import.
            replica.pending_material =
                replica.pending_for_replica(primary.pending_material.as_ref());
            let mut writes = vec![KeyWrite::Insert(replica.clone())];
            writes.extend(
                self.set_writes(std::slice::from_ref(&primary), &next_config, 0)
                    .await?,
            );
            match self.store.write_keys(&writes).await {
                Ok(()) => {
                    self.invalidate_set(&primary);
                    self.cache.invalidate(&replica_loc);
                    caller.notes.key(&replica.arn());
                    // AWS answers while the replica is still being made:
                    // `Creating`, not enabled, no material id yet. Trent's
                    // replica is complete already (DescribeKey shows it
                    // Enabled), which a client waiting for Enabled sees at
                    // its first poll.
                    let mut shown = metadata(&replica);
                    shown.key_state = KeyState::Creating;
                    shown.enabled = false;
                    shown.current_key_material_id = None;
                    return Ok(ReplicateKeyResponse {
                        replica_key_metadata: shown,
                        replica_policy: policy,
                        replica_tags: tag_list(&tags),
                    });
                }
                Err(StoreError::Conflict | StoreError::NotFound) => tokio::task::yield_now().await,
                // A single-Region key of the same id cannot exist (mrk- ids
                // are only made for multi-Region keys), so this is a replica
                // made by a racing request.
                Err(StoreError::AlreadyExists) => {
                    return Err(ServiceError::ReplicaExists {
                        arn: primary.arn(),
                        region: target.to_string(),
                    })
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict.into())
    }

    /// UpdatePrimaryRegion: the replica in `PrimaryRegion` becomes the
    /// primary and the primary a replica, in one transaction over every
    /// key of the set. The two keys show `Updating` until the next
    /// background sweep (AWS's asynchronous swap); they stay usable for
    /// cryptography meanwhile.
    pub async fn update_primary_region(
        &self,
        caller: &Caller,
        r: UpdatePrimaryRegionRequest,
    ) -> Result<(), ServiceError> {
        let target = Region::parse(req(&r.primary_region))
            .ok_or_else(|| Unsupported::ReplicaRegion(req(&r.primary_region).to_string()))?;
        let region_name = target.to_string();
        let ask = Ask {
            key_set: trent_core::authz::KeySetFacts {
                primary_region: Some(&region_name),
                ..Default::default()
            },
            ..Default::default()
        };
        for _ in 0..ATTEMPTS {
            let (primary, config) = self
                .set_primary(
                    caller,
                    &r.key_id,
                    Action::UpdatePrimaryRegion,
                    ask,
                    Unsupported::NotPrimary,
                )
                .await?;
            let arn = primary.arn();
            if target == primary.locator.region {
                return Err(Unsupported::AlreadyPrimary(target.to_string()).into());
            }
            if !config.replicas.contains(&target) {
                return Err(ServiceError::KeyNotFound {
                    arn: KeyLocator {
                        region: target,
                        ..primary.locator.clone()
                    }
                    .arn(),
                });
            }
            match primary.state {
                KeyState::Disabled => return Err(trent_core::KeyError::Disabled { arn }.into()),
                KeyState::Enabled => {}
                KeyState::PendingImport => {
                    return Err(trent_core::KeyError::PendingImport { arn }.into())
                }
                KeyState::Updating => return Err(trent_core::KeyError::Updating { arn }.into()),
                _ => return Err(trent_core::KeyError::PendingDeletion { arn }.into()),
            }
            let replica_loc = KeyLocator {
                region: target.clone(),
                ..primary.locator.clone()
            };
            let replica = self.record(&replica_loc).await?;
            // The caller needs the permission on both keys, as in AWS.
            let policy = crate::authz::compile_key_policy(&replica);
            let replica_arn = replica.arn();
            self.authorize_key(
                caller,
                Action::UpdatePrimaryRegion,
                &KeyView::of_record(&replica, &replica_arn, &policy),
                &ask,
            )
            .await?;
            match replica.state {
                KeyState::PendingDeletion | KeyState::PendingReplicaDeletion => {
                    return Err(trent_core::KeyError::PendingDeletion { arn: replica_arn }.into())
                }
                KeyState::Updating => {
                    return Err(trent_core::KeyError::Updating { arn: replica_arn }.into())
                }
                _ => {}
            }
            let mut next_config = config.clone();
            next_config.replicas.retain(|x| *x != target);
            next_config.replicas.push(primary.locator.region.clone());
            next_config.primary = target.clone();
            // Written from the records just checked (their revisions are
            // the compare-and-swap tokens): a change to the replica since
            // its authorization and state check makes this a conflict. The
            // two keys that swap roles show `Updating` until the next
            // background sweep ends it, as AWS shows the asynchronous swap.
            let writes = self
                .set_writes(&[primary.clone(), replica], &next_config, 2)
                .await?;
            match self.store.write_keys(&writes).await {
                Ok(()) => {
                    self.invalidate_set(&primary);
                    return Ok(());
                }
                Err(StoreError::Conflict | StoreError::NotFound) => tokio::task::yield_now().await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict.into())
    }

    /// The primary key `key_id` names, authorized for `action`, with its
    /// set's configuration; a single-Region key or a replica (`replica`
    /// names the error) is refused.
    async fn set_primary(
        &self,
        caller: &Caller,
        key_id: &Option<String>,
        action: Action,
        ask: Ask<'_>,
        replica: fn(String) -> Unsupported,
    ) -> Result<(KeyRecord, MultiRegion), ServiceError> {
        let primary = self
            .managed_with(caller, key_id, Accepts::KeyOnly, action, ask)
            .await?;
        let Some(config) = primary.multi_region.clone() else {
            return Err(Unsupported::NotMultiRegion(primary.arn()).into());
        };
        if primary.is_replica() {
            return Err(replica(primary.arn()).into());
        }
        Ok((primary, config))
    }

    /// Updates giving every existing key of the set the configuration
    /// `config`: the records in `known` (the first is a member of the set)
    /// as they were read and checked, the others read now. The first
    /// `swapping` of `known` swap roles and show `Updating` meanwhile.
    async fn set_writes(
        &self,
        known: &[KeyRecord],
        config: &MultiRegion,
        swapping: usize,
    ) -> Result<Vec<KeyWrite>, ServiceError> {
        let mut writes = Vec::new();
        let mut all = known.to_vec();
        for loc in known.first().map(KeyRecord::related).unwrap_or_default() {
            if all.iter().any(|r| r.locator == loc) {
                continue;
            }
            if let Some(o) = self.store.get_key(&loc).await? {
                all.push(o);
            }
        }
        for (i, rec) in all.iter().enumerate() {
            writes.push(KeyWrite::Update(if i < swapping {
                rec.swapping_roles(config.clone())
            } else {
                rec.with_set(config.clone())
            }));
        }
        Ok(writes)
    }

    fn invalidate_set(&self, member: &KeyRecord) {
        self.cache.invalidate(&member.locator);
        for loc in member.related() {
            self.cache.invalidate(&loc);
        }
    }
}
