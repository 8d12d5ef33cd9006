//! The referral enums. All are open: a value this crate does not know is kept as
//! `Unknown(text)` and written back unchanged, so new service values never break decoding.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Declares an open string enum: known wire values, plus `Unknown(String)` for anything else.
/// Known values are read case-insensitively (the service's casing has varied) and written in
/// their documented casing.
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this crate does not know, kept exactly as the service sent it.
            Unknown(String),
        }

        impl $name {
            /// Every value this crate knows, in documented order.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),+];

            /// The value as it travels on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )+
                    $name::Unknown(other) => other,
                }
            }

            /// Reads a wire value; known values match case-insensitively, anything else becomes
            /// `Unknown`.
            pub fn from_wire(text: &str) -> Self {
                $( if text.eq_ignore_ascii_case($wire) { return $name::$variant; } )+
                $name::Unknown(text.to_owned())
            }

            /// Whether this is a value the crate knows.
            pub fn is_known(&self) -> bool {
                !matches!(self, $name::Unknown(_))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Ok($name::from_wire(text))
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                $name::from_wire(text)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer
                    .deserialize_any(WireText)
                    .map(|text| $name::from_wire(&text))
            }
        }
    };
}

/// Reads an enum value as text; numbers are accepted too (`salesStage` has been seen as `100`).
struct WireText;

impl<'de> Visitor<'de> for WireText {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
}

open_enum! {
    /// Where a referral stands (`status`).
    ///
    /// ```
    /// use cosell::partner_center::ReferralStatus;
    /// assert_eq!(ReferralStatus::from_wire("active"), ReferralStatus::Active);
    /// assert_eq!(ReferralStatus::from_wire("Paused").as_str(), "Paused");
    /// ```
    ReferralStatus {
        /// No status.
        None => "None",
        /// Received or created, not yet worked on.
        New => "New",
        /// Being worked on.
        Active => "Active",
        /// Finished (won, lost, declined or expired); terminal.
        Closed => "Closed",
    }
}

open_enum! {
    /// The detail of a referral's status (`substatus`).
    ReferralSubstatus {
        /// No substatus.
        None => "None",
        /// New, waiting for an answer.
        Pending => "Pending",
        /// New, received.
        Received => "Received",
        /// Active: accepted.
        Accepted => "Accepted",
        /// Closed: won.
        Won => "Won",
        /// Closed: lost.
        Lost => "Lost",
        /// Closed: declined.
        Declined => "Declined",
        /// Closed: not answered in time.
        Expired => "Expired",
    }
}

open_enum! {
    /// Who sees a referral (`type`).
    ReferralType {
        /// Visible to one partner.
        Independent => "Independent",
        /// Visible to two collaborating parties (co-sell).
        Shared => "Shared",
    }
}

open_enum! {
    /// Where a referral's qualification came from (`qualification`).
    ReferralQualification {
        /// No qualification.
        None => "None",
        /// Created by the customer (marketplace leads).
        Direct => "Direct",
        /// Qualified by marketing.
        MarketingQualified => "MarketingQualified",
        /// Qualified by a (Microsoft) seller.
        SalesQualified => "SalesQualified",
    }
}

open_enum! {
    /// Whether a referral was received or sent (`direction`).
    ReferralDirection {
        /// Received from Microsoft or another partner.
        Incoming => "Incoming",
        /// Sent by this partner.
        Outgoing => "Outgoing",
    }
}

open_enum! {
    /// What a referral is aimed at (`target[].type`).
    TargetType {
        /// No target.
        None => "None",
        /// A business profile location (`msft` for Microsoft).
        BusinessProfileLocation => "BusinessProfileLocation",
        /// A solution profile.
        SolutionProfile => "SolutionProfile",
    }
}

open_enum! {
    /// The kind of a solution tag (`solutions[].type`).
    SolutionTagType {
        /// No kind.
        None => "None",
        /// A solution category.
        Category => "Category",
        /// A named solution.
        Name => "Name",
    }
}

open_enum! {
    /// The kind of a customer identifier (`customerProfile.ids[].profileType`).
    CustomerProfileIdType {
        /// A D-U-N-S number.
        Duns => "Duns",
        /// An identifier from another system.
        External => "External",
    }
}

open_enum! {
    /// The help asked of Microsoft (`inviteContext.assistanceRequestCode`).
    AssistanceRequestCode {
        /// The documented value `Unknown` (no help specified).
        NotSpecified => "Unknown",
        /// General or other help.
        GeneralOrOther => "GeneralOrOther",
        /// Customer technical architecture.
        CustomerTechnicalArchitecture => "CustomerTechnicalArchitecture",
        /// A proof of concept or demo.
        ProofOfConceptOrDemo => "ProofOfConceptOrDemo",
        /// Quotes or licensing.
        QuotesOrLicensing => "QuotesOrLicensing",
        /// Post-sales customer success.
        PostSalesCustomerSuccess => "PostSalesCustomerSuccess",
        /// A workload-specific value proposition.
        WorkloadSpecificValueProposition => "WorkloadSpecificValueProposition",
    }
}

open_enum! {
    /// The sales stage (`salesStage`). Numeric strings such as `"100"` have been seen; they are
    /// kept as `Unknown`.
    SalesStage {
        /// Qualify.
        Qualify => "Qualify",
        /// Develop.
        Develop => "Develop",
        /// Propose.
        Propose => "Propose",
        /// Close.
        Close => "Close",
    }
}

open_enum! {
    /// The customer's size (`customerProfile.size`).
    CustomerSize {
        /// 1 to 50 employees (older scale).
        From1To50Employees => "1to50employees",
        /// 51 to 500 employees (older scale).
        From51To500Employees => "51to500employees",
        /// More than 500 employees (older scale).
        MoreThan500Employees => "Morethan500employees",
        /// 1 to 9 employees.
        From1To9Employees => "1to9employees",
        /// 10 to 50 employees.
        From10To50Employees => "10to50employees",
        /// 51 to 250 employees.
        From51To250Employees => "51to250employees",
        /// 251 to 1,000 employees.
        From251To1000Employees => "251to1000employees",
        /// 1,001 to 5,000 employees.
        From1001To5000Employees => "1001to5000employees",
        /// 5,001 to 10,000 employees.
        From5001To10000Employees => "5001to10000employees",
        /// 10,001 to 20,000 employees.
        From10001To20000Employees => "10001to20000employees",
        /// More than 20,000 employees.
        MoreThan20000Employees => "Morethan20000employees",
    }
}

open_enum! {
    /// Whether the customer means to buy through the marketplace. Only `HaveNotDecided` is
    /// confirmed on the wire; `Yes` and `No` follow the bulk-upload vocabulary.
    CustomerMarketplaceIntent {
        /// The customer has not decided.
        HaveNotDecided => "HaveNotDecided",
        /// The customer intends to buy through the marketplace.
        Yes => "Yes",
        /// The customer does not.
        No => "No",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_round_trip_and_unknown_values_are_kept() {
        for size in CustomerSize::KNOWN {
            let json = serde_json::to_string(size).unwrap();
            assert_eq!(&serde_json::from_str::<CustomerSize>(&json).unwrap(), size);
        }
        let odd: SalesStage = serde_json::from_str("100").unwrap();
        assert_eq!(odd, SalesStage::Unknown("100".into()));
        let odd: ReferralStatus = serde_json::from_str(r#""Paused""#).unwrap();
        assert_eq!(serde_json::to_string(&odd).unwrap(), r#""Paused""#);
        assert_eq!(
            AssistanceRequestCode::from_wire("unknown"),
            AssistanceRequestCode::NotSpecified
        );
    }
}
