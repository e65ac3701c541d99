//! GetKeyPolicy, PutKeyPolicy, ListKeyPolicies.

use super::{page_size, read_offset};
use crate::authz::Ask;
use crate::{Caller, InvalidRequest, Kms, ServiceError};
use trent_core::authz::Action;
use trent_core::ids::Accepts;
use trent_core::policy::{PolicyDocument, DEFAULT_POLICY_NAME};
use trent_proto::ops::*;

fn policy_name(name: &Option<String>) -> Result<(), ServiceError> {
    match name.as_deref() {
        None | Some(DEFAULT_POLICY_NAME) => Ok(()),
        Some(_) => Err(ServiceError::PolicyNotFound),
    }
}

impl Kms {
    /// GetKeyPolicy.
    pub async fn get_key_policy(
        &self,
        caller: &Caller,
        r: GetKeyPolicyRequest,
    ) -> Result<GetKeyPolicyResponse, ServiceError> {
        let rec = self
            .managed(caller, &r.key_id, Accepts::KeyOnly, Action::GetKeyPolicy)
            .await?;
        policy_name(&r.policy_name)?;
        Ok(GetKeyPolicyResponse {
            policy: rec.policy,
            policy_name: DEFAULT_POLICY_NAME.into(),
        })
    }

    /// PutKeyPolicy. Allowed in every key state.
    pub async fn put_key_policy(
        &self,
        caller: &Caller,
        r: PutKeyPolicyRequest,
    ) -> Result<(), ServiceError> {
        // Authorized first (a caller that may not change the policy hears
        // that, not a verdict on its new policy), and again on the record
        // that the change replaces.
        let loc = self
            .managed(caller, &r.key_id, Accepts::KeyOnly, Action::PutKeyPolicy)
            .await?
            .locator;
        if r.policy_name.as_deref() == Some("AWS_RAM") {
            return Err(InvalidRequest::RamPolicy.into());
        }
        policy_name(&r.policy_name)?;
        let policy = r.policy.unwrap_or_default();
        PolicyDocument::parse(&policy)?;
        if r.bypass_policy_lockout_safety_check != Some(true) {
            self.check_lockout(caller, &loc, &policy).await?;
        }
        // Decided on the record that is replaced: a request checked against
        // an older policy cannot slip past a change made meanwhile.
        self.update(caller, &loc, Action::PutKeyPolicy, &Ask::default(), |k| {
            Ok(k.with_policy(policy.clone()))
        })
        .await?;
        Ok(())
    }

    /// ListKeyPolicies: there is one policy, `default`.
    pub async fn list_key_policies(
        &self,
        caller: &Caller,
        r: ListKeyPoliciesRequest,
    ) -> Result<ListKeyPoliciesResponse, ServiceError> {
        self.managed(caller, &r.key_id, Accepts::KeyOnly, Action::ListKeyPolicies)
            .await?;
        let _ = page_size(r.limit, 100, 1000);
        let offset = read_offset("policies", r.marker.as_deref())?;
        Ok(ListKeyPoliciesResponse {
            policy_names: [DEFAULT_POLICY_NAME.to_string()]
                .into_iter()
                .skip(offset)
                .collect(),
            next_marker: None,
            truncated: false,
        })
    }
}
