//! TagResource, UntagResource, ListResourceTags.

use super::{check_tags, page_size, read_offset, split_page};
use crate::authz::Ask;
use crate::{Caller, Kms, ServiceError, TagError};
use trent_core::authz::Action;
use trent_core::ids::Accepts;
use trent_proto::ops::*;

impl Kms {
    /// TagResource.
    pub async fn tag_resource(
        &self,
        caller: &Caller,
        r: TagResourceRequest,
    ) -> Result<(), ServiceError> {
        let loc = self.locate(caller, &r.key_id).await?;
        let tags = check_tags(r.tags.as_deref().unwrap_or_default())?;
        let keys: Vec<String> = tags.iter().map(|(k, _)| k.clone()).collect();
        let ask = Ask {
            request_tags: Some(&tags),
            tag_keys: Some(&keys),
            ..Default::default()
        };
        self.update(caller, &loc, Action::TagResource, &ask, |k| {
            k.with_tags(&tags)?
                .ok_or(ServiceError::Tag(TagError::TooMany))
        })
        .await?;
        Ok(())
    }

    /// UntagResource.
    pub async fn untag_resource(
        &self,
        caller: &Caller,
        r: UntagResourceRequest,
    ) -> Result<(), ServiceError> {
        let loc = self.locate(caller, &r.key_id).await?;
        let keys = r.tag_keys.unwrap_or_default();
        if keys
            .iter()
            .any(|k| k.to_ascii_lowercase().starts_with("aws:"))
        {
            return Err(TagError::Reserved.into());
        }
        let ask = Ask {
            tag_keys: Some(&keys),
            ..Default::default()
        };
        self.update(caller, &loc, Action::UntagResource, &ask, |k| {
            Ok(k.without_tags(&keys)?)
        })
        .await?;
        Ok(())
    }

    /// ListResourceTags.
    pub async fn list_resource_tags(
        &self,
        caller: &Caller,
        r: ListResourceTagsRequest,
    ) -> Result<ListResourceTagsResponse, ServiceError> {
        let rec = self
            .managed(
                caller,
                &r.key_id,
                Accepts::KeyOnly,
                Action::ListResourceTags,
            )
            .await?;
        let size = page_size(r.limit, 50, 50);
        let offset = read_offset("tags", r.marker.as_deref())?;
        let tags = super::keys::tag_list(rec.tags.iter().skip(offset).take(size + 1));
        let (tags, truncated) = split_page(tags, size);
        Ok(ListResourceTagsResponse {
            next_marker: truncated
                .then(|| crate::marker::encode("tags", &(offset + tags.len()).to_string())),
            tags,
            truncated,
        })
    }
}
