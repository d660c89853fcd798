//! What every handler may use: the API client, the token verifier and the settings.

use std::sync::Arc;

use ehelpdesk_shared::auth::Verifier;

use crate::api::ApiClient;
use crate::configuration::Settings;

#[derive(Clone)]
pub struct AppState {
    pub api: ApiClient,
    pub verifier: Verifier,
    pub settings: Arc<Settings>,
}
