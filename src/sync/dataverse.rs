//! [`Crm`] for Dynamics 365 (Dataverse) opportunities.

use async_trait::async_trait;
use jiff::Timestamp;
use serde_json::{Value as Json, json};
use uuid::Uuid;

use super::crm::{BULK_READ_CHARS, Crm, CrmRecord, SyncColumns, text, url_chunks};
use super::setup::SetupProblem;
use crate::Order;
use crate::dataverse::{
    Batch, BatchOperation, BatchOutcome, Dataverse, Filter, MAX_BATCH_OPERATIONS, OpportunityClose,
    OpportunityStatus, Query, RecordKey,
};
use crate::error::{Error, Result};
use crate::mapping::{
    AccountCandidate, AccountResolver, ContactResolver, CrmWrite, CurrencyResolver,
    DeclarativeMapping, ExactAccountMatch, Lookup, LookupTarget, Resolution, StateChange,
    validate_dataverse,
};

const TABLE: &str = "opportunity";

/// The sync's view of Dataverse `opportunities`: reads with the mapping's `$select` and
/// `$expand`, creates by upsert on the referral-id alternate key, updates with `If-Match`,
/// closes through `WinOpportunity` / `LoseOpportunity`.
///
/// Build the [`Dataverse`] client with an origin tag
/// ([`DataverseBuilder::origin_tag`](crate::dataverse::DataverseBuilder::origin_tag)): the
/// synchronizer refuses to start without one, since untagged writes cannot be told from a
/// seller's.
#[derive(Debug, Clone)]
pub struct DataverseCrm {
    client: Dataverse,
}

impl DataverseCrm {
    /// The CRM behind `client`.
    pub fn new(client: Dataverse) -> Self {
        DataverseCrm { client }
    }

    /// The client.
    pub fn client(&self) -> &Dataverse {
        &self.client
    }

    fn read(&self, columns: &SyncColumns) -> (Vec<String>, Vec<String>) {
        let mut select = columns.read.dataverse_select();
        for column in ["opportunityid", "modifiedon", columns.referral_id.as_str()]
            .into_iter()
            .chain(columns.sync_flag.as_deref())
        {
            if !select.iter().any(|known| known == column) {
                select.push(column.to_owned());
            }
        }
        (select, columns.read.dataverse_expand())
    }

    fn record(body: Json) -> Result<CrmRecord> {
        let id = body
            .get("opportunityid")
            .and_then(Json::as_str)
            .ok_or_else(|| Error::validation("the opportunity was read without its id"))?
            .to_owned();
        let version = body
            .get("@odata.etag")
            .and_then(Json::as_str)
            .map(str::to_owned);
        let modified = body
            .get("modifiedon")
            .and_then(Json::as_str)
            .and_then(|text| text.parse().ok());
        Ok(CrmRecord {
            id,
            body,
            version,
            modified,
        })
    }

    async fn query_one(&self, query: Query) -> Result<Option<Json>> {
        let rows = self
            .client
            .opportunities()
            .query::<Json>(&query.top(1))
            .collect_all()
            .await?;
        Ok(rows.into_iter().next())
    }

    async fn state_change(&self, id: Uuid, state: Option<&StateChange>) -> Result<()> {
        let Some(state) = state else {
            return Ok(());
        };
        let status = OpportunityStatus::from(state.status_code);
        if state.is_win() {
            self.client
                .win_opportunity(id, status, &OpportunityClose::new("Won (co-sell sync)"))
                .await
        } else if state.is_loss() {
            self.client
                .lose_opportunity(id, status, &OpportunityClose::new("Lost (co-sell sync)"))
                .await
        } else {
            self.client
                .opportunities()
                .update(
                    id,
                    &json!({"statecode": state.state_code, "statuscode": state.status_code}),
                )
                .send()
                .await
        }
    }
}

#[async_trait]
impl AccountResolver for DataverseCrm {
    async fn resolve_account(
        &self,
        customer: &crate::mapping::CustomerQuery,
    ) -> Result<Resolution> {
        let Some(name) = customer.name.as_deref() else {
            return Ok(Resolution::Create);
        };
        let rows = self
            .client
            .table("accounts")
            .query::<Json>(
                &Query::new()
                    .select([
                        "accountid",
                        "name",
                        "address1_postalcode",
                        "address1_country",
                    ])
                    .filter(Filter::eq("name", name))
                    .top(50),
            )
            .collect_all()
            .await?;
        let candidates = rows
            .iter()
            .filter_map(|row| {
                Some(AccountCandidate {
                    id: row.get("accountid")?.as_str()?.to_owned(),
                    name: text(row, "name"),
                    postal_code: text(row, "address1_postalcode"),
                    country: text(row, "address1_country"),
                })
            })
            .collect();
        ExactAccountMatch::new(candidates)
            .resolve_account(customer)
            .await
    }
}

#[async_trait]
impl ContactResolver for DataverseCrm {
    async fn resolve_contact(&self, contact: &crate::mapping::ContactQuery) -> Result<Resolution> {
        let Some(email) = contact.email.as_deref() else {
            return Ok(Resolution::Create);
        };
        let rows = self
            .client
            .table("contacts")
            .query::<Json>(
                &Query::new()
                    .select(["contactid", "emailaddress1"])
                    .filter(Filter::eq("emailaddress1", email))
                    .top(2),
            )
            .collect_all()
            .await?;
        let found: Vec<(String, String)> = rows
            .iter()
            .filter_map(|row| Some((text(row, "emailaddress1")?, text(row, "contactid")?)))
            .collect();
        super::crm::match_contact(contact, &found).await
    }
}

#[async_trait]
impl CurrencyResolver for DataverseCrm {
    async fn currency_id(&self, iso_code: &str) -> Result<Option<String>> {
        let rows = self
            .client
            .table("transactioncurrencies")
            .query::<Json>(
                &Query::new()
                    .select(["transactioncurrencyid"])
                    .filter(Filter::eq("isocurrencycode", iso_code))
                    .top(1),
            )
            .collect_all()
            .await?;
        Ok(rows
            .first()
            .and_then(|row| text(row, "transactioncurrencyid")))
    }
}

fn guid(id: &str) -> Result<Uuid> {
    let trimmed = id.trim().trim_start_matches('{').trim_end_matches('}');
    Uuid::parse_str(trimmed)
        .map_err(|_| Error::validation(format!("`{id}` is not a Dataverse record id (a GUID)")))
}

#[async_trait]
impl Crm for DataverseCrm {
    fn name(&self) -> &str {
        "dataverse"
    }

    fn requests_sent(&self) -> u64 {
        self.client.pipeline().requests_sent()
    }

    async fn check(
        &self,
        mapping: &DeclarativeMapping,
        columns: &SyncColumns,
    ) -> Result<Vec<SetupProblem>> {
        let table = self.client.table_metadata(TABLE).await?;
        let mut problems: Vec<SetupProblem> = validate_dataverse(mapping, &table)
            .into_iter()
            .filter(super::setup::blocks_sync)
            .map(SetupProblem::Mapping)
            .collect();
        let keys = self.client.alternate_keys(TABLE).await?;
        match keys
            .iter()
            .find(|key| key.columns.len() == 1 && key.columns[0] == columns.referral_id)
        {
            None => problems.push(SetupProblem::MissingAlternateKey {
                table: TABLE.into(),
                column: columns.referral_id.clone(),
            }),
            Some(key) if !key.is_active() => problems.push(SetupProblem::InactiveAlternateKey {
                column: columns.referral_id.clone(),
                status: key.index_status.clone().unwrap_or_default(),
            }),
            Some(_) => {}
        }
        if self.client.write_defaults().origin_tag().is_none() {
            problems.push(SetupProblem::Other(
                "the Dataverse client marks no write with an origin tag (build it with `origin_tag`)"
                    .into(),
            ));
        }
        Ok(problems)
    }

    async fn get(&self, id: &str, columns: &SyncColumns) -> Result<Option<CrmRecord>> {
        let id = guid(id)?;
        let (select, expand) = self.read(columns);
        let mut retrieve = self.client.opportunities().retrieve(id).select(select);
        for item in expand {
            retrieve = retrieve.expand(item);
        }
        match retrieve.send::<Json>().await {
            Ok(body) => Self::record(body).map(Some),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn find_by_referral(
        &self,
        referral_id: &str,
        columns: &SyncColumns,
    ) -> Result<Option<CrmRecord>> {
        let (select, expand) = self.read(columns);
        let mut query = Query::new()
            .select(select)
            .filter(Filter::eq(&columns.referral_id, referral_id));
        for item in expand {
            query = query.expand(item);
        }
        self.query_one(query).await?.map(Self::record).transpose()
    }

    async fn resolve(&self, write: &mut CrmWrite) -> Result<Vec<(Lookup, Resolution)>> {
        let mut left = Vec::new();
        for (lookup, resolution) in write.resolve(self, self, self).await? {
            let table = match lookup.target {
                LookupTarget::Account(_) => "accounts",
                LookupTarget::Contact(_) => "contacts",
                _ => "",
            };
            if resolution == Resolution::Create && !table.is_empty() {
                let id = self
                    .client
                    .table(table)
                    .create(&lookup.create_body)
                    .send()
                    .await?;
                write.bind(&lookup, &id.to_string());
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
        let mut patch = write.to_dataverse_patch();
        patch.extra.remove(&columns.referral_id);
        if let Some(owner) = &columns.create.owner {
            patch.extra.insert(
                "ownerid@odata.bind".into(),
                json!(format!("/systemusers({owner})")),
            );
        }
        let key = RecordKey::alternate([(columns.referral_id.as_str(), referral_id)]);
        let outcome = self
            .client
            .opportunities()
            .upsert(key, &patch)
            .send()
            .await?;
        let id = match outcome.id {
            Some(id) => id,
            None => {
                let found = self
                    .find_by_referral(referral_id, columns)
                    .await?
                    .ok_or_else(|| {
                        Error::validation(format!(
                            "the opportunity for referral `{referral_id}` was not found after its upsert"
                        ))
                    })?;
                guid(&found.id)?
            }
        };
        self.state_change(id, write.state.as_ref()).await?;
        Ok(id.to_string())
    }

    async fn update(&self, record: &CrmRecord, write: &CrmWrite) -> Result<()> {
        let id = guid(&record.id)?;
        if !write.body.is_empty() {
            let patch = write.to_dataverse_patch();
            match &record.version {
                Some(etag) => {
                    self.client
                        .opportunities()
                        .update(id, &patch)
                        .if_match(etag)
                        .send()
                        .await?
                }
                None => {
                    self.client
                        .opportunities()
                        .update(id, &patch)
                        .send()
                        .await?
                }
            }
        }
        self.state_change(id, write.state.as_ref()).await
    }

    fn read_batch_limit(&self) -> usize {
        // A GUID, quoted, and a comma.
        BULK_READ_CHARS / (36 + 3)
    }

    fn write_batch_limit(&self) -> usize {
        MAX_BATCH_OPERATIONS
    }

    async fn get_many(&self, ids: &[String], columns: &SyncColumns) -> Result<Vec<CrmRecord>> {
        let (select, expand) = self.read(columns);
        let mut found = Vec::with_capacity(ids.len());
        for chunk in url_chunks(ids) {
            let guids = chunk
                .iter()
                .map(|id| guid(id).map(|id| id.to_string()))
                .collect::<Result<Vec<_>>>()?;
            let mut query = Query::new()
                .select(select.clone())
                .filter(Filter::is_in("opportunityid", guids));
            for item in &expand {
                query = query.expand(item.clone());
            }
            let rows = self
                .client
                .opportunities()
                .query::<Json>(&query)
                .collect_all()
                .await?;
            for row in rows {
                found.push(Self::record(row)?);
            }
        }
        Ok(found)
    }

    /// One `$batch` per [`MAX_BATCH_OPERATIONS`] writes, with continue-on-error and no change
    /// set (a change set is all-or-nothing: one refused record would take the others down),
    /// each `PATCH` with its own `If-Match`; state changes follow one by one. Each write is
    /// let go once it is an operation, and each operation once it is encoded.
    async fn update_many(
        &self,
        writes: Vec<(CrmRecord, CrmWrite)>,
    ) -> Result<Vec<Option<Result<()>>>> {
        /// Where a write stands.
        enum Slot {
            /// Its body is written (or it had none): its state change follows.
            Written(Uuid, Option<StateChange>),
            /// In a batch, with its state change to follow once it is written.
            Sent(Uuid, Option<StateChange>),
            Failed(Error),
            /// The service did not reach it.
            NotMade,
        }
        let mut slots = Vec::with_capacity(writes.len());
        let mut operations: Vec<(usize, BatchOperation)> = Vec::new();
        for (index, (record, write)) in writes.into_iter().enumerate() {
            let id = match guid(&record.id) {
                Ok(id) => id,
                Err(error) => {
                    slots.push(Slot::Failed(error));
                    continue;
                }
            };
            if write.body.is_empty() {
                slots.push(Slot::Written(id, write.state));
                continue;
            }
            let patch = write.to_dataverse_patch();
            let set = crate::dataverse::Opportunity::ENTITY_SET;
            let operation = match &record.version {
                Some(etag) => BatchOperation::update_if_match(set, id, &patch, etag),
                None => BatchOperation::update(set, id, &patch),
            };
            match operation {
                Ok(operation) => {
                    operations.push((index, operation));
                    slots.push(Slot::Sent(id, write.state));
                }
                Err(error) => slots.push(Slot::Failed(error)),
            }
        }
        let mut operations = operations.into_iter().peekable();
        while operations.peek().is_some() {
            // Moved into the batch, not copied: a full batch's operations are most of a sweep's
            // memory while it is sent.
            let mut indices = Vec::new();
            let mut batch = Batch::new().continue_on_error(true);
            for (index, operation) in operations.by_ref().take(MAX_BATCH_OPERATIONS) {
                indices.push(index);
                batch = batch.operation(operation);
            }
            let outcomes = self.client.execute_batch_owned(batch).await?;
            for (index, outcome) in indices.into_iter().zip(outcomes) {
                let slot = &mut slots[index];
                *slot = match (std::mem::replace(slot, Slot::NotMade), outcome) {
                    (Slot::Sent(id, state), BatchOutcome::Succeeded(_)) => Slot::Written(id, state),
                    (_, BatchOutcome::Failed(error)) => Slot::Failed(error),
                    // Not reached (not possible with continue-on-error and no change set).
                    _ => Slot::NotMade,
                };
            }
        }
        let mut answers = Vec::with_capacity(slots.len());
        for slot in slots {
            answers.push(match slot {
                Slot::Written(id, state) => Some(self.state_change(id, state.as_ref()).await),
                Slot::Failed(error) => Some(Err(error)),
                // A batch left unanswered for it: not made.
                Slot::Sent(..) | Slot::NotMade => None,
            });
        }
        Ok(answers)
    }

    async fn each_changed_since(
        &self,
        since: Timestamp,
        columns: &SyncColumns,
        each: &mut (dyn FnMut(String, Timestamp) + Send),
    ) -> Result<()> {
        let mut filter = Filter::ge("modifiedon", since);
        if let Some(flag) = &columns.sync_flag {
            filter = filter.and(Filter::eq(flag, true));
        }
        #[derive(serde::Deserialize)]
        struct Changed {
            opportunityid: String,
            modifiedon: Option<String>,
        }
        let mut pager = self.client.opportunities().query::<Changed>(
            &Query::new()
                .select(["opportunityid", "modifiedon"])
                .filter(filter)
                .order_by("modifiedon", Order::Ascending),
        );
        while let Some(page) = pager.next_page().await? {
            for (id, at) in page
                .items
                .into_iter()
                .filter_map(|row| Some((row.opportunityid, row.modifiedon?.parse().ok()?)))
            {
                each(id, at);
            }
        }
        Ok(())
    }
}
