//! The simulation's oracle: what each side must hold after a round, computed from the schedule's
//! edits and the policies `docs/sync.md` and `DEFAULT-MAPPING.md` state. It is written from those
//! documents and imports nothing of the crate: not `cosell::sync`, not `cosell::mapping`.
//!
//! The rules it applies, per pair, once a round has settled:
//! - sync flag off: nothing moves either way, and the baseline stays where it was;
//! - a referral waiting for acceptance: Partner Center's values reach the CRM;
//! - accepted and linked: each deal field (name, notes, value, close date) is merged three ways
//!   against the last settled value: changed on one side only → that side's value; changed on
//!   both → the side whose record was modified last (newest wins, record by record);
//! - closed in Partner Center: the referral is read only from then on, and a seller's later
//!   edits stay in the CRM;
//! - CRM record deleted: the pair is unlinked; the referral keeps its own values and no
//!   opportunity is made for it again.

use std::fmt;

/// The deal fields the simulation edits, all synced both ways with "newest wins".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    Notes,
    /// The deal value, in cents.
    Value,
    /// The close date, `YYYY-MM-DD`.
    Close,
}

pub const FIELDS: [Field; 4] = [Field::Name, Field::Notes, Field::Value, Field::Close];

/// One side's deal, as a person reads it: text trimmed, amounts in cents, dates as dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deal {
    pub name: String,
    pub notes: String,
    pub cents: i64,
    pub close: String,
}

impl Deal {
    pub fn get(&self, field: Field) -> String {
        match field {
            Field::Name => self.name.clone(),
            Field::Notes => self.notes.clone(),
            Field::Value => self.cents.to_string(),
            Field::Close => self.close.clone(),
        }
    }

    pub fn set(&mut self, field: Field, value: &str) {
        match field {
            Field::Name => self.name = value.to_owned(),
            Field::Notes => self.notes = value.to_owned(),
            Field::Value => self.cents = value.parse().expect("cents"),
            Field::Close => self.close = value.to_owned(),
        }
    }
}

impl fmt::Display for Deal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{name {:?}, notes {:?}, cents {}, close {}}}",
            self.name, self.notes, self.cents, self.close
        )
    }
}

/// Where a pair is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Life {
    /// Shared by Microsoft, not yet accepted.
    Pending,
    /// Accepted (or created from the CRM): edits flow both ways.
    Active,
    /// Closed (won) by Microsoft: the referral is read only.
    Closed,
    /// The CRM record was deleted: unlinked for good.
    Deleted,
}

/// Who made the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Microsoft,
    Seller,
}

/// What the oracle knows of one pair.
#[derive(Debug, Clone)]
pub struct Pair {
    pub label: String,
    pub origin: Origin,
    pub life: Life,
    pub sync_on: bool,
    /// The values both sides agreed on when the pair last settled.
    pub baseline: Deal,
    /// What each side holds now, by the schedule's edits and the oracle's merges.
    pub partner_center: Deal,
    pub crm: Deal,
    /// When each side's record was last modified by a person since the last merge (seconds on
    /// the simulation's clock).
    pub partner_center_at: Option<i64>,
    pub crm_at: Option<i64>,
    /// The round whose settling made the pair exist on both sides (or, for a deleted pair, the
    /// round it was deleted in).
    pub since_round: usize,
}

/// The oracle: every pair the schedule made.
#[derive(Debug, Default)]
pub struct Oracle {
    pub pairs: Vec<Pair>,
    /// Fields merged after an edit on both sides, settled by the newest record.
    pub newest_wins: usize,
}

impl Oracle {
    fn add(&mut self, origin: Origin, life: Life, deal: Deal, round: usize) -> usize {
        let index = self.pairs.len();
        self.pairs.push(Pair {
            label: format!("p{index}"),
            origin,
            life,
            sync_on: true,
            baseline: deal.clone(),
            partner_center: deal.clone(),
            crm: deal,
            partner_center_at: None,
            crm_at: None,
            since_round: round,
        });
        index
    }

    /// Microsoft shares a referral: the CRM record made from it starts with its values.
    pub fn microsoft_shares(&mut self, deal: Deal, round: usize) -> usize {
        self.add(Origin::Microsoft, Life::Pending, deal, round)
    }

    /// A seller flags a new opportunity: the referral made from it starts with its values.
    pub fn seller_creates(&mut self, deal: Deal, round: usize) -> usize {
        self.add(Origin::Seller, Life::Active, deal, round)
    }

    pub fn edit_partner_center(&mut self, pair: usize, field: Field, value: &str, at: i64) {
        let pair = &mut self.pairs[pair];
        assert!(
            matches!(pair.life, Life::Active | Life::Deleted),
            "the schedule edits only open referrals"
        );
        pair.partner_center.set(field, value);
        pair.partner_center_at = Some(at);
    }

    pub fn edit_crm(&mut self, pair: usize, field: Field, value: &str, at: i64) {
        let pair = &mut self.pairs[pair];
        assert!(matches!(pair.life, Life::Active | Life::Closed));
        pair.crm.set(field, value);
        pair.crm_at = Some(at);
    }

    pub fn flip_sync_flag(&mut self, pair: usize, at: i64) {
        let pair = &mut self.pairs[pair];
        pair.sync_on = !pair.sync_on;
        pair.crm_at = Some(at);
    }

    pub fn accept(&mut self, pair: usize, at: i64) {
        let pair = &mut self.pairs[pair];
        assert_eq!(pair.life, Life::Pending);
        pair.life = Life::Active;
        pair.partner_center_at = Some(at);
    }

    pub fn close(&mut self, pair: usize) {
        let pair = &mut self.pairs[pair];
        assert_eq!(pair.life, Life::Active);
        pair.life = Life::Closed;
    }

    pub fn delete(&mut self, pair: usize, round: usize) {
        let pair = &mut self.pairs[pair];
        pair.life = Life::Deleted;
        pair.since_round = round;
    }

    /// The round settled: each pair as the policies dictate.
    pub fn settle(&mut self) {
        for pair in &mut self.pairs {
            match pair.life {
                Life::Pending if pair.sync_on => {
                    pair.crm = pair.partner_center.clone();
                    pair.baseline = pair.partner_center.clone();
                }
                Life::Active if pair.sync_on => {
                    let (merged, newest) = merge(pair);
                    self.newest_wins += newest;
                    pair.baseline = merged.clone();
                    pair.partner_center = merged.clone();
                    pair.crm = merged;
                    pair.partner_center_at = None;
                    pair.crm_at = None;
                }
                // Nothing moves: the flag is off, the referral closed, or the pair unlinked.
                _ => {}
            }
        }
    }
}

/// Three-way merge of one pair's deal fields, newest record winning where both changed.
fn merge(pair: &Pair) -> (Deal, usize) {
    let mut merged = pair.baseline.clone();
    let mut newest = 0;
    for field in FIELDS {
        let base = pair.baseline.get(field);
        let ours = pair.partner_center.get(field);
        let theirs = pair.crm.get(field);
        let value = if ours == base {
            theirs
        } else if theirs == base || ours == theirs {
            ours
        } else {
            let (Some(pc), Some(crm)) = (pair.partner_center_at, pair.crm_at) else {
                unreachable!("a side changed without an edit time")
            };
            assert_ne!(pc, crm, "the schedule never edits both sides in one second");
            newest += 1;
            if pc > crm { ours } else { theirs }
        };
        merged.set(field, &value);
    }
    (merged, newest)
}
