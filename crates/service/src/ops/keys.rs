//! CreateKey, DescribeKey, ListKeys, UpdateKeyDescription, EnableKey,
//! DisableKey, ScheduleKeyDeletion, CancelKeyDeletion, GetKeyLastUsage.

use super::{page_size, read_marker, split_page};
use crate::authz::{Ask, KeyView};
use crate::{Caller, InvalidRequest, Kms, ServiceError, TagError, Unsupported};
use trent_core::authz::Action;
use trent_core::ids::{Accepts, KeyId, KeyLocator};
use trent_core::key::{KeyRecord, KeyVersion, MultiRegion, DEFAULT_DELETION_WINDOW_DAYS, MAX_TAGS};
use trent_core::policy::{default_policy, PolicyDocument};
use trent_proto::ops::*;
use trent_proto::*;
use trent_store::StoreError;

/// Check a tag list: count, then duplicates, then reserved keys. The count
/// comes first so that an oversized list costs nothing per tag; duplicates
/// are found with a hash set, so the check is linear in the list's length.
/// Returns the pairs.
pub(crate) fn check_tags(tags: &[Tag]) -> Result<Vec<(String, String)>, ServiceError> {
    if tags.len() > MAX_TAGS {
        return Err(TagError::TooMany.into());
    }
    let mut seen = std::collections::HashSet::with_capacity(tags.len());
    for t in tags {
        if !seen.insert(t.tag_key.as_deref().unwrap_or_default()) {
            return Err(TagError::Duplicate.into());
        }
    }
    if seen
        .iter()
        .any(|k| k.to_ascii_lowercase().starts_with("aws:"))
    {
        return Err(TagError::Reserved.into());
    }
    Ok(tags
        .iter()
        .map(|t| {
            (
                t.tag_key.clone().unwrap_or_default(),
                t.tag_value.clone().unwrap_or_default(),
            )
        })
        .collect())
}

/// The wire form of tag pairs.
pub(crate) fn tag_list<'a>(pairs: impl IntoIterator<Item = &'a (String, String)>) -> Vec<Tag> {
    pairs
        .into_iter()
        .map(|(k, v)| Tag {
            tag_key: Some(k.clone()),
            tag_value: Some(v.clone()),
        })
        .collect()
}

/// The key policy a new key (CreateKey, ReplicateKey) asks for, checked;
/// the default policy, which gives the account to IAM, when none is given.
pub(crate) fn requested_policy(
    caller: &Caller,
    policy: &Option<String>,
) -> Result<String, ServiceError> {
    match policy {
        Some(p) => {
            PolicyDocument::parse(p)?;
            Ok(p.clone())
        }
        None => Ok(default_policy(&caller.account.root_arn())),
    }
}

/// `KeyMetadata` of a record.
pub(crate) fn metadata(r: &KeyRecord) -> KeyMetadata {
    let pending = r.state == KeyState::PendingDeletion;
    let algorithms = trent_core::spec::algorithms(r.spec, r.usage);
    // The current material's import facts (expiry), while it is held.
    let imported = r
        .current()
        .filter(|v| v.present())
        .and_then(|v| v.import.as_ref());
    KeyMetadata {
        aws_account_id: r.locator.account.to_string(),
        key_id: r.locator.key_id.to_string(),
        arn: r.arn(),
        creation_date: Timestamp::from_millis(r.created_at),
        enabled: r.state == KeyState::Enabled,
        description: r.description.clone(),
        key_usage: Some(r.usage),
        key_state: r.state,
        deletion_date: r
            .deletion
            .as_ref()
            .filter(|_| pending)
            .map(|d| Timestamp::from_millis(d.date)),
        // AWS: the earliest expiry of any imported material of the key.
        valid_to: r.next_expiry().map(Timestamp::from_millis),
        origin: r.origin,
        expiration_model: imported.map(|i| {
            if i.valid_to.is_some() {
                ExpirationModelType::KeyMaterialExpires
            } else {
                ExpirationModelType::KeyMaterialDoesNotExpire
            }
        }),
        key_manager: KeyManagerType::Customer,
        customer_master_key_spec: r.spec,
        key_spec: r.spec,
        encryption_algorithms: algorithms.encryption.map(<[_]>::to_vec),
        signing_algorithms: algorithms.signing.map(<[_]>::to_vec),
        key_agreement_algorithms: algorithms.key_agreement.map(<[_]>::to_vec),
        encapsulation_algorithms: algorithms.encapsulation.map(<[_]>::to_vec),
        mac_algorithms: algorithms.mac.map(<[_]>::to_vec),
        multi_region: r.multi_region.is_some(),
        multi_region_configuration: r.multi_region.as_ref().map(|m| {
            let key = |region: &trent_core::ids::Region| MultiRegionKey {
                arn: KeyLocator {
                    region: region.clone(),
                    ..r.locator.clone()
                }
                .arn(),
                region: region.to_string(),
            };
            MultiRegionConfiguration {
                multi_region_key_type: if r.is_replica() { "REPLICA" } else { "PRIMARY" },
                primary_key: key(&m.primary),
                replica_keys: m.replicas.iter().map(key).collect(),
            }
        }),
        // Shown only while a primary waits for its replicas, as AWS does.
        pending_deletion_window_in_days: r
            .deletion
            .as_ref()
            .filter(|_| r.state == KeyState::PendingReplicaDeletion)
            .map(|d| i64::from(d.window_days)),
        // AWS reports it for symmetric keys only.
        current_key_material_id: r
            .current()
            .filter(|_| r.spec == KeySpec::SymmetricDefault)
            .map(|v| v.material_id.clone()),
    }
}

pub(crate) fn req(s: &Option<String>) -> &str {
    // The wire layer refuses a missing required member before the service
    // runs; an empty string then simply names no key.
    s.as_deref().unwrap_or_default()
}

impl Kms {
    /// CreateKey.
    pub async fn create_key(
        &self,
        caller: &Caller,
        r: CreateKeyRequest,
    ) -> Result<CreateKeyResponse, ServiceError> {
        let cmk_spec = r.customer_master_key_spec.as_ref().and_then(|s| s.known());
        let key_spec = r.key_spec.as_ref().and_then(|s| s.known());
        if cmk_spec.is_some() && key_spec.is_some() {
            return Err(InvalidRequest::BothKeySpecs.into());
        }
        let spec = key_spec
            .or_else(|| cmk_spec.and_then(|s| KeySpec::parse(s.as_str())))
            .unwrap_or(KeySpec::SymmetricDefault);
        let usage = r.key_usage.as_ref().and_then(|u| u.known());
        if spec != KeySpec::SymmetricDefault && usage.is_none() {
            return Err(InvalidRequest::KeyUsageRequired.into());
        }
        if !trent_core::spec::offered(spec) {
            return Err(Unsupported::RegionSpec(spec.as_str()).into());
        }
        let usage = usage.unwrap_or(KeyUsageType::EncryptDecrypt);
        if !trent_core::spec::usages(spec).contains(&usage) {
            return Err(InvalidRequest::UsageSpecMismatch {
                usage: usage.as_str(),
                spec: spec.as_str(),
            }
            .into());
        }
        let origin = r
            .origin
            .as_ref()
            .and_then(|o| o.known())
            .unwrap_or(OriginType::AwsKms);
        if r.xks_key_id.is_some() && origin != OriginType::ExternalKeyStore {
            return Err(InvalidRequest::XksKeyIdWithoutXks.into());
        }
        if let Some(id) = &r.custom_key_store_id {
            return Err(ServiceError::CustomKeyStoreNotFound(id.clone()));
        }
        let external = origin == OriginType::External;
        if !matches!(origin, OriginType::AwsKms | OriginType::External) {
            return Err(Unsupported::Origin(origin.as_str()).into());
        }
        if external && !trent_core::spec::importable(spec) {
            return Err(Unsupported::ImportSpec(spec.as_str()).into());
        }
        let multi_region = r.multi_region == Some(true);
        let tags = check_tags(r.tags.as_deref().unwrap_or_default())?;
        let tag_keys: Vec<String> = tags.iter().map(|(k, _)| k.clone()).collect();
        self.authorize_identity(
            caller,
            Action::CreateKey,
            "*",
            &Ask {
                request_tags: Some(&tags),
                tag_keys: Some(&tag_keys),
                new_key: Some((spec.as_str(), usage.as_str(), origin.as_str(), multi_region)),
                ..Default::default()
            },
        )?;
        let explicit_policy = r.policy.is_some();
        let policy = requested_policy(caller, &r.policy)?;
        // RSA-4096 key generation takes up to seconds: on the crypto pool
        // (one job per core at most), before the id is drawn. Symmetric material is drawn after
        // the id, as it always was (the fuzzing harness's counter-based
        // randomness gives its seed keys the same ids and material).
        let pair = if spec == KeySpec::SymmetricDefault || external {
            None
        } else {
            let provider = self.provider.clone();
            Some(
                self.heavy
                    .run(move || provider.generate_key(spec))
                    .await
                    .map_err(|e| ServiceError::Internal(crate::InternalError::Pool(e)))??,
            )
        };
        let now = self.clock.now();
        for _ in 0..4 {
            let loc = KeyLocator {
                region: caller.region.clone(),
                account: caller.account.clone(),
                key_id: if multi_region {
                    KeyId::from_parts(true, self.random::<16>()?)
                } else {
                    KeyId::from_random(self.random::<16>()?)
                },
            };
            // The default policy gives the account to IAM: only a policy
            // of the caller's own making can lock it out.
            if explicit_policy && r.bypass_policy_lockout_safety_check != Some(true) {
                self.check_lockout(caller, &loc, &policy).await?;
            }
            let description = r.description.clone().unwrap_or_default();
            let mut record = if external {
                KeyRecord::new_external(
                    loc,
                    now,
                    (spec, usage),
                    description,
                    policy.clone(),
                    tags.clone(),
                )
            } else {
                let material = match &pair {
                    Some(m) => m.clone(),
                    None => self.provider.generate_key(spec)?,
                };
                let (material_id, wrapped) = self.wrap_material(&loc, 1, &material)?;
                KeyRecord::new(
                    loc,
                    now,
                    (spec, usage),
                    description,
                    policy.clone(),
                    tags.clone(),
                    KeyVersion {
                        number: 1,
                        material_id,
                        created_at: now,
                        rotation_type: None,
                        wrapped,
                        import: None,
                    },
                )
            };
            if multi_region {
                record.multi_region = Some(MultiRegion {
                    primary: caller.region.clone(),
                    replicas: Vec::new(),
                });
            }
            match self.store.insert_key(&record).await {
                Ok(()) => {
                    caller.notes.key(&record.arn());
                    return Ok(CreateKeyResponse {
                        key_metadata: metadata(&record),
                    });
                }
                // A random 122-bit id collided: draw another.
                Err(StoreError::AlreadyExists) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::AlreadyExists.into())
    }

    /// DescribeKey.
    pub async fn describe_key(
        &self,
        caller: &Caller,
        r: DescribeKeyRequest,
    ) -> Result<DescribeKeyResponse, ServiceError> {
        let record = self
            .managed(caller, &r.key_id, Accepts::KeyOrAlias, Action::DescribeKey)
            .await?;
        Ok(DescribeKeyResponse {
            key_metadata: metadata(&record),
        })
    }

    /// ListKeys.
    pub async fn list_keys(
        &self,
        caller: &Caller,
        r: ListKeysRequest,
    ) -> Result<ListKeysResponse, ServiceError> {
        self.authorize_identity(caller, Action::ListKeys, "*", &Ask::default())?;
        let size = page_size(r.limit, 100, 1000);
        let after = read_marker("keys", r.marker.as_deref())?
            .map(|s| KeyId::parse(&s).ok_or(ServiceError::InvalidMarker))
            .transpose()?;
        // Keys shared through AWS RAM are not the caller's own, and Trent has
        // no RAM: asking only for those lists nothing; asking for both lists
        // the caller's own.
        let owners = r.resource_owners.as_deref().unwrap_or_default();
        if !owners.is_empty()
            && owners
                .iter()
                .all(|o| o.known() == Some(ResourceOwnerType::OtherAccountsViaRam))
        {
            return Ok(ListKeysResponse {
                keys: Vec::new(),
                next_marker: None,
                truncated: false,
            });
        }
        let ids = self
            .store
            .list_keys(&caller.region, &caller.account, after.as_ref(), size + 1)
            .await?;
        let (ids, truncated) = split_page(ids, size);
        let next_marker = truncated
            .then(|| {
                ids.last()
                    .map(|k| crate::marker::encode("keys", &k.to_string()))
            })
            .flatten();
        Ok(ListKeysResponse {
            keys: ids
                .iter()
                .map(|id| {
                    let loc = KeyLocator {
                        region: caller.region.clone(),
                        account: caller.account.clone(),
                        key_id: *id,
                    };
                    KeyListEntry {
                        key_id: id.to_string(),
                        key_arn: loc.arn(),
                    }
                })
                .collect(),
            next_marker,
            truncated,
        })
    }

    /// Resolve a `KeyId` parameter, load the record and authorize a
    /// read-only action on it (the request alias, if the key was named by
    /// one, is the `kms:RequestAlias` condition key).
    pub(crate) async fn managed(
        &self,
        caller: &Caller,
        key_id: &Option<String>,
        accepts: Accepts,
        action: Action,
    ) -> Result<KeyRecord, ServiceError> {
        self.managed_with(caller, key_id, accepts, action, Ask::default())
            .await
    }

    /// [`Kms::managed`] with the request's own condition keys.
    pub(crate) async fn managed_with(
        &self,
        caller: &Caller,
        key_id: &Option<String>,
        accepts: Accepts,
        action: Action,
        ask: Ask<'_>,
    ) -> Result<KeyRecord, ServiceError> {
        let named = req(key_id);
        let loc = self.resolve(caller, named, accepts).await?;
        let record = self.record(&loc).await?;
        let policy = crate::authz::compile_key_policy(&record);
        let arn = loc.arn();
        let ask = Ask {
            request_alias: crate::authz::request_alias(named),
            ..ask
        };
        self.authorize_key(
            caller,
            action,
            &KeyView::of_record(&record, &arn, &policy),
            &ask,
        )
        .await?;
        Ok(record)
    }

    /// Resolve a `KeyId` parameter that must name a key (not an alias).
    pub(crate) async fn locate(
        &self,
        caller: &Caller,
        key_id: &Option<String>,
    ) -> Result<KeyLocator, ServiceError> {
        self.resolve(caller, req(key_id), Accepts::KeyOnly).await
    }

    /// The lockout safety check: refuse a key policy under which the caller
    /// could not call PutKeyPolicy again (unless the request bypasses it).
    pub(crate) async fn check_lockout(
        &self,
        caller: &Caller,
        loc: &KeyLocator,
        policy: &str,
    ) -> Result<(), ServiceError> {
        let compiled = trent_core::authz::CompiledPolicy::parse(
            policy,
            trent_core::authz::PolicyKind::Resource,
        )?;
        let arn = loc.arn();
        let view = KeyView {
            locator: loc,
            arn: &arn,
            policy: &compiled,
            spec: "SYMMETRIC_DEFAULT",
            usage: "ENCRYPT_DECRYPT",
            origin: "AWS_KMS",
            tags: &[],
            grants: Some(&[]),
        };
        match self
            .authorize_key(caller, Action::PutKeyPolicy, &view, &Ask::default())
            .await
        {
            Ok(_) => Ok(()),
            Err(ServiceError::AccessDenied { .. }) => Err(ServiceError::PolicyLockout),
            Err(e) => Err(e),
        }
    }

    /// UpdateKeyDescription.
    pub async fn update_key_description(
        &self,
        caller: &Caller,
        r: UpdateKeyDescriptionRequest,
    ) -> Result<(), ServiceError> {
        let loc = self.locate(caller, &r.key_id).await?;
        let description = r.description.unwrap_or_default();
        self.update(
            caller,
            &loc,
            Action::UpdateKeyDescription,
            &Ask::default(),
            |k| Ok(k.with_description(description.clone())?),
        )
        .await?;
        Ok(())
    }

    /// EnableKey.
    pub async fn enable_key(&self, caller: &Caller, r: KeyIdRequest) -> Result<(), ServiceError> {
        let loc = self.locate(caller, &r.key_id).await?;
        self.update(caller, &loc, Action::EnableKey, &Ask::default(), |k| {
            Ok(k.enable()?)
        })
        .await?;
        Ok(())
    }

    /// DisableKey.
    pub async fn disable_key(&self, caller: &Caller, r: KeyIdRequest) -> Result<(), ServiceError> {
        let loc = self.locate(caller, &r.key_id).await?;
        self.update(caller, &loc, Action::DisableKey, &Ask::default(), |k| {
            Ok(k.disable()?)
        })
        .await?;
        Ok(())
    }

    /// ScheduleKeyDeletion.
    pub async fn schedule_key_deletion(
        &self,
        caller: &Caller,
        r: ScheduleKeyDeletionRequest,
    ) -> Result<ScheduleKeyDeletionResponse, ServiceError> {
        let loc = self.locate(caller, &r.key_id).await?;
        let days = r
            .pending_window_in_days
            .unwrap_or(i64::from(DEFAULT_DELETION_WINDOW_DAYS));
        if !(7..=30).contains(&days) {
            return Err(InvalidRequest::PendingWindow.into());
        }
        let days = days as u32;
        let now = self.clock.now();
        let ask = Ask {
            pending_window_days: Some(i64::from(days)),
            ..Default::default()
        };
        let next = self
            .update(caller, &loc, Action::ScheduleKeyDeletion, &ask, |k| {
                Ok(k.schedule_deletion(now, days)?)
            })
            .await?;
        let date = next
            .deletion
            .as_ref()
            .filter(|_| next.state == KeyState::PendingDeletion)
            .map(|d| Timestamp::from_millis(d.date));
        Ok(ScheduleKeyDeletionResponse {
            key_id: next.arn(),
            deletion_date: date,
            key_state: next.state,
            pending_window_in_days: i64::from(days),
        })
    }

    /// CancelKeyDeletion.
    pub async fn cancel_key_deletion(
        &self,
        caller: &Caller,
        r: KeyIdRequest,
    ) -> Result<KeyIdResponse, ServiceError> {
        let loc = self.locate(caller, &r.key_id).await?;
        let next = self
            .update(
                caller,
                &loc,
                Action::CancelKeyDeletion,
                &Ask::default(),
                |k| Ok(k.cancel_deletion()?),
            )
            .await?;
        Ok(KeyIdResponse { key_id: next.arn() })
    }

    /// GetKeyLastUsage.
    pub async fn get_key_last_usage(
        &self,
        caller: &Caller,
        r: KeyIdRequest,
    ) -> Result<GetKeyLastUsageResponse, ServiceError> {
        let rec = self
            .managed(caller, &r.key_id, Accepts::KeyOnly, Action::GetKeyLastUsage)
            .await?;
        let stored = self.store.get_usage(&rec.locator).await?;
        let pending = self.usage.peek(&rec.locator);
        let last = match (stored, pending) {
            (Some(a), Some(b)) => Some(if b.at >= a.at { b } else { a }),
            (a, b) => a.or(b),
        };
        Ok(GetKeyLastUsageResponse {
            key_id: rec.locator.key_id.to_string(),
            // An empty object when the key was not used, as AWS documents.
            key_last_usage: last
                .map(|u| KeyLastUsageData {
                    operation: Some(u.operation),
                    timestamp: Some(Timestamp::from_millis(u.at)),
                    cloud_trail_event_id: (!u.event_id.is_empty()).then_some(u.event_id),
                    kms_request_id: Some(u.request_id),
                })
                .unwrap_or_default(),
            tracking_start_date: Timestamp::from_millis(self.tracking_start.max(rec.created_at)),
            key_creation_date: Timestamp::from_millis(rec.created_at),
        })
    }
}
