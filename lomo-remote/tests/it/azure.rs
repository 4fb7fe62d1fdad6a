//! Azure Blob on Azurite, through the same endpoint + shared-key path as a
//! real account (not object_store's emulator switch).

use std::process::Command;

use lomo_remote::{SiteOptions, SiteUrl};

use lomo_remote::testing as servers;

/// Azurite's documented development account and key.
const ACCOUNT: &str = "devstoreaccount1";
const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn create_container(port: u16, name: &str) {
    let conn = format!(
        "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint=http://127.0.0.1:{port}/{ACCOUNT};"
    );
    let script = "import sys; from azure.storage.blob import BlobServiceClient as B; \
                  B.from_connection_string(sys.argv[1]).create_container(sys.argv[2])";
    let out = Command::new("python3")
        .args(["-c", script, &conn, name])
        .output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "creating container {name} with the azure-storage-blob SDK (pip install azure-storage-blob): {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("running python3: {e}"),
    }
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
