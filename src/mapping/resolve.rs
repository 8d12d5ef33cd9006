//! Lookups a CRM write still needs (account, contact, currency) and the resolver traits that
//! answer them. Resolvers are async, so one can query the CRM; the defaults here match against
//! candidates the caller fetched.

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::{Map, Value as Json};

use crate::error::Result;

/// The customer a referral names, as an account lookup asks for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerQuery {
    /// Company name.
    pub name: Option<String>,
    /// Address line 1.
    pub address_line1: Option<String>,
    /// City.
    pub city: Option<String>,
    /// State or province.
    pub state: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// ISO 3166 two-letter country code.
    pub country: Option<String>,
}

/// The customer contact a referral names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactQuery {
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
}

/// An existing account a resolver may match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountCandidate {
    /// The account's id in the CRM.
    pub id: String,
    /// Its name.
    pub name: Option<String>,
    /// Its postal code.
    pub postal_code: Option<String>,
    /// Its country (code or name as stored).
    pub country: Option<String>,
}

/// What a resolver decided for a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Point at this existing record.
    Existing(String),
    /// Nothing matches: create the record from the lookup's body, then bind it.
    Create,
    /// Several records match equally: a person decides (never merged on a guess).
    Ambiguous(Vec<String>),
}

/// Finds the account an opportunity points to. Replace it to use another rule; an
/// implementation may query the CRM.
///
/// ```
/// use async_trait::async_trait;
/// use cosell::mapping::{AccountResolver, CustomerQuery, Resolution};
///
/// /// Every customer is the one account the caller keeps deals under.
/// struct OneAccount(String);
///
/// #[async_trait]
/// impl AccountResolver for OneAccount {
///     async fn resolve_account(&self, _customer: &CustomerQuery) -> cosell::Result<Resolution> {
///         Ok(Resolution::Existing(self.0.clone()))
///     }
/// }
/// let resolved = futures::executor::block_on(
///     OneAccount("acc-1".into()).resolve_account(&CustomerQuery::default()),
/// )?;
/// assert_eq!(resolved, Resolution::Existing("acc-1".into()));
/// # Ok::<(), cosell::Error>(())
/// ```
#[async_trait]
pub trait AccountResolver: Send + Sync {
    /// Resolve the customer. An error (the CRM could not be asked) stops the write.
    async fn resolve_account(&self, customer: &CustomerQuery) -> Result<Resolution>;
}

/// Finds the contact an opportunity points to; an implementation may query the CRM.
#[async_trait]
pub trait ContactResolver: Send + Sync {
    /// Resolve the contact. An error (the CRM could not be asked) stops the write.
    async fn resolve_contact(&self, contact: &ContactQuery) -> Result<Resolution>;
}

/// Finds the CRM id of a currency by its ISO 4217 code; an implementation may query the CRM
/// (Dataverse `transactioncurrencies`).
#[async_trait]
pub trait CurrencyResolver: Send + Sync {
    /// The id, or `None` when the CRM has no such currency. An error (the CRM could not be
    /// asked) stops the write.
    async fn currency_id(&self, iso_code: &str) -> Result<Option<String>>;
}

#[async_trait]
impl CurrencyResolver for HashMap<String, String> {
    async fn currency_id(&self, iso_code: &str) -> Result<Option<String>> {
        Ok(self.get(&iso_code.to_ascii_uppercase()).cloned())
    }
}

fn same(a: Option<&str>, b: Option<&str>) -> bool {
    let clean = |text: Option<&str>| text.map(|t| t.trim().to_lowercase()).unwrap_or_default();
    clean(a) == clean(b)
}

/// The default account rule (the connector's): an account matches when its name, postal code
/// and country are equal (ignoring case and surrounding space); none matches → create; several →
/// ambiguous. Never merges on a fuzzy match.
///
/// ```
/// use cosell::mapping::{AccountCandidate, AccountResolver, CustomerQuery, ExactAccountMatch, Resolution};
///
/// let known = vec![AccountCandidate {
///     id: "acc-1".into(), name: Some("Contoso Ltd".into()),
///     postal_code: Some("98052".into()), country: Some("US".into()),
/// }];
/// let resolver = ExactAccountMatch::new(known);
/// let customer = CustomerQuery { name: Some("contoso ltd ".into()), postal_code: Some("98052".into()),
///     country: Some("US".into()), ..Default::default() };
/// let resolve = |customer| futures::executor::block_on(resolver.resolve_account(&customer));
/// assert_eq!(resolve(customer.clone())?, Resolution::Existing("acc-1".into()));
/// let other = CustomerQuery { name: Some("Contoso".into()), ..customer };
/// assert_eq!(resolve(other)?, Resolution::Create);
/// # Ok::<(), cosell::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ExactAccountMatch {
    candidates: Vec<AccountCandidate>,
}

impl ExactAccountMatch {
    /// A resolver over the accounts the caller fetched (by name, say).
    pub fn new(candidates: Vec<AccountCandidate>) -> Self {
        ExactAccountMatch { candidates }
    }
}

#[async_trait]
impl AccountResolver for ExactAccountMatch {
    async fn resolve_account(&self, customer: &CustomerQuery) -> Result<Resolution> {
        let matches: Vec<String> = self
            .candidates
            .iter()
            .filter(|candidate| {
                same(candidate.name.as_deref(), customer.name.as_deref())
                    && same(
                        candidate.postal_code.as_deref(),
                        customer.postal_code.as_deref(),
                    )
                    && same(candidate.country.as_deref(), customer.country.as_deref())
            })
            .map(|candidate| candidate.id.clone())
            .collect();
        Ok(match matches.len() {
            0 => Resolution::Create,
            1 => Resolution::Existing(matches.into_iter().next().unwrap_or_default()),
            _ => Resolution::Ambiguous(matches),
        })
    }
}

/// The default contact rule: match on e-mail (ignoring case) among known contacts, else create.
#[derive(Debug, Clone, Default)]
pub struct EmailContactMatch {
    known: Vec<(String, String)>,
}

impl EmailContactMatch {
    /// A resolver over known `(email, id)` pairs.
    ///
    /// ```
    /// use cosell::mapping::{ContactQuery, ContactResolver, EmailContactMatch, Resolution};
    /// let resolver = EmailContactMatch::new([("jo@contoso.example", "c-1")]);
    /// let query = ContactQuery { email: Some("JO@contoso.example".into()), ..Default::default() };
    /// let resolved = futures::executor::block_on(resolver.resolve_contact(&query))?;
    /// assert_eq!(resolved, Resolution::Existing("c-1".into()));
    /// # Ok::<(), cosell::Error>(())
    /// ```
    pub fn new<'a>(known: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        EmailContactMatch {
            known: known
                .into_iter()
                .map(|(email, id)| (email.to_lowercase(), id.to_owned()))
                .collect(),
        }
    }
}

#[async_trait]
impl ContactResolver for EmailContactMatch {
    async fn resolve_contact(&self, contact: &ContactQuery) -> Result<Resolution> {
        let Some(email) = contact.email.as_deref().map(str::to_lowercase) else {
            return Ok(Resolution::Create);
        };
        Ok(match self.known.iter().find(|(known, _)| *known == email) {
            Some((_, id)) => Resolution::Existing(id.clone()),
            None => Resolution::Create,
        })
    }
}

/// What a lookup asks for.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum LookupTarget {
    /// The customer account.
    Account(CustomerQuery),
    /// The customer contact.
    Contact(ContactQuery),
    /// The currency, by ISO 4217 code.
    Currency(String),
}

/// A lookup the CRM write still needs: resolve it to an id, then [`CrmWrite::bind`] it.
///
/// [`CrmWrite::bind`]: crate::mapping::CrmWrite::bind
#[derive(Debug, Clone, PartialEq)]
pub struct Lookup {
    /// What to find.
    pub target: LookupTarget,
    /// The property of the body the id goes into (`customerid_account@odata.bind`, `AccountId`).
    pub property: String,
    /// How the id is written: `{}` stands for the id (`/accounts({})`, or just `{}`).
    pub reference: String,
    /// The body that creates the record when nothing matches (account or contact columns).
    pub create_body: Map<String, Json>,
}
