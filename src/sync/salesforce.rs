//! [`Crm`] for Salesforce opportunities.

use async_trait::async_trait;
use jiff::Timestamp;
use serde_json::{Value as Json, json};

use super::crm::{BULK_READ_CHARS, Crm, CrmRecord, SyncColumns, text, url_chunks};
use super::setup::SetupProblem;
use crate::Order;
use crate::error::{Error, Result};
use crate::mapping::{
    AccountCandidate, AccountResolver, ContactResolver, CrmWrite, DeclarativeMapping,
    ExactAccountMatch, Lookup, LookupTarget, Resolution, validate_salesforce,
};
use crate::salesforce::soql::{Soql, field};
use crate::salesforce::{COMPOSITE_LIMIT, Salesforce, Subrequest, datetime};

const OBJECT: &str = "Opportunity";

/// The sync's view of Salesforce `Opportunity`: reads by SOQL (relationship fields included),
/// creates by upsert on the referral-id External ID field, updates conditional on
/// `LastModifiedDate`; stages carry won and lost.
///
/// Build the [`Salesforce`] client with an origin client id
/// ([`SalesforceBuilder::origin_client_id`](crate::salesforce::SalesforceBuilder::origin_client_id)):
/// the synchronizer refuses to start without one.
#[derive(Debug, Clone)]
pub struct SalesforceCrm {
    client: Salesforce,
}

impl SalesforceCrm {
    /// The CRM behind `client`.
    pub fn new(client: Salesforce) -> Self {
        SalesforceCrm { client }
    }

    /// The client.
    pub fn client(&self) -> &Salesforce {
        &self.client
    }

    fn fields(columns: &SyncColumns) -> Vec<String> {
        let mut fields = columns.read.soql_fields();
        for name in ["Id", "LastModifiedDate", columns.referral_id.as_str()]
            .into_iter()
            .chain(columns.sync_flag.as_deref())
        {
            if !fields.iter().any(|known| known.eq_ignore_ascii_case(name)) {
                fields.push(name.to_owned());
            }
        }
        fields
    }

    async fn one(&self, soql: Soql) -> Result<Option<CrmRecord>> {
        let rows: Vec<Json> = self.client.query(&soql).collect_all().await?;
        rows.into_iter().next().map(record).transpose()
    }

    async fn by(
        &self,
        column: &str,
        value: &str,
        columns: &SyncColumns,
    ) -> Result<Option<CrmRecord>> {
        let soql = Soql::select(Self::fields(columns))
            .from(OBJECT)
            .filter(field(column).eq(value))
            .limit(1)
            .build()?;
        self.one(soql).await
    }
}

#[async_trait]
impl AccountResolver for SalesforceCrm {
    async fn resolve_account(
        &self,
        customer: &crate::mapping::CustomerQuery,
    ) -> Result<Resolution> {
        let Some(name) = customer.name.as_deref() else {
            return Ok(Resolution::Create);
        };
        let soql = Soql::select(["Id", "Name", "BillingPostalCode", "BillingCountry"])
            .from("Account")
            .filter(field("Name").eq(name))
            .limit(50)
            .build()?;
        let rows: Vec<Json> = self.client.query(&soql).collect_all().await?;
        let candidates = rows
            .iter()
            .filter_map(|row| {
                Some(AccountCandidate {
                    id: text(row, "Id")?,
                    name: text(row, "Name"),
                    postal_code: text(row, "BillingPostalCode"),
                    country: text(row, "BillingCountry"),
                })
            })
            .collect();
        ExactAccountMatch::new(candidates)
            .resolve_account(customer)
            .await
    }
}

#[async_trait]
impl ContactResolver for SalesforceCrm {
    async fn resolve_contact(&self, contact: &crate::mapping::ContactQuery) -> Result<Resolution> {
        let Some(email) = contact.email.as_deref() else {
            return Ok(Resolution::Create);
        };
        let soql = Soql::select(["Id", "Email"])
            .from("Contact")
            .filter(field("Email").eq(email))
            .limit(2)
            .build()?;
        let rows: Vec<Json> = self.client.query(&soql).collect_all().await?;
        let found: Vec<(String, String)> = rows
            .iter()
            .filter_map(|row| Some((text(row, "Email")?, text(row, "Id")?)))
            .collect();
        super::crm::match_contact(contact, &found).await
    }
}

fn record(body: Json) -> Result<CrmRecord> {
    let id = text(&body, "Id")
        .ok_or_else(|| Error::validation("the opportunity was read without its Id"))?;
    let version = text(&body, "LastModifiedDate");
    let modified = version.as_deref().and_then(datetime::parse);
    Ok(CrmRecord {
        id,
        body,
        version,
        modified,
    })
}

#[async_trait]
impl Crm for SalesforceCrm {
    fn name(&self) -> &str {
        "salesforce"
    }

    fn requests_sent(&self) -> u64 {
        self.client.pipeline().requests_sent()
    }

    fn api_usage(&self) -> Option<(u64, u64)> {
        let usage = self.client.last_limit_info()?.api_usage?;
        Some((usage.used, usage.limit))
    }

    async fn check(
        &self,
        mapping: &DeclarativeMapping,
        columns: &SyncColumns,
    ) -> Result<Vec<SetupProblem>> {
        let describe = self.client.opportunities().describe().await?;
        let mut problems: Vec<SetupProblem> = validate_salesforce(mapping, &describe)
            .into_iter()
            .filter(super::setup::blocks_sync)
            .map(SetupProblem::Mapping)
            .collect();
        if let Some(key) = describe.field(&columns.referral_id) {
            if key.external_id != Some(true) {
                problems.push(SetupProblem::NotExternalId {
                    field: columns.referral_id.clone(),
                });
            }
            if key.unique != Some(true) {
                problems.push(SetupProblem::NotUnique {
                    field: columns.referral_id.clone(),
                });
            }
        }
        if self.client.origin_client_id().is_none() {
            problems.push(SetupProblem::Other(
                "the Salesforce client marks no write with Sforce-Call-Options (build it with `origin_client_id`)"
                    .into(),
            ));
        }
        Ok(problems)
    }

    async fn get(&self, id: &str, columns: &SyncColumns) -> Result<Option<CrmRecord>> {
        let id = crate::sync::RecordId::new(id);
        self.by("Id", id.as_str(), columns).await
    }

    async fn find_by_referral(
        &self,
        referral_id: &str,
        columns: &SyncColumns,
    ) -> Result<Option<CrmRecord>> {
        self.by(&columns.referral_id, referral_id, columns).await
    }

    async fn resolve(&self, write: &mut CrmWrite) -> Result<Vec<(Lookup, Resolution)>> {
        // Salesforce keeps the currency as a code on the record: no currency lookups.
        let no_currencies = std::collections::HashMap::<String, String>::new();
        let mut left = Vec::new();
        for (lookup, resolution) in write.resolve(self, self, &no_currencies).await? {
            let object = match lookup.target {
                LookupTarget::Account(_) => "Account",
                LookupTarget::Contact(_) => "Contact",
                _ => "",
            };
            if resolution == Resolution::Create && !object.is_empty() {
                let id = self
                    .client
                    .sobject(object)
                    .create(&lookup.create_body)
                    .await?;
                write.bind(&lookup, &id);
            } else {
                left.push((lookup, resolution));
            }
        }
        Ok(left)
    }

    async fn create(
        &self,
        referral_id: &str,
        write: &CrmWrite,
        columns: &SyncColumns,
    ) -> Result<String> {
        let mut patch = write.to_salesforce_patch();
        // The key is in the URL; Salesforce refuses it in the body of an upsert.
        patch.extra.remove(&columns.referral_id);
        if let Some(owner) = &columns.create.owner {
            patch.extra.insert("OwnerId".into(), json!(owner));
        }
        if let Some(record_type) = &columns.create.record_type {
            patch
                .extra
                .insert("RecordTypeId".into(), json!(record_type));
        }
        let outcome = self
            .client
            .opportunities()
            .upsert(&columns.referral_id, referral_id, &patch)
            .await?;
        match outcome.id() {
            Some(id) => Ok(id.to_owned()),
            None => self
                .find_by_referral(referral_id, columns)
                .await?
                .map(|found| found.id)
                .ok_or_else(|| {
                    Error::validation(format!(
                        "the opportunity for referral `{referral_id}` was not found after its upsert"
                    ))
                }),
        }
    }

    async fn update(&self, record: &CrmRecord, write: &CrmWrite) -> Result<()> {
        if write.body.is_empty() {
            return Ok(());
        }
        let patch = write.to_salesforce_patch();
        let handle = self.client.opportunities();
        match record.version.as_deref().and_then(datetime::parse) {
            Some(seen) => {
                handle
                    .update(&record.id, &patch)
                    .if_unmodified_since(seen)
                    .send()
                    .await
            }
            None => handle.update(&record.id, &patch).send().await,
        }
    }

    fn read_batch_limit(&self) -> usize {
        // An 18-character id, quoted, and a comma.
        BULK_READ_CHARS / (18 + 3)
    }

    fn write_batch_limit(&self) -> usize {
        COMPOSITE_LIMIT
    }

    async fn get_many(&self, ids: &[String], columns: &SyncColumns) -> Result<Vec<CrmRecord>> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in url_chunks(ids) {
            let ids: Vec<String> = chunk
                .iter()
                .map(|id| crate::sync::RecordId::new(id).into_string())
                .collect();
            let soql = Soql::select(Self::fields(columns))
                .from(OBJECT)
                .filter(field("Id").is_in(ids))
                .build()?;
            let rows: Vec<Json> = self.client.query(&soql).collect_all().await?;
            for row in rows {
                found.push(record(row)?);
            }
        }
        Ok(found)
    }

    /// One `composite` call per [`COMPOSITE_LIMIT`] writes, `allOrNone: false`, each `PATCH`
    /// with its own `If-Unmodified-Since` (sObject Collections carry no condition per record).
    /// The version was read in the same pass, so the read-back the single
    /// [`update`](Crm::update) makes first is not repeated.
    async fn update_many(
        &self,
        writes: Vec<(CrmRecord, CrmWrite)>,
    ) -> Result<Vec<Option<Result<()>>>> {
        let mut results: Vec<Option<Result<()>>> = Vec::with_capacity(writes.len());
        let mut subrequests: Vec<(usize, Subrequest)> = Vec::new();
        for (index, (record, write)) in writes.into_iter().enumerate() {
            if write.body.is_empty() {
                results.push(Some(Ok(())));
                continue;
            }
            if record.id.is_empty() || !record.id.chars().all(|c| c.is_ascii_alphanumeric()) {
                results.push(Some(Err(Error::validation(format!(
                    "the opportunity id {:?} is not a Salesforce id",
                    record.id
                )))));
                continue;
            }
            let sub = Subrequest::patch(
                &format!("sobjects/{OBJECT}/{}", record.id),
                &format!("w{index}"),
                &write.to_salesforce_patch(),
            );
            let sub = match (sub, record.version.as_deref().and_then(datetime::parse)) {
                (Ok(sub), Some(seen)) => Ok(sub.header(
                    "If-Unmodified-Since",
                    seen.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string(),
                )),
                (sub, _) => sub,
            };
            match sub {
                Ok(sub) => {
                    subrequests.push((index, sub));
                    // Answered below; a subrequest left unanswered stays `None`.
                    results.push(None);
                }
                Err(error) => results.push(Some(Err(error))),
            }
        }
        for chunk in subrequests.chunks(COMPOSITE_LIMIT) {
            let subs: Vec<Subrequest> = chunk.iter().map(|(_, sub)| sub.clone()).collect();
            let answers = self.client.composite(&subs, false).await?;
            for ((index, _), answer) in chunk.iter().zip(answers) {
                results[*index] = Some(answer.error().map_or(Ok(()), Err));
            }
        }
        Ok(results)
    }

    async fn each_changed_since(
        &self,
        since: Timestamp,
        columns: &SyncColumns,
        each: &mut (dyn FnMut(String, Timestamp) + Send),
    ) -> Result<()> {
        let mut builder = Soql::select(["Id", "SystemModstamp"])
            .from(OBJECT)
            .filter(field("SystemModstamp").ge(since))
            .order_by("SystemModstamp", Order::Ascending);
        if let Some(flag) = &columns.sync_flag {
            builder = builder.filter(field(flag).eq(true));
        }
        #[derive(serde::Deserialize)]
        struct Changed {
            #[serde(rename = "Id")]
            id: String,
            #[serde(rename = "SystemModstamp")]
            modstamp: Option<String>,
        }
        let mut pager = self.client.query::<Changed>(&builder.build()?);
        while let Some(page) = pager.next_page().await? {
            for (id, at) in page
                .items
                .into_iter()
                .filter_map(|row| Some((row.id, datetime::parse(&row.modstamp?)?)))
            {
                each(id, at);
            }
        }
        Ok(())
    }
}
