//! Three-way diff against the baseline, and the sync plan it produces.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::mapping::{
    FieldId, FieldSpec, HoldReason, MappingIssue, Policy, Record, Schema, Side, Value,
};

use super::ConvergenceHash;
use super::hash::held_fingerprint;
use super::resolve::{Times, resolve, sticky};

/// Compare both sides against the baseline (the canonical record as it was after the last
/// successful sync) and plan the writes that bring them in step.
///
/// Per field, with the field's [`Direction`](crate::mapping::Direction) and [`Policy`]:
/// - a side *changed* the field when its value is not [`Value::Absent`] and differs from the
///   baseline as that side stores it (absent means the side did not read or does not map the
///   field: it never counts as a change and is never written; a side that reads back another
///   value than the one written, [`FieldSpec::reads_back`], has not changed the field by
///   holding that value, and a value it already holds that way is not written again);
/// - a change on one side flows to the other where the direction allows it;
/// - both sides changed it to the same value: nothing to write, the baseline catches up;
/// - both sides changed it to different values, or the receiving side of a one-way field edited
///   it: a [`Conflict`], settled by the policy ([`Policy::Manual`] writes nothing);
/// - [`Policy::StickyTrue`] keeps a flag true even against a one-sided change to false;
/// - fields with [`Direction::CreateOnly`](crate::mapping::Direction::CreateOnly),
///   [`Direction::Gate`](crate::mapping::Direction::Gate) or
///   [`Direction::None`](crate::mapping::Direction::None) are
///   skipped.
///
/// Values are compared as they are: normalize all three records first ([`Schema::normalize`]).
/// [`Policy::NewestWins`] reads the records' [`modified`](Record::modified) times. When nothing
/// changed this allocates nothing.
///
/// ```
/// use cosell::diff::{self, WriteOutcome};
/// use cosell::mapping::{fields, Schema, Value};
///
/// let schema = Schema::cosell();
/// let baseline = schema.record()
///     .with(fields::DEAL_NAME, Value::text("Contoso"))
///     .with(fields::NOTES, Value::text("first call done"));
/// // A seller renamed the deal in Partner Center; the CRM user edited the notes.
/// let partner_center = baseline.clone().with(fields::DEAL_NAME, Value::text("Contoso – phase 2"));
/// let crm = baseline.clone().with(fields::NOTES, Value::text("demo booked"));
///
/// let plan = diff::three_way(&schema, &baseline, &partner_center, &crm);
/// assert_eq!(plan.crm().iter().collect::<Vec<_>>(), [(fields::DEAL_NAME, &Value::text("Contoso – phase 2"))]);
/// assert_eq!(plan.partner_center().iter().collect::<Vec<_>>(), [(fields::NOTES, &Value::text("demo booked"))]);
/// assert!(plan.conflicts().is_empty());
///
/// // Both writes succeeded: store the new baseline.
/// let mut stored = baseline.clone();
/// plan.apply_to_baseline(&mut stored, WriteOutcome::BOTH);
/// assert_eq!(stored.get(fields::NOTES), &Value::text("demo booked"));
/// ```
pub fn three_way(
    schema: &Schema,
    baseline: &Record,
    partner_center: &Record,
    crm: &Record,
) -> SyncPlan {
    let mut plan = SyncPlan::default();
    let times = Times {
        partner_center: partner_center.modified(),
        crm: crm.modified(),
    };
    for (field, spec) in schema.fields() {
        let direction = spec.sync_direction();
        if !direction.is_synced() {
            continue;
        }
        let base = baseline.get(field);
        let pc = partner_center.get(field);
        let cr = crm.get(field);
        // Each side against the baseline as that side stores it, so reading back what was
        // written is no change.
        let pc_changed = !pc.is_absent() && !spec.same_on(Side::PartnerCenter, pc, base);
        let crm_changed = !cr.is_absent() && !spec.same_on(Side::Crm, cr, base);
        if pc_changed || crm_changed {
            let values = FieldValues {
                field,
                base,
                partner_center: pc,
                crm: cr,
            };
            plan.decide(values, spec, times, pc_changed, crm_changed);
        }
    }
    plan
}

/// One field's three values.
#[derive(Clone, Copy)]
struct FieldValues<'a> {
    field: FieldId,
    base: &'a Value,
    partner_center: &'a Value,
    crm: &'a Value,
}

impl FieldValues<'_> {
    fn on(&self, side: Side) -> &Value {
        match side {
            Side::PartnerCenter => self.partner_center,
            Side::Crm => self.crm,
        }
    }
}

/// What a three-way diff decided: the writes for each side, the conflicts and how each was
/// settled, the changes that cannot be written, and the baseline to store once writes succeed.
///
/// Each side's changes are a list of `(FieldId, new value)` that the side's
/// [`FieldMapping`](crate::mapping) renders into its own write (Partner Center JSON Patch,
/// Dataverse or Salesforce PATCH with the changed fields only).
///
/// **Partial failure.** Store the baseline with [`apply_to_baseline`](Self::apply_to_baseline)
/// and the [`WriteOutcome`]: a field is stored only once every write it needs has succeeded, so
/// after one side's write succeeds and the other's fails, the next diff plans again exactly the
/// failed side's writes and does not repeat the successful ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncPlan {
    partner_center: SideChanges,
    crm: SideChanges,
    conflicts: Vec<Conflict>,
    held: Vec<Held>,
    baseline_updates: Vec<BaselineUpdate>,
}

impl SyncPlan {
    /// The writes for Partner Center.
    pub fn partner_center(&self) -> &SideChanges {
        &self.partner_center
    }

    /// The writes for the CRM.
    pub fn crm(&self) -> &SideChanges {
        &self.crm
    }

    /// The writes for `side`.
    pub fn changes_for(&self, side: Side) -> &SideChanges {
        match side {
            Side::PartnerCenter => &self.partner_center,
            Side::Crm => &self.crm,
        }
    }

    /// The conflicts, each with its resolution.
    pub fn conflicts(&self) -> &[Conflict] {
        &self.conflicts
    }

    /// Values that should reach a side but cannot: the field's direction does not write to it,
    /// the side does not carry the field ([`Value::Absent`]), or the side's mapping held the
    /// write back ([`hold_back`](Self::hold_back)). Nothing is written for them and the
    /// baseline stays, so every diff until the sides agree holds them again; report them with
    /// [`report_held`](Self::report_held), which names each once.
    pub fn held(&self) -> &[Held] {
        &self.held
    }

    /// Take back the planned write of `field` to `side`, which the side's mapping did not send
    /// (a closed referral, an irreversible flag): it becomes [`Held`], and the field's baseline
    /// update goes, since that side does not hold the value. Nothing happens when no write of
    /// the field to the side was planned.
    pub fn hold(&mut self, side: Side, field: FieldId, reason: HoldReason) {
        let changes = &mut self.changes_mut(side).changes;
        let Some(at) = changes.iter().position(|change| change.field == field) else {
            return;
        };
        let change = changes.remove(at);
        self.baseline_updates.retain(|update| update.field != field);
        self.held.push(Held {
            field,
            side,
            value: change.new,
            reason: HeldReason::Mapping(reason),
        });
    }

    /// [`hold`](Self::hold) every write to `side` that its mapping reports as held
    /// ([`MappingIssue::Held`]), naming fields as `schema` does.
    ///
    /// ```
    /// use cosell::diff::{self, HeldLog, HeldReason};
    /// use cosell::mapping::{changes_of, dynamics365, fields, FieldMapping, HoldReason, Side, Value};
    /// use serde_json::json;
    ///
    /// let mapping = dynamics365().build()?;
    /// let referral = json!({"status": "Closed", "substatus": "Won", "details": {"notes": "a"}});
    /// let pc = mapping.referral_to_canonical(&referral)?.record;
    /// let crm = pc.clone().with(fields::NOTES, Value::text("a late edit"));
    /// let mut plan = diff::three_way(mapping.schema(), &pc, &pc, &crm);
    /// let write = mapping.partner_center_write(&changes_of(plan.partner_center()), &referral)?;
    /// plan.hold_back(mapping.schema(), Side::PartnerCenter, &write.issues);
    /// assert!(!plan.has_writes());
    /// assert_eq!(plan.held()[0].reason, HeldReason::Mapping(HoldReason::ReferralClosed));
    /// # Ok::<(), cosell::mapping::MappingError>(())
    /// ```
    pub fn hold_back(&mut self, schema: &Schema, side: Side, issues: &[MappingIssue]) {
        for issue in issues {
            if let MappingIssue::Held { field, reason } = issue
                && let Some(field) = schema.id(field)
            {
                self.hold(side, field, *reason);
            }
        }
    }

    /// The held values not reported before according to `log`, and `log` updated to what is
    /// held now: a held value is reported once, and again only when the value held back
    /// changes (or after it stopped being held). Store the log with the pair's baseline.
    ///
    /// ```
    /// use cosell::diff::{self, HeldLog};
    /// use cosell::mapping::{fields, Schema, Value};
    ///
    /// let schema = Schema::cosell();
    /// // Partner Center shows the deal to Microsoft sellers; the CRM flag, which owns it, does not.
    /// let base = schema.record().with(fields::VISIBLE_TO_MICROSOFT_SELLERS, Value::Bool(false));
    /// let pc = base.clone().with(fields::VISIBLE_TO_MICROSOFT_SELLERS, Value::Bool(true));
    /// let mut log = HeldLog::default();
    /// let plan = diff::three_way(&schema, &base, &pc, &base);
    /// assert_eq!(plan.report_held(&mut log).len(), 1);
    /// let again = diff::three_way(&schema, &base, &pc, &base);
    /// assert!(again.report_held(&mut log).is_empty(), "reported once");
    /// ```
    pub fn report_held(&self, log: &mut HeldLog) -> Vec<&Held> {
        let now: Vec<HeldEntry> = self
            .held
            .iter()
            .map(|held| HeldEntry {
                field: held.field,
                side: held.side,
                fingerprint: held.fingerprint(),
            })
            .collect();
        let fresh = self
            .held
            .iter()
            .zip(&now)
            .filter(|(_, entry)| !log.entries.contains(entry))
            .map(|(held, _)| held)
            .collect();
        log.entries = now;
        fresh
    }

    /// The conflicts not reported before according to `log`, and `log` updated to the conflicts
    /// of this plan: a conflict is reported once, and again only when either side's value
    /// changes (or after it was gone). A conflict left for a person, or settled by a policy whose
    /// write a side then held back, stays in [`conflicts`](Self::conflicts) on every pass; this
    /// names it once.
    ///
    /// ```
    /// use cosell::diff::{self, HeldLog};
    /// use cosell::mapping::{dynamics365, fields, FieldMapping, Value};
    ///
    /// let mapping = dynamics365().build()?;
    /// let schema = mapping.schema();
    /// let base = schema.record().with(fields::NOTES, Value::text("a"));
    /// let pc = base.clone().with(fields::NOTES, Value::text("from Partner Center"));
    /// let crm = base.clone().with(fields::NOTES, Value::text("from the CRM"));
    /// let mut log = HeldLog::default();
    /// assert_eq!(diff::three_way(schema, &base, &pc, &crm).report_conflicts(&mut log).len(), 1);
    /// assert!(diff::three_way(schema, &base, &pc, &crm).report_conflicts(&mut log).is_empty());
    /// # Ok::<(), cosell::mapping::MappingError>(())
    /// ```
    pub fn report_conflicts(&self, log: &mut HeldLog) -> Vec<&Conflict> {
        let now: Vec<ConflictEntry> = self
            .conflicts
            .iter()
            .map(|conflict| ConflictEntry {
                field: conflict.field,
                partner_center: held_fingerprint(
                    conflict.field,
                    Side::PartnerCenter,
                    &conflict.partner_center,
                ),
                crm: held_fingerprint(conflict.field, Side::Crm, &conflict.crm),
            })
            .collect();
        let fresh = self
            .conflicts
            .iter()
            .zip(&now)
            .filter(|(_, entry)| !log.conflicts.contains(entry))
            .map(|(conflict, _)| conflict)
            .collect();
        log.conflicts = now;
        fresh
    }

    /// What to store into the baseline, and after which writes.
    pub fn baseline_updates(&self) -> &[BaselineUpdate] {
        &self.baseline_updates
    }

    /// Whether either side has something to write.
    pub fn has_writes(&self) -> bool {
        !self.partner_center.is_empty() || !self.crm.is_empty()
    }

    /// Whether the plan holds nothing at all: no writes, conflicts, held values or baseline
    /// updates.
    pub fn is_empty(&self) -> bool {
        !self.has_writes()
            && self.conflicts.is_empty()
            && self.held.is_empty()
            && self.baseline_updates.is_empty()
    }

    /// Store into `baseline` every update whose writes have succeeded in `outcome`. Call it once
    /// with the final outcome, or after each side's write with the outcome so far: applying an
    /// update twice is harmless.
    pub fn apply_to_baseline(&self, baseline: &mut Record, outcome: WriteOutcome) {
        for update in &self.baseline_updates {
            if update.after.is_met(outcome) {
                baseline.set(update.field, update.value.clone());
            }
        }
    }

    fn changes_mut(&mut self, side: Side) -> &mut SideChanges {
        match side {
            Side::PartnerCenter => &mut self.partner_center,
            Side::Crm => &mut self.crm,
        }
    }

    /// Settle one field that changed on at least one side. Kept out of line: the loop above
    /// stays small for the common "nothing changed" case.
    #[inline(never)]
    fn decide(
        &mut self,
        values: FieldValues<'_>,
        spec: &FieldSpec,
        times: Times,
        pc_changed: bool,
        crm_changed: bool,
    ) {
        let (direction, policy) = (spec.sync_direction(), spec.conflict_policy());
        let FieldValues {
            field,
            base,
            partner_center,
            crm,
        } = values;
        if pc_changed && crm_changed {
            // Both sides made the same edit (each as it stores it): converged, nothing to
            // write. The baseline keeps the value of the side that holds it as written.
            let converged = if spec.same_on(Side::Crm, partner_center, crm) {
                Some(partner_center)
            } else if spec.same_on(Side::PartnerCenter, partner_center, crm) {
                Some(crm)
            } else {
                None
            };
            if let Some(value) = converged {
                self.update_baseline(field, value.clone(), Commit::Immediately);
                return;
            }
        }
        let changed = if pc_changed {
            Side::PartnerCenter
        } else {
            Side::Crm
        };
        // A one-sided edit that the direction lets flow to the other side needs no policy;
        // anything else (edits on both sides, or an edit on the receiving side of a one-way
        // field) is a conflict.
        let flows = !(pc_changed && crm_changed) && direction.writes_to(changed.other());
        let (settled, conflict) = if flows {
            let edit = values.on(changed);
            match policy {
                Policy::StickyTrue => match sticky(base, partner_center, crm) {
                    Some(kept) if *kept != *edit => (kept, true),
                    _ => (Cow::Borrowed(edit), false),
                },
                _ => (Cow::Borrowed(edit), false),
            }
        } else {
            if !(pc_changed && crm_changed) && values.on(changed.other()).is_absent() {
                // The owning side does not carry the field: nothing to weigh the edit against.
                return;
            }
            match resolve(policy, base, partner_center, crm, times) {
                Some(settled) => (settled, true),
                None => {
                    self.conflicts.push(Conflict {
                        field,
                        baseline: base.clone(),
                        partner_center: partner_center.clone(),
                        crm: crm.clone(),
                        resolution: Resolution::Manual,
                    });
                    return;
                }
            }
        };
        if settled.is_absent() {
            return;
        }
        // A value a policy made (a merged set) in the form the records are compared in, so an
        // empty merge is the null both sides read back.
        let settled = match settled {
            Cow::Owned(value) => Cow::Owned(
                spec.normalization_rules()
                    .apply(spec.kind(), value.clone())
                    .map_or(value, |normalized| normalized.value),
            ),
            borrowed => borrowed,
        };
        if conflict {
            self.conflicts.push(Conflict {
                field,
                baseline: base.clone(),
                partner_center: partner_center.clone(),
                crm: crm.clone(),
                resolution: Resolution::Resolved {
                    policy,
                    value: settled.as_ref().clone(),
                },
            });
        }
        let mut needs = [false; 2];
        let mut complete = true;
        for (slot, side) in [Side::PartnerCenter, Side::Crm].into_iter().enumerate() {
            let current = values.on(side);
            if spec.same_on(side, current, &settled) {
                continue;
            }
            needs[slot] = true;
            let reason = if !direction.writes_to(side) {
                Some(HeldReason::Direction)
            } else if current.is_absent() {
                Some(HeldReason::NotCarried)
            } else {
                None
            };
            match reason {
                None => self.changes_mut(side).changes.push(FieldChange {
                    field,
                    old: current.clone(),
                    new: settled.as_ref().clone(),
                }),
                Some(reason) => {
                    complete = false;
                    self.held.push(Held {
                        field,
                        side,
                        value: settled.as_ref().clone(),
                        reason,
                    });
                }
            }
        }
        // The baseline moves only when both sides will hold the settled value; otherwise it
        // stays, so the next diff sees the same edits and decides the same way.
        if complete {
            let after = match needs {
                [false, false] => Commit::Immediately,
                [true, false] => Commit::AfterPartnerCenterWrite,
                [false, true] => Commit::AfterCrmWrite,
                [true, true] => Commit::AfterBothWrites,
            };
            self.update_baseline(field, settled.into_owned(), after);
        }
    }

    fn update_baseline(&mut self, field: FieldId, value: Value, after: Commit) {
        self.baseline_updates.push(BaselineUpdate {
            field,
            value,
            after,
        });
    }
}

/// The writes planned for one side: `(field, new value)` pairs in schema order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SideChanges {
    changes: Vec<FieldChange>,
}

impl SideChanges {
    /// The changes with their old values.
    pub fn changes(&self) -> &[FieldChange] {
        &self.changes
    }

    /// `(field, new value)` pairs, in schema order: what a mapping renders into the side's write.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (FieldId, &Value)> + '_ {
        self.changes
            .iter()
            .map(|change| (change.field, &change.new))
    }

    /// The new value planned for `field`, if any.
    pub fn get(&self, field: FieldId) -> Option<&Value> {
        self.changes
            .iter()
            .find(|change| change.field == field)
            .map(|change| &change.new)
    }

    /// How many fields are to be written.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// Whether nothing is to be written.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Set the planned values on `record`: the side's record as it will be once the write has
    /// succeeded (hash it for echo detection with
    /// [`ConvergenceHash`](crate::diff::ConvergenceHash)).
    pub fn apply_to(&self, record: &mut Record) {
        for change in &self.changes {
            record.set(change.field, change.new.clone());
        }
    }
}

/// One field to write to one side.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    /// The field.
    pub field: FieldId,
    /// The side's current value.
    pub old: Value,
    /// The value to write.
    pub new: Value,
}

/// A field both sides changed to different values, or that the receiving side of a one-way
/// field edited, or whose one-sided change a [`Policy::StickyTrue`] flag overruled.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The field.
    pub field: FieldId,
    /// Its value in the baseline.
    pub baseline: Value,
    /// Its value on Partner Center.
    pub partner_center: Value,
    /// Its value in the CRM.
    pub crm: Value,
    /// How it was settled.
    pub resolution: Resolution,
}

/// How a [`Conflict`] was settled.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// The policy chose this value; the plan writes it where it differs.
    Resolved {
        /// The policy that chose.
        policy: Policy,
        /// The value chosen.
        value: Value,
    },
    /// Left for a person ([`Policy::Manual`], or [`Policy::NewestWins`] without two distinct
    /// modification times, or [`Policy::Union`] over values that are not sets): nothing is
    /// written and the baseline is left alone, so the conflict is reported again until resolved.
    Manual,
}

/// A value that should reach a side but cannot be written there.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    /// The field.
    pub field: FieldId,
    /// The side that is not written.
    pub side: Side,
    /// The value it would receive.
    pub value: Value,
    /// Why it is not written.
    pub reason: HeldReason,
}

impl Held {
    /// A SHA-256 fingerprint of the field, the side and the value held back: what a
    /// [`HeldLog`] remembers, so the same held value is reported once.
    pub fn fingerprint(&self) -> ConvergenceHash {
        held_fingerprint(self.field, self.side, &self.value)
    }
}

/// Why a [`Held`] value is not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeldReason {
    /// The field's direction does not write to that side.
    Direction,
    /// The side does not carry the field ([`Value::Absent`]).
    NotCarried,
    /// The side's mapping held the write back ([`SyncPlan::hold`]).
    Mapping(HoldReason),
}

/// The held values and conflicts already reported for one pair ([`SyncPlan::report_held`],
/// [`SyncPlan::report_conflicts`]): fingerprints per field and side, never the values
/// themselves. Store it beside the pair's baseline; it holds at most one entry per field and
/// side.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldLog {
    entries: Vec<HeldEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    conflicts: Vec<ConflictEntry>,
}

impl HeldLog {
    /// Whether nothing held and no conflict is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.conflicts.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ConflictEntry {
    field: FieldId,
    partner_center: ConvergenceHash,
    crm: ConvergenceHash,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct HeldEntry {
    field: FieldId,
    side: Side,
    fingerprint: ConvergenceHash,
}

/// A value to store into the baseline once the writes it depends on have succeeded.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineUpdate {
    /// The field.
    pub field: FieldId,
    /// The value both sides hold once the writes succeed.
    pub value: Value,
    /// The writes it waits for.
    pub after: Commit,
}

/// Which writes a [`BaselineUpdate`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// None: both sides already hold the value.
    Immediately,
    /// The Partner Center write.
    AfterPartnerCenterWrite,
    /// The CRM write.
    AfterCrmWrite,
    /// Both writes.
    AfterBothWrites,
}

impl Commit {
    fn is_met(self, outcome: WriteOutcome) -> bool {
        match self {
            Commit::Immediately => true,
            Commit::AfterPartnerCenterWrite => outcome.partner_center,
            Commit::AfterCrmWrite => outcome.crm,
            Commit::AfterBothWrites => outcome.partner_center && outcome.crm,
        }
    }
}

/// Which sides' writes succeeded (a side with nothing to write counts as succeeded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOutcome {
    /// The Partner Center write succeeded.
    pub partner_center: bool,
    /// The CRM write succeeded.
    pub crm: bool,
}

impl WriteOutcome {
    /// Both writes succeeded.
    pub const BOTH: WriteOutcome = WriteOutcome {
        partner_center: true,
        crm: true,
    };
    /// Only the Partner Center write succeeded.
    pub const PARTNER_CENTER_ONLY: WriteOutcome = WriteOutcome {
        partner_center: true,
        crm: false,
    };
    /// Only the CRM write succeeded.
    pub const CRM_ONLY: WriteOutcome = WriteOutcome {
        partner_center: false,
        crm: true,
    };
    /// Neither write succeeded.
    pub const NEITHER: WriteOutcome = WriteOutcome {
        partner_center: false,
        crm: false,
    };
}
