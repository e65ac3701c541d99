//! CreateAlias, UpdateAlias, DeleteAlias, ListAliases.

use super::keys::req;
use super::{page_size, read_marker, split_page};
use crate::authz::{Ask, KeyView};
use crate::{Caller, InvalidRequest, Kms, ServiceError};
use trent_core::alias::{
    check_alias_name, check_new_alias_name, AliasNameError, AliasRecord, MAX_ALIASES_PER_KEY,
};
use trent_core::authz::Action;
use trent_core::ids::{Accepts, AliasName, KeyLocator, KeyRef};
use trent_proto::ops::*;
use trent_proto::Timestamp;
use trent_store::StoreError;

fn alias_error(e: AliasNameError) -> ServiceError {
    match e {
        AliasNameError::Reserved => ServiceError::ReservedAlias,
        other => InvalidRequest::AliasName(other).into(),
    }
}

/// The name of an existing alias (DeleteAlias).
fn alias_name(name: &Option<String>) -> Result<AliasName, ServiceError> {
    check_alias_name(req(name)).map_err(alias_error)
}

/// The name of an alias being created or re-pointed.
fn new_alias_name(name: &Option<String>) -> Result<AliasName, ServiceError> {
    check_new_alias_name(req(name)).map_err(alias_error)
}

impl Kms {
    /// The target of CreateAlias/UpdateAlias: a key (not an alias) of the
    /// caller's, not pending deletion.
    async fn alias_target(
        &self,
        caller: &Caller,
        target: &Option<String>,
        action: Action,
    ) -> Result<KeyLocator, ServiceError> {
        let target = req(target);
        if matches!(
            KeyRef::parse(target, &caller.region, &caller.account, Accepts::KeyOrAlias),
            Ok(KeyRef::Alias { .. })
        ) {
            return Err(InvalidRequest::AliasTarget.into());
        }
        let record = self
            .managed(caller, &Some(target.to_string()), Accepts::KeyOnly, action)
            .await?;
        record.check_mutable()?;
        Ok(record.locator)
    }

    /// The alias half of an alias operation: AWS wants the action allowed
    /// on the alias by an identity policy as well as on the key.
    fn authorize_alias(
        &self,
        caller: &Caller,
        action: Action,
        name: &AliasName,
    ) -> Result<(), ServiceError> {
        let arn = name.arn(&caller.region, &caller.account);
        self.authorize_identity(caller, action, &arn, &Ask::default())
    }

    /// Authorize `action` on the key an alias points at now.
    async fn authorize_current_target(
        &self,
        caller: &Caller,
        action: Action,
        target: &KeyLocator,
    ) -> Result<(), ServiceError> {
        let record = self.record(target).await?;
        let policy = crate::authz::compile_key_policy(&record);
        let arn = target.arn();
        self.authorize_key(
            caller,
            action,
            &KeyView::of_record(&record, &arn, &policy),
            &Ask::default(),
        )
        .await?;
        Ok(())
    }

    /// CreateAlias.
    pub async fn create_alias(&self, caller: &Caller, r: AliasRequest) -> Result<(), ServiceError> {
        let name = new_alias_name(&r.alias_name)?;
        self.authorize_alias(caller, Action::CreateAlias, &name)?;
        let target = self
            .alias_target(caller, &r.target_key_id, Action::CreateAlias)
            .await?;
        let existing = self
            .store
            .list_aliases(
                &caller.region,
                &caller.account,
                Some(&target.key_id),
                None,
                MAX_ALIASES_PER_KEY,
            )
            .await?;
        if existing.len() >= MAX_ALIASES_PER_KEY {
            return Err(ServiceError::AliasLimit { arn: target.arn() });
        }
        let now = self.clock.now();
        let record = AliasRecord {
            region: caller.region.clone(),
            account: caller.account.clone(),
            name: name.clone(),
            target: target.key_id,
            created_at: now,
            updated_at: now,
        };
        match self.store.insert_alias(&record).await {
            Ok(()) => {
                self.cache
                    .invalidate_alias(&caller.region, &caller.account, &name.0);
                Ok(())
            }
            Err(StoreError::AlreadyExists) => Err(ServiceError::AliasExists {
                alias_arn: name.arn(&caller.region, &caller.account),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// UpdateAlias. The caller is authorized on the alias's current target;
    /// the update is a compare-and-swap on that target, so a concurrent move
    /// (on this node or another) makes it read and authorize again.
    pub async fn update_alias(&self, caller: &Caller, r: AliasRequest) -> Result<(), ServiceError> {
        let name = new_alias_name(&r.alias_name)?;
        let not_found = || ServiceError::AliasNotFound {
            alias_arn: name.arn(&caller.region, &caller.account),
        };
        for _ in 0..crate::CAS_ATTEMPTS {
            let Some(mut alias) = self
                .store
                .get_alias(&caller.region, &caller.account, &name)
                .await?
            else {
                return Err(not_found());
            };
            self.authorize_alias(caller, Action::UpdateAlias, &name)?;
            let current = KeyLocator {
                region: caller.region.clone(),
                account: caller.account.clone(),
                key_id: alias.target,
            };
            self.authorize_current_target(caller, Action::UpdateAlias, &current)
                .await?;
            let target = self
                .alias_target(caller, &r.target_key_id, Action::UpdateAlias)
                .await?;
            // Every key Trent makes today is a symmetric encryption key, so the
            // rule that old and new targets share type and usage always holds.
            alias.target = target.key_id;
            alias.updated_at = self.clock.now();
            match self.store.update_alias(&alias, &current.key_id).await {
                Ok(()) => {
                    self.cache
                        .invalidate_alias(&caller.region, &caller.account, &name.0);
                    return Ok(());
                }
                Err(StoreError::Conflict) => tokio::task::yield_now().await,
                Err(StoreError::NotFound) => return Err(not_found()),
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict.into())
    }

    /// DeleteAlias.
    pub async fn delete_alias(
        &self,
        caller: &Caller,
        r: DeleteAliasRequest,
    ) -> Result<(), ServiceError> {
        let name = alias_name(&r.alias_name)?;
        let not_found = || ServiceError::AliasNotFound {
            alias_arn: name.arn(&caller.region, &caller.account),
        };
        let alias = self
            .store
            .get_alias(&caller.region, &caller.account, &name)
            .await?
            .ok_or_else(not_found)?;
        let target = KeyLocator {
            region: caller.region.clone(),
            account: caller.account.clone(),
            key_id: alias.target,
        };
        self.authorize_alias(caller, Action::DeleteAlias, &name)?;
        self.authorize_current_target(caller, Action::DeleteAlias, &target)
            .await?;
        match self
            .store
            .delete_alias(&caller.region, &caller.account, &name)
            .await
        {
            Ok(()) => {
                self.cache
                    .invalidate_alias(&caller.region, &caller.account, &name.0);
                Ok(())
            }
            Err(StoreError::NotFound) => Err(not_found()),
            Err(e) => Err(e.into()),
        }
    }

    /// ListAliases.
    pub async fn list_aliases(
        &self,
        caller: &Caller,
        r: ListAliasesRequest,
    ) -> Result<ListAliasesResponse, ServiceError> {
        self.authorize_identity(caller, Action::ListAliases, "*", &Ask::default())?;
        let size = page_size(r.limit, 50, 100);
        let after = read_marker("aliases", r.marker.as_deref())?;
        let target = match &r.key_id {
            Some(k) => {
                let loc = self.resolve(caller, k, Accepts::KeyOnly).await?;
                if loc.account != caller.account {
                    return Err(ServiceError::KeyNotFound { arn: loc.arn() });
                }
                self.record(&loc).await?;
                Some(loc.key_id)
            }
            None => None,
        };
        let aliases = self
            .store
            .list_aliases(
                &caller.region,
                &caller.account,
                target.as_ref(),
                after.as_deref(),
                size + 1,
            )
            .await?;
        let (aliases, truncated) = split_page(aliases, size);
        let next_marker = truncated
            .then(|| {
                aliases
                    .last()
                    .map(|a| crate::marker::encode("aliases", &a.name.0))
            })
            .flatten();
        Ok(ListAliasesResponse {
            aliases: aliases
                .into_iter()
                .map(|a| AliasListEntry {
                    alias_arn: a.name.arn(&a.region, &a.account),
                    alias_name: a.name.0,
                    target_key_id: Some(a.target.to_string()),
                    creation_date: Some(Timestamp::from_millis(a.created_at)),
                    last_updated_date: Some(Timestamp::from_millis(a.updated_at)),
                })
                .collect(),
            next_marker,
            truncated,
        })
    }
}
