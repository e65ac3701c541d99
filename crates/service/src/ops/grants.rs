//! CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant.
//!
//! A grant is stored through the store (one transaction decides the name
//! idempotency and the 50,000-grant limit) and the key's cache entry is
//! dropped, so a new, retired or revoked grant counts from the very next
//! request on this node.

use super::keys::req;
use super::{page_size, read_marker, split_page};
use crate::authz::{Allowed, Ask, KeyView};
use crate::{Caller, InvalidRequest, Kms, ServiceError, Unsupported};
use trent_core::authz::{Action, GrantFacts};
use trent_core::grant::{
    token, Constraints, GrantRecord, MAX_CONSTRAINT_BYTES, MAX_CONSTRAINT_PAIRS,
    MAX_CONSTRAINT_VALUE, MAX_GRANTS_PER_KEY,
};
use trent_core::ids::{Accepts, KeyLocator};
use trent_proto::ops::*;
use trent_proto::*;
use trent_store::GrantInsert;

fn entry(g: &GrantRecord) -> GrantListEntry {
    GrantListEntry {
        key_id: g.key.arn(),
        grant_id: g.grant_id.clone(),
        name: g.name.clone(),
        creation_date: Timestamp::from_millis(g.created_at),
        grantee_principal: g.grantee.clone(),
        retiring_principal: g.retiring.clone(),
        issuing_account: g.issuing_account.clone(),
        operations: g.operations.clone(),
        constraints: g.constraints.as_ref().map(|c| GrantConstraints {
            encryption_context_subset: c.subset.clone(),
            encryption_context_equals: c.equals.clone(),
            source_arn: None,
        }),
    }
}

fn check_constraints(c: &GrantConstraints) -> Result<Option<Constraints>, ServiceError> {
    if c.source_arn.is_some() {
        return Err(Unsupported::Operation("The SourceArn grant constraint").into());
    }
    let mut bytes = 0;
    for map in [&c.encryption_context_equals, &c.encryption_context_subset]
        .into_iter()
        .flatten()
    {
        if map.len() > MAX_CONSTRAINT_PAIRS {
            return Err(InvalidRequest::GrantConstraint(
                "Each grant constraint can hold at most 8 encryption context pairs.",
            )
            .into());
        }
        for (k, v) in map {
            if v.chars().count() > MAX_CONSTRAINT_VALUE {
                return Err(InvalidRequest::GrantConstraint(
                    "An encryption context value in a grant constraint can be at most 384 characters.",
                )
                .into());
            }
            bytes += k.len() + v.len();
        }
    }
    if bytes > MAX_CONSTRAINT_BYTES {
        return Err(ServiceError::GrantConstraintsTooLarge);
    }
    if c.encryption_context_equals.is_none() && c.encryption_context_subset.is_none() {
        return Ok(None);
    }
    Ok(Some(Constraints {
        equals: c.encryption_context_equals.clone(),
        subset: c.encryption_context_subset.clone(),
    }))
}

/// A grant id is 64 hex digits; anything else is not one.
fn grant_id(id: &str) -> Result<&str, ServiceError> {
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(id)
    } else {
        Err(ServiceError::InvalidGrantId(id.to_string()))
    }
}

impl Kms {
    /// CreateGrant.
    pub async fn create_grant(
        &self,
        caller: &Caller,
        r: CreateGrantRequest,
    ) -> Result<CreateGrantResponse, ServiceError> {
        if r.grantee_service_principal.is_some() || r.retiring_service_principal.is_some() {
            return Err(Unsupported::Operation("Service principals in grants").into());
        }
        let grantee = r
            .grantee_principal
            .clone()
            .ok_or(InvalidRequest::GranteePrincipalRequired)?;
        let tokens = r.grant_tokens.as_deref().unwrap_or_default();
        Self::check_grant_tokens(tokens)?;
        let operations: Vec<&str> = r
            .operations
            .iter()
            .flatten()
            .filter_map(|o| o.known().map(|o| o.as_str()))
            .collect();
        if operations.is_empty() {
            return Err(InvalidRequest::GrantOperationsRequired.into());
        }
        let constraints = r
            .constraints
            .as_ref()
            .map(check_constraints)
            .transpose()?
            .flatten();
        let constraint_types = constraints.as_ref().map(|c| c.types()).unwrap_or_default();
        let record = self
            .managed_record(caller, &r.key_id, Accepts::KeyOrAlias)
            .await?;
        if record.state == KeyState::PendingDeletion {
            return Err(trent_core::KeyError::PendingDeletion { arn: record.arn() }.into());
        }
        let policy = crate::authz::compile_key_policy(&record);
        let arn = record.arn();
        let named = req(&r.key_id);
        let ask = Ask {
            grant: Some(GrantFacts {
                operations: &operations,
                grantee: Some(&grantee),
                retiring: r.retiring_principal.as_deref(),
                constraint_types: &constraint_types,
            }),
            request_alias: crate::authz::request_alias(named),
            grant_tokens: tokens,
            ..Default::default()
        };
        let allowed = self
            .authorize_key(
                caller,
                Action::CreateGrant,
                &KeyView::of_record(&record, &arn, &policy),
                &ask,
            )
            .await?;
        // A grant that gives CreateGrant cannot give more than it has.
        if let Allowed::Grant(parent) = &allowed {
            let within = operations
                .iter()
                .all(|o| parent.operations.iter().any(|p| p == o));
            let strict = match &parent.constraints {
                None => true,
                Some(pc) => constraints
                    .as_ref()
                    .is_some_and(|c| c.at_least_as_strict_as(pc)),
            };
            if !within || !strict {
                return Err(Self::grant_denial(caller, &arn));
            }
        }
        if r.dry_run == Some(true) {
            return Err(ServiceError::DryRun);
        }
        let grant = GrantRecord {
            key: record.locator.clone(),
            grant_id: hex::encode(self.random::<32>()?),
            name: r.name.clone(),
            grantee,
            retiring: r.retiring_principal.clone(),
            operations: operations.iter().map(|o| o.to_string()).collect(),
            constraints,
            issuing_account: caller.account.root_arn(),
            created_at: self.clock.now(),
        };
        let stored = match self.store.insert_grant(&grant, MAX_GRANTS_PER_KEY).await? {
            GrantInsert::Inserted => grant,
            GrantInsert::Existing(g) => *g,
            GrantInsert::LimitReached => return Err(ServiceError::GrantLimit { arn }),
        };
        self.cache.invalidate(&record.locator);
        Ok(CreateGrantResponse {
            grant_token: token::encode(
                &stored.grant_id,
                &record.locator.key_id,
                &self.random::<16>()?,
            ),
            grant_id: stored.grant_id,
        })
    }

    fn grant_denial(caller: &Caller, arn: &str) -> ServiceError {
        ServiceError::AccessDenied {
            principal: caller.principal.to_string(),
            action: Action::CreateGrant,
            resource: arn.to_string(),
            denial: trent_core::authz::Denial::NoResourcePolicy,
        }
    }

    /// Resolve and load a key without authorizing yet.
    async fn managed_record(
        &self,
        caller: &Caller,
        key_id: &Option<String>,
        accepts: Accepts,
    ) -> Result<trent_core::key::KeyRecord, ServiceError> {
        let loc = self.resolve(caller, req(key_id), accepts).await?;
        self.record(&loc).await
    }

    /// ListGrants.
    pub async fn list_grants(
        &self,
        caller: &Caller,
        r: ListGrantsRequest,
    ) -> Result<ListGrantsResponse, ServiceError> {
        let record = self
            .managed(caller, &r.key_id, Accepts::KeyOrAlias, Action::ListGrants)
            .await?;
        if let Some(id) = &r.grant_id {
            grant_id(id)?;
        }
        let size = page_size(r.limit, 50, 100);
        let mut after = read_marker("grants", r.marker.as_deref())?;
        let mut out = Vec::new();
        // Filters apply before paging: read on until a page is full.
        loop {
            let page = self
                .store
                .list_grants(&record.locator, after.as_deref(), 1000)
                .await?;
            let done = page.len() < 1000;
            after = page.last().map(|g| g.grant_id.clone());
            out.extend(page.into_iter().filter(|g| {
                r.grant_id.as_ref().is_none_or(|id| &g.grant_id == id)
                    && r.grantee_principal.as_ref().is_none_or(|p| &g.grantee == p)
            }));
            if done || out.len() > size {
                break;
            }
        }
        let (grants, truncated) = split_page(out, size);
        Ok(ListGrantsResponse {
            next_marker: truncated
                .then(|| {
                    grants
                        .last()
                        .map(|g| crate::marker::encode("grants", &g.grant_id))
                })
                .flatten(),
            grants: grants.iter().map(entry).collect(),
            truncated,
        })
    }

    /// ListRetirableGrants: grants in the caller's region whose retiring
    /// principal is the one named.
    pub async fn list_retirable_grants(
        &self,
        caller: &Caller,
        r: ListRetirableGrantsRequest,
    ) -> Result<ListGrantsResponse, ServiceError> {
        if r.retiring_service_principal.is_some() {
            return Err(Unsupported::Operation("Service principals in grants").into());
        }
        let retiring = r
            .retiring_principal
            .as_deref()
            .ok_or(InvalidRequest::RetiringPrincipalRequired)?;
        self.authorize_identity(caller, Action::ListRetirableGrants, "*", &Ask::default())?;
        let size = page_size(r.limit, 50, 100);
        let after = read_marker("retirable", r.marker.as_deref())?;
        let after = after
            .as_deref()
            .map(|m| m.split_once(' ').ok_or(ServiceError::InvalidMarker))
            .transpose()?;
        let grants = self
            .store
            .list_retirable_grants(&caller.region, retiring, after, size + 1)
            .await?;
        let (grants, truncated) = split_page(grants, size);
        Ok(ListGrantsResponse {
            next_marker: truncated
                .then(|| {
                    grants.last().map(|g| {
                        crate::marker::encode(
                            "retirable",
                            &format!("{} {}", g.key.key_id, g.grant_id),
                        )
                    })
                })
                .flatten(),
            grants: grants.iter().map(entry).collect(),
            truncated,
        })
    }

    /// RetireGrant: by its token, or by key ARN and grant id. Allowed to the
    /// grant's retiring principal, to its grantee when the grant includes
    /// RetireGrant, and to principals whose policies allow kms:RetireGrant
    /// on the key.
    pub async fn retire_grant(
        &self,
        caller: &Caller,
        r: RetireGrantRequest,
    ) -> Result<(), ServiceError> {
        let (loc, id) = match (&r.grant_token, &r.key_id, &r.grant_id) {
            (Some(t), _, _) => {
                let (id, key_id) = token::decode(t).ok_or(ServiceError::InvalidGrantToken)?;
                let loc = match &r.key_id {
                    Some(k) => self.resolve(caller, k, Accepts::KeyOnly).await?,
                    None => KeyLocator {
                        region: caller.region.clone(),
                        account: caller.account.clone(),
                        key_id,
                    },
                };
                if loc.key_id != key_id {
                    return Err(ServiceError::InvalidGrantToken);
                }
                (loc, id)
            }
            (None, Some(k), Some(id)) => {
                let loc = self.resolve(caller, k, Accepts::KeyOnly).await?;
                (loc, grant_id(id)?.to_string())
            }
            _ => return Err(InvalidRequest::RetireGrantTarget.into()),
        };
        let record = self.record(&loc).await?;
        let grant = self
            .store
            .get_grant(&loc, &id)
            .await?
            .ok_or_else(|| ServiceError::GrantNotFound(id.clone()))?;
        let principal = &caller.identity.principal;
        let by_grant = grant
            .retiring
            .as_deref()
            .is_some_and(|p| trent_core::grant::names(p, principal))
            || (trent_core::grant::names(&grant.grantee, principal)
                && grant.operations.iter().any(|o| o == "RetireGrant"));
        if !by_grant {
            let policy = crate::authz::compile_key_policy(&record);
            let arn = record.arn();
            self.authorize_key(
                caller,
                Action::RetireGrant,
                &KeyView::of_record(&record, &arn, &policy),
                &Ask::default(),
            )
            .await?;
        }
        if r.dry_run == Some(true) {
            return Err(ServiceError::DryRun);
        }
        self.delete_grant(&loc, &id).await
    }

    /// RevokeGrant.
    pub async fn revoke_grant(
        &self,
        caller: &Caller,
        r: RevokeGrantRequest,
    ) -> Result<(), ServiceError> {
        let record = self
            .managed(caller, &r.key_id, Accepts::KeyOnly, Action::RevokeGrant)
            .await?;
        let id = grant_id(req(&r.grant_id))?.to_string();
        if self.store.get_grant(&record.locator, &id).await?.is_none() {
            return Err(ServiceError::GrantNotFound(id));
        }
        if r.dry_run == Some(true) {
            return Err(ServiceError::DryRun);
        }
        self.delete_grant(&record.locator, &id).await
    }

    async fn delete_grant(&self, loc: &KeyLocator, id: &str) -> Result<(), ServiceError> {
        match self.store.delete_grant(loc, id).await {
            Ok(()) => {
                self.cache.invalidate(loc);
                Ok(())
            }
            Err(trent_store::StoreError::NotFound) => {
                Err(ServiceError::GrantNotFound(id.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }
}
