//! Partner Center: the co-sell referrals API and the webhook registration API.
