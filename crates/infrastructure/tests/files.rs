//! The file store on local disk and in memory: what is put is read back,
//! whole or by range, once per key.

#![expect(clippy::unwrap_used, reason = "tests: failing loudly is the point")]

use conduit_application::uploads::FileStore;
use conduit_domain::{FileKey, ImageFormat};
use conduit_infrastructure::files::ObjectFileStore;
use futures_util::StreamExt;

fn key(digit: char) -> FileKey {
    FileKey::new(&digit.to_string().repeat(64), ImageFormat::Png).unwrap()
}

async fn collect(
    store: &ObjectFileStore,
    key: &FileKey,
    range: Option<std::ops::Range<u64>>,
) -> (u64, std::ops::Range<u64>, Vec<u8>) {
    let body = store.open(key, range).await.unwrap().unwrap();
    let mut bytes = Vec::new();
    let mut chunks = body.chunks;
    while let Some(chunk) = chunks.next().await {
        bytes.extend(chunk.unwrap());
    }
    (body.size, body.range, bytes)
}

async fn round_trip(store: ObjectFileStore) {
    let data: Vec<u8> = (0..=255).collect();
    assert_eq!(store.size(&key('a')).await.unwrap(), None);
    assert!(store.open(&key('a'), None).await.unwrap().is_none());
    store.put(&key('a'), data.clone()).await.unwrap();
    // The same key again keeps the first bytes (a key names its bytes).
    store.put(&key('a'), vec![1, 2, 3]).await.unwrap();
    assert_eq!(store.size(&key('a')).await.unwrap(), Some(256));
    assert_eq!(store.read(&key('a')).await.unwrap().unwrap(), data);
    assert_eq!(
        collect(&store, &key('a'), None).await,
        (256, 0..256, data.clone())
    );
    assert_eq!(
        collect(&store, &key('a'), Some(10..20)).await,
        (256, 10..20, data[10..20].to_vec())
    );
    store.delete(&key('a')).await.unwrap();
    store.delete(&key('a')).await.unwrap();
    assert_eq!(store.read(&key('a')).await.unwrap(), None);
}

#[tokio::test]
async fn files_round_trip_on_local_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectFileStore::local(&dir.path().join("files")).unwrap();
    round_trip(store).await;
}

#[tokio::test]
async fn files_round_trip_in_memory() {
    round_trip(ObjectFileStore::memory()).await;
}

#[tokio::test]
async fn a_file_on_disk_is_named_by_its_key_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = ObjectFileStore::local(dir.path()).unwrap();
    store.put(&key('b'), vec![7; 10]).await.unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, [key('b').as_str().to_owned()]);
}
