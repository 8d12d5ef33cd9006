//! The Salesforce REST API: Opportunity and any sObject.
