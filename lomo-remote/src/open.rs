//! Building a [`Backend`] from a [`SiteUrl`].

use std::fmt;
use std::sync::Arc;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, Checksum};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::{ClientOptions, CredentialProvider};

use crate::azure::AzureExtra;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::http::HttpClient;
use crate::local::LocalBackend;
use crate::meter::{Meter, MeteredConnector};
use crate::objstore::{Extra, Service, StoreBackend, check_key};
use crate::retry::RetryPolicy;
use crate::s3::S3Extra;
use crate::spec::{Location, SiteUrl};

/// How to open a site, beyond its URL.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SiteOptions {
    /// The site's name in messages (default: the URL).
    pub name: Option<String>,
    /// Credentials and other settings from the config file, as object_store
    /// config keys (`aws_access_key_id`, `aws_secret_access_key`,
    /// `azure_storage_access_key`, `google_service_account_path`, …). They
    /// override the environment (`AWS_ACCESS_KEY_ID`, …). Never printed.
    pub credentials: Credentials,
    /// Bandwidth limit in bytes per second, shared by uploads and downloads.
    pub bandwidth_limit: Option<u64>,
    /// Retry policy for transient failures.
    pub retry: RetryPolicy,
    /// Where the site keeps what it learned of its layout between runs.
    pub memo: Option<Arc<dyn SiteMemo>>,
    /// The site's bucket has S3 Object Lock: every delete and replacement
    /// first reads the object's retention (one HEAD) and is refused with
    /// [`crate::Error::Locked`] while it holds, before the request is
    /// sent; a delete removes the object's current version (a plain
    /// DELETE on a versioned bucket only hides it, and its bytes stay
    /// billed), and a replaced version is removed once the new one is
    /// stored.
    pub object_lock: bool,
}

/// Where a site keeps what it learned of its own layout between runs, so
/// that a new process need not find it again (Google Drive: the ids of its
/// folders and objects; a photo then comes back in one request). Entries
/// are the site's own `(name, value)` strings. Best effort: a memo that
/// cannot be read or written costs requests, never correctness (an id that
/// went stale is looked up again).
pub trait SiteMemo: Send + Sync + std::fmt::Debug {
    /// Everything saved for this site.
    fn load(&self) -> Vec<(String, String)>;
    /// Replaces what is saved with `entries`.
    fn save(&self, entries: Vec<(String, String)>);
}

impl SiteOptions {
    /// Options naming the site.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: Some(name.into()),
            ..Self::default()
        }
    }

    /// Sets the bandwidth limit (bytes per second).
    pub fn with_bandwidth_limit(mut self, limit: Option<u64>) -> Self {
        self.bandwidth_limit = limit;
        self
    }

    /// Sets the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets where the site keeps what it learned between runs.
    pub fn with_memo(mut self, memo: Arc<dyn SiteMemo>) -> Self {
        self.memo = Some(memo);
        self
    }

    /// Sets whether the site's bucket has Object Lock (see [`SiteOptions::object_lock`]).
    pub fn with_object_lock(mut self, on: bool) -> Self {
        self.object_lock = on;
        self
    }

    /// Adds a credential or setting (an object_store config key).
    pub fn with_credential(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.credentials.0.push((key.into(), value.into()));
        self
    }
}

/// Key/value settings whose values are secret: `Debug` shows keys only.
#[derive(Clone, Default)]
pub struct Credentials(Vec<(String, String)>);

impl Credentials {
    /// The keys set.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.keys()).finish()
    }
}

/// One object_store-backed site.
#[allow(clippy::too_many_arguments)]
fn store_backend<T>(
    name: String,
    url: &SiteUrl,
    service: Service,
    store: Arc<T>,
    prefix: &str,
    default_class: Option<String>,
    extra: Extra,
    meter: Arc<Meter>,
) -> Arc<dyn Backend>
where
    T: object_store::ObjectStore + object_store::multipart::MultipartStore,
{
    Arc::new(StoreBackend {
        name,
        url: url.to_string(),
        service,
        store: store.clone(),
        multipart: store,
        prefix: prefix.to_owned(),
        default_class,
        extra,
        meter,
    })
}

/// The account's blob endpoint and name, as object_store resolves them
/// (the emulator switch, the endpoint setting, or the public cloud).
fn azure_account(b: &MicrosoftAzureBuilder) -> (String, String) {
    let get = |k| b.get_config_value(&k);
    if get(AzureConfigKey::UseEmulator).as_deref() == Some("true") {
        let account = get(AzureConfigKey::AccountName).unwrap_or_else(|| "devstoreaccount1".into());
        let base = std::env::var("AZURITE_BLOB_STORAGE_URL")
            .unwrap_or_else(|_| "http://127.0.0.1:10000".into());
        return (format!("{}/{account}", base.trim_end_matches('/')), account);
    }
    let account = get(AzureConfigKey::AccountName).unwrap_or_default();
    let url = get(AzureConfigKey::Endpoint)
        .unwrap_or_else(|| format!("https://{account}.blob.core.windows.net"));
    (url, account)
}

/// Opens the site at `url`. No request is made: an unreachable site shows
/// up on first use. A local folder must exist (a missing one is reported
/// as a [`Error::Config`], usually an unmounted disk).
pub fn open(url: &SiteUrl, opts: &SiteOptions) -> Result<Arc<dyn Backend>> {
    let name = opts.name.clone().unwrap_or_else(|| url.to_string());
    let meter = Arc::new(Meter::new(opts.bandwidth_limit));
    let config_err = |reason: String| Error::Config {
        site: name.clone(),
        reason,
    };
    let check_prefix = |prefix: &str| {
        check_key(
            crate::error::At::new(&name, crate::error::Op::Open, prefix),
            prefix,
            true,
        )
    };
    let client_options = ClientOptions::new()
        .with_timeout(opts.retry.request_timeout)
        .with_connect_timeout(std::time::Duration::from_secs(10));
    let connector = || MeteredConnector {
        meter: meter.clone(),
    };
    let storage_class = url.storage_class().map(str::to_owned);
    match url.location() {
        Location::S3 {
            bucket,
            prefix,
            region,
            endpoint,
        } => {
            check_prefix(prefix)?;
            let region = region
                .clone()
                .or_else(|| std::env::var("AWS_REGION").ok())
                .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
                .unwrap_or_else(|| "us-east-1".to_owned());
            let mut b = AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_region(&region)
                .with_checksum_algorithm(Checksum::SHA256)
                .with_retry(opts.retry.to_object_store())
                .with_http_connector(connector());
            let mut client_options = client_options;
            if let Some(ep) = endpoint {
                b = b.with_endpoint(ep).with_virtual_hosted_style_request(false);
                client_options = client_options.with_allow_http(ep.starts_with("http://"));
            }
            b = b.with_client_options(client_options);
            for (k, v) in &opts.credentials.0 {
                let key: AmazonS3ConfigKey = k
                    .parse()
                    .map_err(|_| config_err(format!("unknown S3 setting {k:?}")))?;
                b = b.with_config(key, v);
            }
            let s3 = b
                .build()
                .map_err(|e| config_err(format!("cannot set up S3: {e}")))?;
            let creds: Arc<dyn CredentialProvider<Credential = _>> = s3.credentials().clone();
            let http = HttpClient::new(meter.clone(), opts.retry);
            let extra = S3Extra::new(http, endpoint.as_deref(), bucket, &region, creds)
                .guarding_locks(opts.object_lock);
            let s3 = Arc::new(s3);
            Ok(store_backend(
                name,
                url,
                Service::S3,
                s3,
                prefix,
                storage_class,
                Extra::S3(Arc::new(extra)),
                meter,
            ))
        }
        Location::Gcs {
            bucket,
            prefix,
            emulator,
        } => {
            check_prefix(prefix)?;
            let mut b = GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(bucket)
                .with_retry(opts.retry.to_object_store())
                .with_http_connector(connector());
            let mut client_options = client_options;
            if let Some(base) = emulator {
                let key = serde_json::json!({
                    "private_key": "unused", "private_key_id": "unused",
                    "client_email": "emulator@localhost",
                    "disable_oauth": true, "gcs_base_url": base,
                });
                b = b.with_service_account_key(key.to_string());
                client_options = client_options.with_allow_http(base.starts_with("http://"));
            }
            b = b.with_client_options(client_options);
            for (k, v) in &opts.credentials.0 {
                let key: GoogleConfigKey = k
                    .parse()
                    .map_err(|_| config_err(format!("unknown GCS setting {k:?}")))?;
                b = b.with_config(key, v);
            }
            let gcs = Arc::new(
                b.build()
                    .map_err(|e| config_err(format!("cannot set up GCS: {e}")))?,
            );
            Ok(store_backend(
                name,
                url,
                Service::Gcs,
                gcs,
                prefix,
                storage_class,
                Extra::None,
                meter,
            ))
        }
        Location::Azure {
            container,
            prefix,
            account,
            endpoint,
        } => {
            check_prefix(prefix)?;
            let mut b = MicrosoftAzureBuilder::from_env()
                .with_container_name(container)
                .with_retry(opts.retry.to_object_store())
                .with_http_connector(connector());
            if let Some(a) = account {
                b = b.with_account(a);
            }
            let mut client_options = client_options;
            if let Some(ep) = endpoint {
                b = b.with_endpoint(ep.clone());
                client_options = client_options.with_allow_http(ep.starts_with("http://"));
            }
            b = b.with_client_options(client_options);
            for (k, v) in &opts.credentials.0 {
                let key: AzureConfigKey = k
                    .parse()
                    .map_err(|_| config_err(format!("unknown Azure setting {k:?}")))?;
                b = b.with_config(key, v);
            }
            let (account_url, account) = azure_account(&b);
            let az = b
                .build()
                .map_err(|e| config_err(format!("cannot set up Azure: {e}")))?;
            let http = HttpClient::new(meter.clone(), opts.retry);
            let extra = AzureExtra::new(
                http,
                &account_url,
                container,
                &account,
                az.credentials().clone(),
            );
            Ok(store_backend(
                name,
                url,
                Service::Azure,
                Arc::new(az),
                prefix,
                storage_class,
                Extra::Azure(Arc::new(extra)),
                meter,
            ))
        }
        Location::Local { path } => Ok(Arc::new(LocalBackend::open(&name, path, meter)?)),
        Location::Drive { folder, endpoint } => {
            let get = |k: &str| {
                opts.credentials
                    .0
                    .iter()
                    .find(|(key, _)| key == k)
                    .map(|(_, v)| v.clone())
            };
            let (Some(cred), Some(token)) = (get("gdrive_credentials"), get("gdrive_token")) else {
                return Err(config_err(
                    "a Drive site needs the gdrive_credentials and gdrive_token files (sign in with `lomob util gcloud-auth`)".to_owned(),
                ));
            };
            let client = crate::gdrive::OAuthClient::from_file(std::path::Path::new(&cred))
                .map_err(|e| config_err(e.to_string()))?;
            let token_path = std::path::PathBuf::from(token);
            let tok =
                crate::gdrive::Token::load(&token_path).map_err(|e| config_err(e.to_string()))?;
            let cfg = crate::gdrive::DriveConfig {
                endpoint: endpoint
                    .clone()
                    .unwrap_or_else(|| "https://www.googleapis.com".to_owned()),
                folder: folder.clone(),
                client,
                token: tok,
                token_path: Some(token_path),
            };
            Ok(Arc::new(crate::gdrive::DriveBackend::new(
                &name,
                cfg,
                meter,
                (opts.retry, opts.memo.clone()),
            )))
        }
    }
}
