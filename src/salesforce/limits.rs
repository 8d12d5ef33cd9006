//! `Sforce-Limit-Info`: how much of the org's API allocation is used.

use std::fmt;

/// One `used/limit` pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Calls used in the current window.
    pub used: u64,
    /// Calls allowed in the window.
    pub limit: u64,
}

impl Usage {
    /// Calls left before the limit (zero when over it).
    pub fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }

    /// The used share, from 0.0 up (above 1.0 when over the limit; 1.0 for a zero limit).
    pub fn fraction_used(&self) -> f64 {
        if self.limit == 0 {
            return 1.0;
        }
        self.used as f64 / self.limit as f64
    }
}

/// One connected app's share: `per-app-api-usage=u/t(appName=name)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppUsage {
    /// The usage.
    pub usage: Usage,
    /// The app's name, when given.
    pub app_name: Option<String>,
}

/// The parsed `Sforce-Limit-Info` header Salesforce sends on REST answers.
///
/// ```
/// use cosell::salesforce::LimitInfo;
///
/// let info = LimitInfo::parse("api-usage=18/15000, per-app-api-usage=17/250(appName=sync)");
/// let usage = info.api_usage.unwrap();
/// assert_eq!((usage.used, usage.limit, usage.remaining()), (18, 15000, 14982));
/// assert_eq!(info.per_app[0].app_name.as_deref(), Some("sync"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitInfo {
    /// The org's rolling 24-hour allocation (`api-usage`).
    pub api_usage: Option<Usage>,
    /// Per connected app allocations (`per-app-api-usage`).
    pub per_app: Vec<AppUsage>,
    /// Every other `name=used/limit` entry (`api-bursts`, …), in header order.
    pub other: Vec<(String, Usage)>,
    /// The header as received.
    pub raw: String,
}

impl LimitInfo {
    /// Reads the header tolerantly: entries that do not parse are skipped (they stay in
    /// [`raw`](Self::raw)).
    pub fn parse(header: &str) -> Self {
        let mut info = LimitInfo {
            raw: header.to_owned(),
            ..LimitInfo::default()
        };
        for entry in header.split(',') {
            let Some((name, value)) = entry.split_once('=') else {
                continue;
            };
            let name = name.trim();
            let value = value.trim();
            let (pair, app_name) = match value.split_once('(') {
                Some((pair, rest)) => {
                    let inside = rest.trim_end_matches(')');
                    let app = inside
                        .strip_prefix("appName=")
                        .map(|a| a.trim().to_owned())
                        .filter(|a| !a.is_empty());
                    (pair.trim(), app)
                }
                None => (value, None),
            };
            let Some(usage) = parse_usage(pair) else {
                continue;
            };
            match name {
                "api-usage" => info.api_usage = Some(usage),
                "per-app-api-usage" => info.per_app.push(AppUsage { usage, app_name }),
                other => info.other.push((other.to_owned(), usage)),
            }
        }
        info
    }
}

impl fmt::Display for LimitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

fn parse_usage(pair: &str) -> Option<Usage> {
    let (used, limit) = pair.split_once('/')?;
    Some(Usage {
        used: used.trim().parse().ok()?,
        limit: limit.trim().parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_entry_and_skips_junk() {
        let info = LimitInfo::parse("api-usage=25/5000, api-bursts=1/750, junk, x=a/b");
        assert_eq!(
            info.api_usage,
            Some(Usage {
                used: 25,
                limit: 5000
            })
        );
        assert_eq!(info.other.len(), 1);
        assert_eq!(info.other[0].0, "api-bursts");
        assert_eq!(LimitInfo::parse("").api_usage, None);
    }
}

/// One entry of the `limits` resource: `{"Max", "Remaining"}`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct OrgLimit {
    /// The limit.
    #[serde(rename = "Max", default)]
    pub max: Option<i64>,
    /// What is left of it.
    #[serde(rename = "Remaining", default)]
    pub remaining: Option<i64>,
    /// Per-app breakdowns and anything else.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl super::Salesforce {
    /// The org's limits (`GET limits`), by name (`DailyApiRequests`, …).
    ///
    /// ```no_run
    /// # async fn run(sf: cosell::salesforce::Salesforce) -> cosell::Result<()> {
    /// let limits = sf.limits().await?;
    /// if let Some(daily) = limits.get("DailyApiRequests") {
    ///     println!("{:?} of {:?} left", daily.remaining, daily.max);
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::Api`](crate::Error::Api).
    pub async fn limits(&self) -> crate::Result<std::collections::BTreeMap<String, OrgLimit>> {
        let request = self
            .read(["limits"])
            .literal_path()
            .operation("salesforce.limits");
        self.send(request).await?.json()
    }
}
