//! Rows (`Queryable`), inserts (`Insertable`, named `New…`) and changesets.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::organizations;

#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = organizations)]
pub struct Organization {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub logo_url: Option<String>,
    pub metadata: String,
    pub personal: bool,
    pub preferred_connection: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = organizations)]
pub struct NewOrganization<'a> {
    pub id: &'a str,
    pub slug: &'a str,
    pub name: &'a str,
    pub logo_url: Option<&'a str>,
    pub metadata: &'a str,
    pub personal: bool,
    pub preferred_connection: Option<&'a str>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}
