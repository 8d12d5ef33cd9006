//! A full sweep's dry run: what each pair's sync would create, update, link or unlink, decided
//! by the sync's own decision code from reads alone — no write to Partner Center, the CRM or
//! the store (no link, baseline, checkpoint, lock, lease or unmapped value is stored).

use std::collections::HashSet;

use jiff::Timestamp;

use super::{PairDecision, Synchronizer};
use crate::error::{Error, Result};
use crate::mapping::{FieldMapping, Side, fields};
use crate::partner_center::Referral;
use crate::store::{Link, LinkState};
use crate::sync::crm::CrmRecord;
use crate::sync::ids::RecordId;
use crate::sync::outcome::SyncSide;
use crate::sync::scope::Exclusion;

/// One thing a sync would do to a pair.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlannedAction {
    /// Create an opportunity in the CRM from the referral, with these canonical fields (the
    /// new record's id then goes back into the referral).
    CreateCrmRecord {
        /// The fields the new record carries.
        fields: Vec<String>,
    },
    /// Create a referral in Partner Center from the CRM record, with these canonical fields
    /// (the new referral's id then goes back into the record).
    CreateReferral {
        /// The fields the new referral carries.
        fields: Vec<String>,
    },
    /// Link the referral to the CRM record that already holds its id (or that it names).
    LinkExisting,
    /// Write these fields to the CRM record.
    UpdateCrm {
        /// The canonical fields written.
        fields: Vec<String>,
    },
    /// Write these fields to the referral.
    UpdateReferral {
        /// The canonical fields written.
        fields: Vec<String>,
    },
    /// Unlink the pair.
    Unlink {
        /// Why.
        reason: String,
    },
}

/// What a sync would do to one pair: its actions in order (none: nothing to do).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PlannedPair {
    /// The referral, when the pair has one.
    pub referral_id: Option<String>,
    /// The CRM record, when the pair has one.
    pub crm_id: Option<String>,
    /// The actions, in the order the sync takes them.
    pub actions: Vec<PlannedAction>,
    /// Why the pair is left alone, when it is.
    pub excluded: Option<Exclusion>,
    /// Changes a side cannot take (a closed referral, an unmapped value): recorded, not written.
    pub held: Vec<String>,
    /// Fields changed on both sides that need a person.
    pub conflicts: Vec<String>,
    /// Why the pair could not be planned (a read failed, or the pair is linked elsewhere).
    pub failure: Option<String>,
}

impl PlannedPair {
    /// Whether the sync would write nothing to this pair.
    pub fn is_nothing(&self) -> bool {
        self.actions.is_empty()
    }

    /// The fields the plan writes to `side` (created or updated).
    pub fn fields_written(&self, side: SyncSide) -> Vec<&str> {
        self.actions
            .iter()
            .filter_map(|action| match (action, side) {
                (PlannedAction::CreateCrmRecord { fields }, SyncSide::Crm)
                | (PlannedAction::UpdateCrm { fields }, SyncSide::Crm)
                | (PlannedAction::CreateReferral { fields }, SyncSide::PartnerCenter)
                | (PlannedAction::UpdateReferral { fields }, SyncSide::PartnerCenter) => {
                    Some(fields)
                }
                _ => None,
            })
            .flatten()
            .map(String::as_str)
            .collect()
    }
}

/// A full sweep's dry run ([`Synchronizer::preview_full_sweep`]).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SweepPreview {
    /// Referrals the Partner Center listing returned.
    pub referrals_listed: usize,
    /// CRM records (with the sync flag set) the CRM listing returned.
    pub crm_listed: usize,
    /// One entry per pair looked at, referrals first, in listing order.
    pub pairs: Vec<PlannedPair>,
}

impl SweepPreview {
    /// How many pairs plan an action matching `which`.
    ///
    /// ```
    /// use cosell::sync::{PlannedAction, SweepPreview};
    ///
    /// let preview = SweepPreview::default();
    /// assert_eq!(
    ///     preview.count(|action| matches!(action, PlannedAction::LinkExisting)),
    ///     0
    /// );
    /// ```
    pub fn count(&self, which: impl Fn(&PlannedAction) -> bool) -> usize {
        self.pairs
            .iter()
            .filter(|pair| pair.actions.iter().any(&which))
            .count()
    }

    /// The plan of the pair holding `referral_id`, if it was looked at.
    pub fn for_referral(&self, referral_id: &str) -> Option<&PlannedPair> {
        self.pairs
            .iter()
            .find(|pair| pair.referral_id.as_deref() == Some(referral_id))
    }

    /// The plan of the pair holding CRM record `crm_id`, if it was looked at.
    pub fn for_crm_record(&self, crm_id: &str) -> Option<&PlannedPair> {
        let wanted = RecordId::new(crm_id);
        self.pairs
            .iter()
            .find(|pair| pair.crm_id.as_deref().map(RecordId::new) == Some(wanted.clone()))
    }
}

impl Synchronizer {
    /// A dry run of a [full sweep](super::SweepMode::Full): lists every referral and every CRM
    /// record with the sync flag set, as the sweep does, and answers what each pair's sync
    /// would do — create, link, update (which fields), unlink — decided by the same code as a
    /// sync, from reads alone. Nothing is written anywhere: not to Partner Center, the CRM or
    /// the store (no link, baseline, checkpoint, lock, lease, audit entry or unmapped value).
    ///
    /// It takes no lock, so a pair another worker syncs meanwhile may end otherwise than
    /// planned; run it when no sweep runs (before a first `--full-sweep`).
    ///
    /// ```no_run
    /// # async fn demo(sync: &cosell::sync::Synchronizer) -> cosell::Result<()> {
    /// let preview = sync.preview_full_sweep().await?;
    /// for pair in preview.pairs.iter().filter(|pair| !pair.is_nothing()) {
    ///     println!("{:?} / {:?}: {:?}", pair.referral_id, pair.crm_id, pair.actions);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The store's, or a listing's. A pair whose reads fail is reported in its
    /// [`failure`](PlannedPair::failure) and the others are planned.
    pub async fn preview_full_sweep(&self) -> Result<SweepPreview> {
        let inner = &self.inner;
        let mut crm_ids: Vec<RecordId> = Vec::new();
        inner
            .crm
            .each_changed_since(Timestamp::UNIX_EPOCH, &inner.columns, &mut |id, _| {
                crm_ids.push(RecordId::new(&id));
            })
            .await?;
        let mut preview = SweepPreview {
            crm_listed: crm_ids.len(),
            ..SweepPreview::default()
        };
        let mut covered: HashSet<RecordId> = HashSet::new();
        let mut pager = inner.partner_center.referrals().list().pager();
        while let Some(page) = pager.next_page().await? {
            for referral in page.items {
                preview.referrals_listed += 1;
                let Some(id) = referral.id.as_deref().map(str::to_owned) else {
                    continue;
                };
                let link = inner.store.link_by_referral(&inner.tenant, &id).await?;
                let mut pair = PlannedPair {
                    referral_id: Some(id),
                    ..PlannedPair::default()
                };
                if let Err(error) = self.plan_referral(&mut pair, referral, link).await {
                    pair.failure = Some(error.to_string());
                }
                if let Some(crm_id) = &pair.crm_id {
                    covered.insert(RecordId::new(crm_id));
                }
                preview.pairs.push(pair);
            }
        }
        for crm_id in crm_ids {
            if covered.contains(&crm_id) {
                continue;
            }
            let link = inner
                .store
                .link_by_crm(&inner.tenant, crm_id.as_str())
                .await?;
            let mut pair = PlannedPair {
                crm_id: Some(crm_id.as_str().to_owned()),
                ..PlannedPair::default()
            };
            if let Err(error) = self.plan_crm_record(&mut pair, &crm_id, link).await {
                pair.failure = Some(error.to_string());
            }
            preview.pairs.push(pair);
        }
        Ok(preview)
    }

    /// A referral's pair, as a sync started at the referral decides it.
    async fn plan_referral(
        &self,
        pair: &mut PlannedPair,
        referral: Referral,
        link: Option<Link>,
    ) -> Result<()> {
        let inner = &self.inner;
        let referral_id = referral.id.as_deref().unwrap_or_default().to_owned();
        if link
            .as_ref()
            .is_some_and(|l| l.state == LinkState::Unlinked)
        {
            pair.excluded = Some(Exclusion::Unlinked);
            return Ok(());
        }
        if let Some(crm_id) = link.as_ref().and_then(|link| link.crm_id.clone()) {
            pair.crm_id = Some(crm_id.clone());
            let Some(record) = self.get_crm(&crm_id).await? else {
                pair.actions.push(PlannedAction::Unlink {
                    reason: "the CRM record was deleted".to_owned(),
                });
                return Ok(());
            };
            if link.as_ref().is_some_and(|l| l.state != LinkState::Linked) {
                pair.actions.push(PlannedAction::LinkExisting);
            }
            return self
                .plan_linked(
                    pair,
                    link.as_ref(),
                    &referral,
                    &record,
                    SyncSide::PartnerCenter,
                )
                .await;
        }
        // Not linked: the CRM record holding the referral's id, or the one it names.
        let mut found = inner
            .crm
            .find_by_referral(&referral_id, &inner.columns)
            .await?;
        if found.is_none()
            && let Some(external) = referral.external_reference_id.as_deref()
            && !external.trim().is_empty()
        {
            found = self.get_crm(RecordId::new(external).as_str()).await?;
        }
        let Some(record) = found else {
            if let Err(why) = inner.scope.admits(&referral) {
                pair.excluded = Some(why);
                return Ok(());
            }
            let json =
                serde_json::to_value(&referral).map_err(|e| Error::validation(e.to_string()))?;
            let projection = inner
                .mapping
                .referral_to_canonical(&json)
                .map_err(super::mapping_error)?;
            pair.actions.push(PlannedAction::CreateCrmRecord {
                fields: self.field_names(projection.create_changes().iter().map(|(f, _)| *f)),
            });
            return Ok(());
        };
        let crm_id = RecordId::new(&record.id).into_string();
        pair.crm_id = Some(crm_id.clone());
        let existing = inner.store.link_by_crm(&inner.tenant, &crm_id).await?;
        if let Some(existing) = &existing
            && let Some(other) = &existing.referral_id
            && *other != referral_id
            && existing.state == LinkState::Linked
        {
            return Err(Error::validation(format!(
                "CRM record `{crm_id}` is linked to referral `{other}`, not `{referral_id}`"
            )));
        }
        if existing
            .as_ref()
            .is_some_and(|l| l.state == LinkState::Unlinked)
        {
            pair.excluded = Some(Exclusion::Unlinked);
            return Ok(());
        }
        pair.actions.push(PlannedAction::LinkExisting);
        self.plan_linked(
            pair,
            existing.as_ref(),
            &referral,
            &record,
            SyncSide::PartnerCenter,
        )
        .await
    }

    /// A CRM record's pair, as a sync started at the record decides it.
    async fn plan_crm_record(
        &self,
        pair: &mut PlannedPair,
        crm_id: &RecordId,
        link: Option<Link>,
    ) -> Result<()> {
        let inner = &self.inner;
        let Some(record) = self.get_crm(crm_id.as_str()).await? else {
            match &link {
                Some(link) if link.state != LinkState::Unlinked => {
                    pair.actions.push(PlannedAction::Unlink {
                        reason: "the CRM record was deleted".to_owned(),
                    });
                }
                _ => pair.excluded = Some(Exclusion::NotFound),
            }
            return Ok(());
        };
        if link
            .as_ref()
            .is_some_and(|l| l.state == LinkState::Unlinked)
        {
            pair.excluded = Some(Exclusion::Unlinked);
            return Ok(());
        }
        let projection = inner
            .mapping
            .crm_to_canonical(&record.body)
            .map_err(super::mapping_error)?;
        if projection
            .record
            .get(fields::SYNC_WITH_PARTNER_CENTER)
            .as_bool()
            == Some(false)
        {
            pair.excluded = Some(Exclusion::SyncOff);
            return Ok(());
        }
        let known = super::known_referral(link.as_ref(), &projection);
        let mut link = link;
        if let Some(referral_id) = known {
            pair.referral_id = Some(referral_id.clone());
            if link.is_none() {
                link = inner
                    .store
                    .link_by_referral(&inner.tenant, &referral_id)
                    .await?;
                if link
                    .as_ref()
                    .is_some_and(|l| l.state == LinkState::Unlinked)
                {
                    pair.excluded = Some(Exclusion::Unlinked);
                    return Ok(());
                }
            }
            let Some(referral) = self.get_referral(&referral_id).await? else {
                pair.excluded = Some(Exclusion::NotFound);
                return Ok(());
            };
            if link.as_ref().is_none_or(|l| l.state != LinkState::Linked) {
                pair.actions.push(PlannedAction::LinkExisting);
            }
            return self
                .plan_linked(pair, link.as_ref(), &referral, &record, SyncSide::Crm)
                .await;
        }
        // No referral yet: one an earlier attempt created is linked, else one is created.
        if let Some(pending) = link.as_ref().filter(|l| l.state == LinkState::Pending)
            && let Some(found) = self
                .find_created_referral(crm_id, pending.created_at)
                .await?
        {
            pair.referral_id = found.id.as_deref().map(str::to_owned);
            pair.actions.push(PlannedAction::LinkExisting);
            return self
                .plan_linked(pair, link.as_ref(), &found, &record, SyncSide::Crm)
                .await;
        }
        pair.actions.push(PlannedAction::CreateReferral {
            fields: self.field_names(projection.create_changes().iter().map(|(f, _)| *f)),
        });
        Ok(())
    }

    /// A pair with both sides, as the sync's settling decides it: against the stored baseline
    /// of `link`'s pair (none for a pair about to be linked).
    async fn plan_linked(
        &self,
        pair: &mut PlannedPair,
        link: Option<&Link>,
        referral: &Referral,
        record: &CrmRecord,
        source: SyncSide,
    ) -> Result<()> {
        let inner = &self.inner;
        let stored = match link {
            Some(link) => inner.store.baseline(&inner.tenant, link.pair).await?,
            None => None,
        };
        let (referral_json, pc, crm) = self.project_pair(referral, record)?;
        if crm.record.get(fields::SYNC_WITH_PARTNER_CENTER).as_bool() == Some(false) {
            pair.actions.clear();
            pair.excluded = Some(Exclusion::SyncOff);
            return Ok(());
        }
        let PairDecision {
            mut held_log,
            plan,
            pc_write,
            crm_write,
            ..
        } = self.decide_pair(stored.as_ref(), &referral_json, &pc, &crm, source)?;
        if !crm_write.is_empty() {
            pair.actions.push(PlannedAction::UpdateCrm {
                fields: self.written_fields(&plan, Side::Crm),
            });
        }
        if !pc_write.patch.is_empty() {
            pair.actions.push(PlannedAction::UpdateReferral {
                fields: self.written_fields(&plan, Side::PartnerCenter),
            });
        }
        // Reported against a copy of the log: only what a sync would newly record.
        pair.held = plan
            .report_held(&mut held_log)
            .into_iter()
            .map(|held| self.field_name(held.field))
            .collect();
        pair.conflicts = plan
            .conflicts()
            .iter()
            .filter(|conflict| conflict.resolution == crate::diff::Resolution::Manual)
            .map(|conflict| self.field_name(conflict.field))
            .collect();
        Ok(())
    }

    fn field_names(&self, fields: impl Iterator<Item = crate::mapping::FieldId>) -> Vec<String> {
        fields.map(|field| self.field_name(field)).collect()
    }
}
