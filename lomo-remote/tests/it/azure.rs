//! Azure Blob on Azurite, through the same endpoint + shared-key path as a
//! real account (not object_store's emulator switch).

use lomo_remote::{SiteOptions, SiteUrl};

use lomo_remote::testing as servers;

/// Azurite's documented development account and key.
use servers::{AZURITE_ACCOUNT as ACCOUNT, AZURITE_KEY as KEY};

fn create_container(port: u16, name: &str) {
    servers::azurite_container(port, name);
}

#[tokio::test(flavor = "multi_thread")]
async fn conformance() {
    let Some(az) = servers::azurite() else { return };
    create_container(az.port, "lomob");
    let url: SiteUrl = format!(
        "az://lomob/home?account={ACCOUNT}&endpoint=http://127.0.0.1:{}/{ACCOUNT}&storage_class=Cool",
        az.port
    )
    .parse()
    .unwrap();
    let site = lomo_remote::open(
        &url,
        &SiteOptions::named("azurite").with_credential("azure_storage_access_key", KEY),
    )
    .unwrap();
    lomo_remote::conformance::run_all(site.clone(), "t").await;
    assert!(site.usage().class_a > 10, "{:?}", site.usage());
}
