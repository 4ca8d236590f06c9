//! Key slots (`keys/<id>`) and wrapped owner keys (`owners/<oid>`), FORMAT.md §2.

use crate::crypto::{KdfParams, Key, MasterKeys, b64, derive_kek, open, random_hex, seal, unb64};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};

const SLOT_AD: &[u8] = b"tv1 keyslot";

/// Id of a key slot (32 hex chars).
pub type KeyId = String;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct KdfDoc {
    alg: String,
    m_kib: u32,
    t: u32,
    p: u32,
    salt: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SlotDoc {
    version: u32,
    kdf: KdfDoc,
    created: DateTime<Utc>,
    sealed: String,
    /// Keyed hash (metadata key) of the fields above, so `check` can verify a slot it cannot open.
    #[serde(default)]
    mac: String,
}

fn slot_mac(keys: &MasterKeys, doc: &SlotDoc) -> String {
    let mut m = b"tv1 keyslot-mac".to_vec();
    m.extend_from_slice(
        &serde_json::to_vec(&(doc.version, &doc.kdf, doc.created, &doc.sealed))
            .expect("serializable"),
    );
    hex::encode(keys.meta_hash(&m))
}

/// Verify a slot's integrity with the master keys (for `check`).
pub fn verify_slot(keys: &MasterKeys, object: &str, bytes: &[u8]) -> Result<()> {
    let doc: SlotDoc = serde_json::from_slice(bytes).map_err(|e| Error::corrupt(object, e))?;
    if doc.version != 1 || doc.kdf.alg != "argon2id" {
        return Err(Error::corrupt(object, "unknown key slot version or kdf"));
    }
    if doc.mac != slot_mac(keys, &doc) {
        return Err(Error::corrupt(object, "key slot does not match its MAC"));
    }
    Ok(())
}

/// A listed key slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    pub id: KeyId,
    pub created: DateTime<Utc>,
    /// True for the slot that unlocked this handle.
    pub current: bool,
}

/// Build a new key slot document for `keys`, returning (id, bytes).
pub fn make_slot(
    keys: &MasterKeys,
    passphrase: &str,
    params: KdfParams,
) -> Result<(KeyId, Vec<u8>)> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let kek = derive_kek(passphrase, &salt, params)?;
    let mut doc = SlotDoc {
        version: 1,
        kdf: KdfDoc {
            alg: "argon2id".into(),
            m_kib: params.m_kib,
            t: params.t,
            p: params.p,
            salt: b64(&salt),
        },
        created: Utc::now(),
        sealed: b64(&seal(&kek, SLOT_AD, &keys.material)),
        mac: String::new(),
    };
    doc.mac = slot_mac(keys, &doc);
    Ok((
        random_hex(16),
        serde_json::to_vec_pretty(&doc).expect("serializable"),
    ))
}

/// Parsed slot: creation time, and the master keys if the passphrase fits (None if it does not).
pub fn try_slot(
    object: &str,
    bytes: &[u8],
    passphrase: &str,
) -> Result<(DateTime<Utc>, Option<MasterKeys>)> {
    let doc: SlotDoc = serde_json::from_slice(bytes).map_err(|e| Error::corrupt(object, e))?;
    if doc.version != 1 || doc.kdf.alg != "argon2id" {
        return Err(Error::corrupt(object, "unknown key slot version or kdf"));
    }
    let salt = unb64(&doc.kdf.salt, object)?;
    let params = KdfParams {
        m_kib: doc.kdf.m_kib,
        t: doc.kdf.t,
        p: doc.kdf.p,
    };
    if params.m_kib > 4 * 1024 * 1024 || params.t > 100 || params.p > 64 {
        return Err(Error::corrupt(object, "implausible argon2 parameters"));
    }
    let kek = derive_kek(passphrase, &salt, params).map_err(|e| Error::corrupt(object, e))?;
    let sealed = unb64(&doc.sealed, object)?;
    match open(&kek, SLOT_AD, &sealed, object) {
        Ok(material) if material.len() == 64 => {
            Ok((doc.created, Some(MasterKeys::from_material(material))))
        }
        Ok(_) => Err(Error::corrupt(
            object,
            "master material has the wrong length",
        )),
        Err(_) => Ok((doc.created, None)),
    }
}

/// Parse only the creation date of a slot.
pub fn slot_created(object: &str, bytes: &[u8]) -> Result<DateTime<Utc>> {
    let doc: SlotDoc = serde_json::from_slice(bytes).map_err(|e| Error::corrupt(object, e))?;
    Ok(doc.created)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct OwnerDoc {
    version: u32,
    sealed: String,
}

fn owner_ad(oid: &str) -> Vec<u8> {
    format!("tv1 owner {oid}").into_bytes()
}

/// Owner key id for a workload+owner (hides the owner name from storage).
pub fn owner_id(keys: &MasterKeys, workload: &str, owner: &str) -> String {
    let mut m = workload.as_bytes().to_vec();
    m.push(0);
    m.extend_from_slice(owner.as_bytes());
    hex::encode(&keys.meta_hash(&m)[..16])
}

/// Wrap a new owner key.
pub fn wrap_owner_key(keys: &MasterKeys, oid: &str, key: &Key) -> Vec<u8> {
    let doc = OwnerDoc {
        version: 1,
        sealed: b64(&seal(&keys.wrap_key, &owner_ad(oid), &key.0)),
    };
    serde_json::to_vec(&doc).expect("serializable")
}

/// Unwrap an owner key object.
pub fn unwrap_owner_key(keys: &MasterKeys, oid: &str, bytes: &[u8]) -> Result<Key> {
    let object = format!("owners/{oid}");
    let doc: OwnerDoc = serde_json::from_slice(bytes).map_err(|e| Error::corrupt(&object, e))?;
    if doc.version != 1 {
        return Err(Error::corrupt(&object, "unknown owner key version"));
    }
    let k = open(
        &keys.wrap_key,
        &owner_ad(oid),
        &unb64(&doc.sealed, &object)?,
        &object,
    )?;
    let k: [u8; 32] = k
        .try_into()
        .map_err(|_| Error::corrupt(&object, "owner key has the wrong length"))?;
    Ok(Key(k))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(8))]
        #[test]
        fn key_slot_wrap_unwrap(pass in "[ -~]{0,24}", other in "[ -~]{1,24}") {
            let keys = MasterKeys::generate();
            let (_, doc) = make_slot(&keys, &pass, KdfParams::insecure_fast()).unwrap();
            let (_, got) = try_slot("keys/x", &doc, &pass).unwrap();
            verify_slot(&keys, "keys/x", &doc).unwrap();
            prop_assert!(verify_slot(&MasterKeys::generate(), "keys/x", &doc).is_err());
            prop_assert_eq!(got.unwrap().material.clone(), keys.material.clone());
            if other != pass {
                prop_assert!(try_slot("keys/x", &doc, &other).unwrap().1.is_none());
            }
        }
    }

    #[test]
    fn owner_key_wrap_unwrap() {
        let keys = MasterKeys::generate();
        let oid = owner_id(&keys, "exchange", "a@example.com");
        let k = Key::random();
        let doc = wrap_owner_key(&keys, &oid, &k);
        assert_eq!(unwrap_owner_key(&keys, &oid, &doc).unwrap(), k);
        assert!(unwrap_owner_key(&keys, "other", &doc).is_err());
        assert!(unwrap_owner_key(&MasterKeys::generate(), &oid, &doc).is_err());
    }
}
