//! The Dataverse Web API (Dynamics 365): opportunities and any table.
