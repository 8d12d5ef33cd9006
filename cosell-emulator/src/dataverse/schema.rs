//! Table definitions: the seeded tables (`opportunity`, `account`, `contact`,
//! `transactioncurrency`, `systemuser`, `opportunityclose`) and the ones a test adds.

/// The type of an emulated column, which decides what values it takes, how a `$filter` compares
/// it and what its metadata says.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ColumnKind {
    /// The primary key (`Uniqueidentifier`).
    PrimaryKey,
    /// Single-line text of at most `max_length` characters.
    Text {
        /// The maximum length.
        max_length: u32,
    },
    /// Multi-line text of at most `max_length` characters.
    Memo {
        /// The maximum length.
        max_length: u32,
    },
    /// A whole number (`Edm.Int32`).
    Integer,
    /// A big whole number (`Edm.Int64`).
    BigInt,
    /// A decimal number.
    Decimal,
    /// Money in the row's transaction currency.
    Money,
    /// Two options.
    Boolean,
    /// A date without time (`Edm.Date`).
    DateOnly,
    /// A date and time (`Edm.DateTimeOffset`, UTC on the wire).
    DateTime,
    /// A choice, with its values and labels.
    Choice(Vec<(i32, String)>),
    /// Choices (multi-select), comma-separated values on the wire.
    Choices(Vec<(i32, String)>),
    /// The state of a row (`statecode`), with its values and labels.
    State(Vec<(i32, String)>),
    /// The status reason (`statuscode`): (value, label, state it belongs to).
    Status(Vec<(i32, String, i32)>),
    /// A lookup: (navigation property, entity set it points at) for each target table. Read as
    /// `_<column>_value`, written as `<navigation property>@odata.bind`.
    Lookup(Vec<(String, String)>),
}

impl ColumnKind {
    /// `AttributeType` in metadata.
    pub(crate) fn attribute_type(&self) -> &'static str {
        match self {
            ColumnKind::PrimaryKey => "Uniqueidentifier",
            ColumnKind::Text { .. } => "String",
            ColumnKind::Memo { .. } => "Memo",
            ColumnKind::Integer => "Integer",
            ColumnKind::BigInt => "BigInt",
            ColumnKind::Decimal => "Decimal",
            ColumnKind::Money => "Money",
            ColumnKind::Boolean => "Boolean",
            ColumnKind::DateOnly | ColumnKind::DateTime => "DateTime",
            ColumnKind::Choice(_) => "Picklist",
            ColumnKind::Choices(_) => "Virtual",
            ColumnKind::State(_) => "State",
            ColumnKind::Status(_) => "Status",
            ColumnKind::Lookup(targets) if targets.len() > 1 => "Customer",
            ColumnKind::Lookup(_) => "Lookup",
        }
    }

    /// `AttributeTypeName` in metadata.
    pub(crate) fn attribute_type_name(&self) -> &'static str {
        match self {
            ColumnKind::PrimaryKey => "UniqueidentifierType",
            ColumnKind::Text { .. } => "StringType",
            ColumnKind::Memo { .. } => "MemoType",
            ColumnKind::Integer => "IntegerType",
            ColumnKind::BigInt => "BigIntType",
            ColumnKind::Decimal => "DecimalType",
            ColumnKind::Money => "MoneyType",
            ColumnKind::Boolean => "BooleanType",
            ColumnKind::DateOnly | ColumnKind::DateTime => "DateTimeType",
            ColumnKind::Choice(_) => "PicklistType",
            ColumnKind::Choices(_) => "MultiSelectPicklistType",
            ColumnKind::State(_) => "StateType",
            ColumnKind::Status(_) => "StatusType",
            ColumnKind::Lookup(targets) if targets.len() > 1 => "CustomerType",
            ColumnKind::Lookup(_) => "LookupType",
        }
    }

    /// The `@odata.type` of the column's metadata.
    pub(crate) fn metadata_type(&self) -> &'static str {
        match self {
            ColumnKind::PrimaryKey => "Microsoft.Dynamics.CRM.UniqueIdentifierAttributeMetadata",
            ColumnKind::Text { .. } => "Microsoft.Dynamics.CRM.StringAttributeMetadata",
            ColumnKind::Memo { .. } => "Microsoft.Dynamics.CRM.MemoAttributeMetadata",
            ColumnKind::Integer => "Microsoft.Dynamics.CRM.IntegerAttributeMetadata",
            ColumnKind::BigInt => "Microsoft.Dynamics.CRM.BigIntAttributeMetadata",
            ColumnKind::Decimal => "Microsoft.Dynamics.CRM.DecimalAttributeMetadata",
            ColumnKind::Money => "Microsoft.Dynamics.CRM.MoneyAttributeMetadata",
            ColumnKind::Boolean => "Microsoft.Dynamics.CRM.BooleanAttributeMetadata",
            ColumnKind::DateOnly | ColumnKind::DateTime => {
                "Microsoft.Dynamics.CRM.DateTimeAttributeMetadata"
            }
            ColumnKind::Choice(_) => "Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
            ColumnKind::Choices(_) => "Microsoft.Dynamics.CRM.MultiSelectPicklistAttributeMetadata",
            ColumnKind::State(_) => "Microsoft.Dynamics.CRM.StateAttributeMetadata",
            ColumnKind::Status(_) => "Microsoft.Dynamics.CRM.StatusAttributeMetadata",
            ColumnKind::Lookup(_) => "Microsoft.Dynamics.CRM.LookupAttributeMetadata",
        }
    }

    /// The EDM type name, for error messages.
    pub(crate) fn edm(&self) -> &'static str {
        match self {
            ColumnKind::PrimaryKey | ColumnKind::Lookup(_) => "Edm.Guid",
            ColumnKind::Text { .. } | ColumnKind::Memo { .. } | ColumnKind::Choices(_) => {
                "Edm.String"
            }
            ColumnKind::Integer
            | ColumnKind::Choice(_)
            | ColumnKind::State(_)
            | ColumnKind::Status(_) => "Edm.Int32",
            ColumnKind::BigInt => "Edm.Int64",
            ColumnKind::Decimal | ColumnKind::Money => "Edm.Decimal",
            ColumnKind::Boolean => "Edm.Boolean",
            ColumnKind::DateOnly => "Edm.Date",
            ColumnKind::DateTime => "Edm.DateTimeOffset",
        }
    }

    /// The (value, label) options of a choice-like column.
    pub(crate) fn options(&self) -> Vec<(i32, String)> {
        match self {
            ColumnKind::Choice(o) | ColumnKind::Choices(o) | ColumnKind::State(o) => o.clone(),
            ColumnKind::Status(o) => o.iter().map(|(v, l, _)| (*v, l.clone())).collect(),
            _ => Vec::new(),
        }
    }
}

/// One column of an emulated table.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub(crate) name: String,
    pub(crate) kind: ColumnKind,
    pub(crate) required: &'static str,
    pub(crate) valid_for_create: bool,
    pub(crate) valid_for_update: bool,
    /// Maintained by the service (`createdon`, `versionnumber`): never written by a client,
    /// silently.
    pub(crate) system: bool,
}

impl Column {
    pub(crate) fn new(name: &str, kind: ColumnKind) -> Self {
        Column {
            name: name.to_owned(),
            kind,
            required: "None",
            valid_for_create: true,
            valid_for_update: true,
            system: false,
        }
    }

    fn required(mut self, level: &'static str) -> Self {
        self.required = level;
        self
    }

    fn read_only(mut self) -> Self {
        self.valid_for_create = false;
        self.valid_for_update = false;
        self.system = true;
        self
    }

    /// The property name on the wire: `_<name>_value` for lookups.
    pub(crate) fn property(&self) -> String {
        match self.kind {
            ColumnKind::Lookup(_) => format!("_{}_value", self.name),
            _ => self.name.clone(),
        }
    }

    /// Whether `property` is this column's wire name ([`property`](Self::property), without
    /// building it).
    pub(crate) fn is_property(&self, property: &str) -> bool {
        match self.kind {
            ColumnKind::Lookup(_) => {
                property
                    .strip_prefix('_')
                    .and_then(|rest| rest.strip_suffix("_value"))
                    == Some(self.name.as_str())
            }
            _ => self.name == property,
        }
    }
}

/// One emulated table.
#[derive(Debug, Clone)]
pub(crate) struct TableDef {
    pub(crate) logical_name: String,
    pub(crate) entity_set: String,
    pub(crate) primary_id: String,
    pub(crate) primary_name: String,
    pub(crate) columns: Vec<Column>,
    pub(crate) alternate_keys: Vec<Vec<String>>,
    /// Keys whose index is not `Active` (`Pending`, `InProgress`, `Failed`), with that state.
    pub(crate) key_status: Vec<(Vec<String>, String)>,
}

impl TableDef {
    /// A table with its primary key, primary name and the columns every table has.
    pub(crate) fn new(logical_name: &str, entity_set: &str, primary_name: &str) -> Self {
        let primary_id = format!("{logical_name}id");
        let mut table = TableDef {
            logical_name: logical_name.to_owned(),
            entity_set: entity_set.to_owned(),
            primary_id: primary_id.clone(),
            primary_name: primary_name.to_owned(),
            columns: Vec::new(),
            alternate_keys: Vec::new(),
            key_status: Vec::new(),
        };
        table
            .columns
            .push(Column::new(&primary_id, ColumnKind::PrimaryKey));
        if !primary_name.is_empty() {
            table.columns.push(
                Column::new(primary_name, ColumnKind::Text { max_length: 300 })
                    .required("ApplicationRequired"),
            );
        }
        for name in ["createdon", "modifiedon"] {
            table
                .columns
                .push(Column::new(name, ColumnKind::DateTime).read_only());
        }
        table
            .columns
            .push(Column::new("versionnumber", ColumnKind::BigInt).read_only());
        for name in ["createdby", "modifiedby"] {
            table
                .columns
                .push(Column::new(name, lookup(&[(name, "systemusers")])).read_only());
        }
        table
    }

    pub(crate) fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The column behind a wire property (`name`, `_parentaccountid_value`).
    pub(crate) fn by_property(&self, property: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.is_property(property))
    }

    /// The lookup column a navigation property sets, and the entity set it points at.
    pub(crate) fn navigation(&self, nav: &str) -> Option<(&Column, &str)> {
        self.columns.iter().find_map(|c| match &c.kind {
            ColumnKind::Lookup(targets) => targets
                .iter()
                .find(|(n, _)| n == nav)
                .map(|(_, set)| (c, set.as_str())),
            _ => None,
        })
    }

    pub(crate) fn has_state(&self) -> bool {
        self.column("statecode").is_some()
    }

    fn with(mut self, column: Column) -> Self {
        self.columns.push(column);
        self
    }

    fn key(mut self, columns: &[&str]) -> Self {
        self.alternate_keys
            .push(columns.iter().map(|c| (*c).to_owned()).collect());
        self
    }

    fn state(self, states: &[(i32, &str)], statuses: &[(i32, &str, i32)]) -> Self {
        let mut state = Column::new("statecode", ColumnKind::State(labels(states)));
        state.valid_for_create = false;
        state.required = "SystemRequired";
        self.with(state).with(Column::new(
            "statuscode",
            ColumnKind::Status(
                statuses
                    .iter()
                    .map(|(v, l, s)| (*v, (*l).to_owned(), *s))
                    .collect(),
            ),
        ))
    }
}

fn labels(options: &[(i32, &str)]) -> Vec<(i32, String)> {
    options.iter().map(|(v, l)| (*v, (*l).to_owned())).collect()
}

fn lookup(targets: &[(&str, &str)]) -> ColumnKind {
    ColumnKind::Lookup(
        targets
            .iter()
            .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
            .collect(),
    )
}

fn text(name: &str, max_length: u32) -> Column {
    Column::new(name, ColumnKind::Text { max_length })
}

fn memo(name: &str) -> Column {
    Column::new(name, ColumnKind::Memo { max_length: 2000 })
}

fn currency_lookup() -> Column {
    Column::new(
        "transactioncurrencyid",
        lookup(&[("transactioncurrencyid", "transactioncurrencies")]),
    )
}

fn owner() -> Column {
    Column::new("ownerid", lookup(&[("ownerid", "systemusers")]))
}

/// The tables every emulator starts with.
pub(crate) fn seeded_tables() -> Vec<TableDef> {
    vec![
        opportunity(),
        TableDef::new("account", "accounts", "name")
            .with(text("accountnumber", 20))
            .with(memo("description"))
            .with(text("telephone1", 50))
            .with(text("emailaddress1", 100))
            .with(text("websiteurl", 200))
            .with(text("address1_line1", 250))
            .with(text("address1_city", 80))
            .with(text("address1_stateorprovince", 50))
            .with(text("address1_postalcode", 20))
            .with(text("address1_country", 80))
            .with(Column::new("revenue", ColumnKind::Money))
            .with(Column::new("numberofemployees", ColumnKind::Integer))
            .with(Column::new(
                "parentaccountid",
                lookup(&[("parentaccountid", "accounts")]),
            ))
            .with(Column::new(
                "primarycontactid",
                lookup(&[("primarycontactid", "contacts")]),
            ))
            .with(currency_lookup())
            .with(owner())
            .state(
                &[(0, "Active"), (1, "Inactive")],
                &[(1, "Active", 0), (2, "Inactive", 1)],
            )
            .key(&["accountnumber"]),
        TableDef::new("contact", "contacts", "fullname")
            .with(text("firstname", 50))
            .with(text("lastname", 50).required("ApplicationRequired"))
            .with(text("emailaddress1", 100))
            .with(text("jobtitle", 100))
            .with(text("telephone1", 50))
            .with(Column::new(
                "parentcustomerid",
                lookup(&[
                    ("parentcustomerid_account", "accounts"),
                    ("parentcustomerid_contact", "contacts"),
                ]),
            ))
            .with(owner())
            .state(
                &[(0, "Active"), (1, "Inactive")],
                &[(1, "Active", 0), (2, "Inactive", 1)],
            )
            .key(&["emailaddress1"]),
        TableDef::new(
            "transactioncurrency",
            "transactioncurrencies",
            "currencyname",
        )
        .with(text("isocurrencycode", 5).required("SystemRequired"))
        .with(text("currencysymbol", 10))
        .with(Column::new("exchangerate", ColumnKind::Decimal))
        .with(Column::new("currencyprecision", ColumnKind::Integer))
        .state(
            &[(0, "Active"), (1, "Inactive")],
            &[(1, "Active", 0), (2, "Inactive", 1)],
        )
        .key(&["isocurrencycode"]),
        TableDef::new("systemuser", "systemusers", "fullname")
            .with(text("domainname", 1024))
            .with(Column::new(
                "applicationid",
                ColumnKind::Text { max_length: 36 },
            )),
        TableDef::new("opportunityclose", "opportunitycloses", "subject")
            .primary_id("activityid")
            .with(memo("description"))
            .with(Column::new("actualrevenue", ColumnKind::Money))
            .with(Column::new("actualend", ColumnKind::DateOnly))
            .with(Column::new(
                "opportunityid",
                lookup(&[("opportunityid", "opportunities")]),
            ))
            .with(currency_lookup())
            .state(
                &[(0, "Open"), (1, "Completed"), (2, "Canceled")],
                &[(1, "Open", 0), (2, "Completed", 1), (3, "Canceled", 2)],
            ),
    ]
}

impl TableDef {
    fn primary_id(mut self, name: &str) -> Self {
        if let Some(column) = self.columns.iter_mut().find(|c| c.name == self.primary_id) {
            column.name = name.to_owned();
        }
        self.primary_id = name.to_owned();
        self
    }
}

fn opportunity() -> TableDef {
    TableDef::new("opportunity", "opportunities", "name")
        .with(memo("description"))
        .with(Column::new("estimatedvalue", ColumnKind::Money))
        .with(Column::new("estimatedclosedate", ColumnKind::DateOnly))
        .with(Column::new("actualvalue", ColumnKind::Money))
        .with(Column::new("actualclosedate", ColumnKind::DateOnly))
        .with(Column::new("closeprobability", ColumnKind::Integer))
        .with(Column::new("budgetamount", ColumnKind::Money))
        .with(Column::new(
            "isrevenuesystemcalculated",
            ColumnKind::Boolean,
        ))
        .with(Column::new(
            "salesstage",
            ColumnKind::Choice(labels(&[
                (0, "Qualify"),
                (1, "Develop"),
                (2, "Propose"),
                (3, "Close"),
            ])),
        ))
        .with(Column::new(
            "salesstagecode",
            ColumnKind::Choice(labels(&[(1, "Default Value")])),
        ))
        .with(text("stepname", 200))
        .with(Column::new(
            "opportunityratingcode",
            ColumnKind::Choice(labels(&[(1, "Hot"), (2, "Warm"), (3, "Cold")])),
        ))
        .with(Column::new(
            "msdyn_forecastcategory",
            ColumnKind::Choice(labels(&[
                (100000001, "Pipeline"),
                (100000002, "Best case"),
                (100000003, "Committed"),
                (100000004, "Omitted"),
                (100000005, "Won"),
                (100000006, "Lost"),
            ])),
        ))
        .with(
            Column::new(
                "customerid",
                lookup(&[
                    ("customerid_account", "accounts"),
                    ("customerid_contact", "contacts"),
                ]),
            )
            .required("ApplicationRequired"),
        )
        .with(Column::new(
            "parentaccountid",
            lookup(&[("parentaccountid", "accounts")]),
        ))
        .with(Column::new(
            "parentcontactid",
            lookup(&[("parentcontactid", "contacts")]),
        ))
        .with(currency_lookup().required("ApplicationRequired"))
        .with(owner())
        .state(
            &[(0, "Open"), (1, "Won"), (2, "Lost")],
            &[
                (1, "In Progress", 0),
                (2, "On Hold", 0),
                (3, "Won", 1),
                (4, "Canceled", 2),
                (5, "Out-Sold", 2),
            ],
        )
        .with(Column::new(
            "cosell_syncwithpartnercenter",
            ColumnKind::Boolean,
        ))
        .with(text("cosell_referralid", 100))
        .with(text("cosell_referrallink", 500))
        .with(Column::new(
            "cosell_sharewithmicrosoftsellers",
            ColumnKind::Boolean,
        ))
        .with(text("cosell_microsoftcrmid", 100))
        .with(Column::new(
            "cosell_howcanmicrosofthelp",
            ColumnKind::Choices(labels(&[
                (1, "Architecture guidance"),
                (2, "Business value proposition"),
                (3, "Deal financing"),
                (4, "Pricing"),
                (5, "Technical consultation"),
                (6, "Total cost of ownership"),
                (7, "Workload migration"),
                (8, "Licensing"),
                (9, "Other"),
            ])),
        ))
        .with(memo("cosell_solutions"))
        .with(Column::new(
            "cosell_audit",
            ColumnKind::Memo {
                max_length: 100_000,
            },
        ))
        .key(&["cosell_referralid"])
}
