//! The borrowed handle on one sObject type, so that every client addresses a resource the same
//! way (`pc.referrals()`, `dv.table(..)`, `sf.sobject(..)`). Its operations are in the modules
//! of their kind: single records in `sobject`, Collections in `collections`, `describe`.

use super::client::Salesforce;

/// Operations on one sObject type with any `Serialize` / `DeserializeOwned` record type: the
/// one way to address records. Borrowed from the client: [`Salesforce::sobject`],
/// [`Salesforce::opportunities`].
///
/// - one record: [`create`](Self::create), [`retrieve`](Self::retrieve),
///   [`retrieve_by_external_id`](Self::retrieve_by_external_id), [`update`](Self::update)
///   (also [`if_unmodified_since`](super::UpdateRecord::if_unmodified_since)),
///   [`delete`](Self::delete), [`upsert`](Self::upsert);
/// - many records (sObject Collections): [`create_many`](Self::create_many),
///   [`update_many`](Self::update_many), [`upsert_many`](Self::upsert_many);
/// - the type itself: [`describe`](Self::describe).
///
/// ```no_run
/// # async fn run(sf: cosell::salesforce::Salesforce) -> cosell::Result<()> {
/// use cosell::salesforce::Opportunity;
/// let opp: Opportunity = sf
///     .opportunities()
///     .retrieve("006A0000001")
///     .select(["Name", "StageName"])
///     .send()
///     .await?;
/// let account: serde_json::Value = sf.sobject("Account").retrieve("001A0000001").send().await?;
/// # let _ = (opp, account); Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SObject<'a> {
    pub(super) client: &'a Salesforce,
    pub(super) name: &'a str,
}

impl Salesforce {
    /// The handle on the sObject type `name` (`Account`, `Referral__c`); the name is checked
    /// when a call is made.
    pub fn sobject<'a>(&'a self, name: &'a str) -> SObject<'a> {
        SObject { client: self, name }
    }

    /// The handle on `Opportunity`.
    pub fn opportunities(&self) -> SObject<'_> {
        self.sobject("Opportunity")
    }
}

impl SObject<'_> {
    /// The sObject type's API name.
    pub fn name(&self) -> &str {
        self.name
    }
}
