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

async fn get_all(site: &dyn lomo_remote::Backend, key: &str) -> lomo_remote::Result<Vec<u8>> {
    let mut s = site.get(key, None).await?;
    let mut out = Vec::new();
    while let Some(chunk) = futures::StreamExt::next(&mut s).await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

fn archive_site(port: u16) -> std::sync::Arc<dyn lomo_remote::Backend> {
    let url: SiteUrl = format!(
        "az://lomob/home?account={ACCOUNT}&endpoint=http://127.0.0.1:{port}/{ACCOUNT}&storage_class=Archive"
    )
    .parse()
    .unwrap();
    lomo_remote::open(
        &url,
        &SiteOptions::named("azurite").with_credential("azure_storage_access_key", KEY),
    )
    .unwrap()
}

/// `--storage-class Archive` on Azure: a whole put and a block-list upload
/// finished by another process both end in the Archive tier (read back by
/// Azure's own SDK), a read is refused until rehydration, listings and HEAD
/// say so, and a restore makes the blob readable. Azurite answers 202 and
/// rehydrates at once; the hours a real account takes (archive status
/// `rehydrate-pending-to-hot` meanwhile) are parsed, not served here.
#[tokio::test(flavor = "multi_thread")]
async fn archives_get_the_archive_tier_and_rehydrate() {
    use lomo_remote::{Error, PutOptions, RestoreRequest, RestoreStatus, RestoreTier};
    let Some(az) = servers::azurite() else { return };
    create_container(az.port, "lomob");
    let site = archive_site(az.port);
    let small = bytes::Bytes::from(vec![7u8; 1000]);
    site.put("arch/small", small.clone(), &PutOptions::default())
        .await
        .unwrap();
    let id = site
        .create_upload("arch/big", &PutOptions::default())
        .await
        .unwrap();
    let p1 = site
        .put_part("arch/big", &id, 1, vec![1u8; 300_000].into())
        .await
        .unwrap();
    // The rest in another process: a new site, the id from the catalog.
    let again = archive_site(az.port);
    let p2 = again
        .put_part("arch/big", &id, 2, vec![2u8; 1000].into())
        .await
        .unwrap();
    again
        .complete_upload("arch/big", &id, &[p1, p2])
        .await
        .unwrap();
    let hot = PutOptions::default().with_storage_class(Some("Hot".into()));
    site.put("staged/x", small.clone(), &hot).await.unwrap();

    for key in ["arch/small", "arch/big"] {
        let sdk = servers::azurite_tier(az.port, "lomob", &format!("home/{key}"));
        assert_eq!(sdk, "Archive ", "{key}");
        let h = site.head(key).await.unwrap();
        assert_eq!(h.storage_class.as_deref(), Some("Archive"), "{key}");
        assert_eq!(h.restore, Some(RestoreStatus::NotRequested), "{key}");
        let read = get_all(site.as_ref(), key).await;
        assert!(matches!(read, Err(Error::NotRestored { .. })), "{read:?}");
    }
    assert_eq!(
        servers::azurite_tier(az.port, "lomob", "home/staged/x"),
        "Hot "
    );
    let listed: Vec<_> = futures::TryStreamExt::try_collect(site.list(""))
        .await
        .unwrap();
    let tiers: Vec<_> = listed
        .iter()
        .map(|o| (o.key.as_str(), o.storage_class.as_deref(), o.size))
        .collect();
    assert_eq!(
        tiers,
        [
            ("arch/big", Some("Archive"), 301_000),
            ("arch/small", Some("Archive"), 1000),
            ("staged/x", Some("Hot"), 1000)
        ]
    );

    let req = RestoreRequest {
        days: 1,
        tier: RestoreTier::Expedited,
    };
    let st = site.restore("arch/big", req).await.unwrap();
    // 202 Accepted, as Azure answers a rehydration it has started; Azurite
    // has finished it by the next HEAD.
    assert_eq!(st, RestoreStatus::InProgress);
    let h = site.head("arch/big").await.unwrap();
    assert_eq!(h.restore, Some(RestoreStatus::NotNeeded));
    assert_eq!(h.storage_class.as_deref(), Some("Hot"));
    assert_eq!(
        servers::azurite_tier(az.port, "lomob", "home/arch/big"),
        "Hot "
    );
    let back = get_all(site.as_ref(), "arch/big").await.unwrap();
    assert_eq!(back.len(), 301_000);
    assert!(back[..300_000].iter().all(|&b| b == 1) && back[300_000..].iter().all(|&b| b == 2));
    // Restoring a readable blob asks for nothing.
    let usage = site.usage();
    let st = site.restore("staged/x", req).await.unwrap();
    assert_eq!(st, RestoreStatus::NotNeeded);
    assert_eq!(site.usage().class_a, usage.class_a, "no Set Blob Tier sent");
}
