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

/// Largest Argon2id memory a key slot may ask for: 1 GiB (16× the default 64 MiB).
pub const KDF_MAX_M_KIB: u32 = 1024 * 1024;
/// Largest number of Argon2id passes (the default is 3).
pub const KDF_MAX_T: u32 = 10;
/// Largest number of Argon2id lanes (the default is 1).
pub const KDF_MAX_P: u32 = 16;
/// Largest memory × passes product, in KiB·passes: 2 GiB·passes, about 10× the default's
/// 192 MiB·passes. With the two caps above alone, a slot could still ask for 10 GiB·passes.
pub const KDF_MAX_WORK: u64 = 2 * 1024 * 1024;

/// Refuse Argon2id parameters beyond the caps (FORMAT.md §2) — checked before any Argon2 run,
/// so a planted slot cannot make `open` allocate gigabytes or spin for minutes.
fn check_kdf_caps(p: &KdfParams) -> std::result::Result<(), String> {
    let work = u64::from(p.m_kib) * u64::from(p.t);
    if p.m_kib > KDF_MAX_M_KIB || p.t > KDF_MAX_T || p.p > KDF_MAX_P || work > KDF_MAX_WORK {
        return Err(format!(
            "argon2 parameters m={} KiB, t={}, p={} exceed the accepted maxima \
             (m ≤ {KDF_MAX_M_KIB} KiB, t ≤ {KDF_MAX_T}, p ≤ {KDF_MAX_P}, m·t ≤ {KDF_MAX_WORK} KiB)",
            p.m_kib, p.t, p.p
        ));
    }
    if p.t == 0 || p.p == 0 || p.m_kib < 8 * p.p {
        return Err(format!(
            "argon2 parameters m={} KiB, t={}, p={} are invalid (t ≥ 1, p ≥ 1, m ≥ 8·p)",
            p.m_kib, p.t, p.p
        ));
    }
    Ok(())
}

fn parse_slot(object: &str, bytes: &[u8]) -> Result<SlotDoc> {
    let doc: SlotDoc = serde_json::from_slice(bytes).map_err(|e| Error::corrupt(object, e))?;
    if doc.version != 1 || doc.kdf.alg != "argon2id" {
        return Err(Error::corrupt(object, "unknown key slot version or kdf"));
    }
    Ok(doc)
}

fn check_mac(keys: &MasterKeys, object: &str, doc: &SlotDoc) -> Result<()> {
    if doc.mac != slot_mac(keys, doc) {
        return Err(Error::corrupt(
            object,
            "key slot does not match its MAC (its fields were altered)",
        ));
    }
    Ok(())
}

/// Verify a slot's integrity with the master keys (for `check`): its MAC, and KDF parameters
/// within the caps.
pub fn verify_slot(keys: &MasterKeys, object: &str, bytes: &[u8]) -> Result<()> {
    let doc = parse_slot(object, bytes)?;
    check_mac(keys, object, &doc)?;
    check_kdf_caps(&kdf_params(&doc)).map_err(|e| Error::corrupt(object, e))
}

fn kdf_params(doc: &SlotDoc) -> KdfParams {
    KdfParams {
        m_kib: doc.kdf.m_kib,
        t: doc.kdf.t,
        p: doc.kdf.p,
    }
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
    check_kdf_caps(&params).map_err(Error::Invalid)?;
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

/// What a passphrase does to one key slot.
pub enum SlotUnlock {
    /// The passphrase fits and the slot is intact: the master keys.
    Unlocked(MasterKeys),
    /// The passphrase does not fit this slot.
    NotThisSlot,
    /// The passphrase fits, but the slot's unauthenticated fields (creation date, KDF
    /// parameters, MAC) were altered: the slot is refused, with this error naming it.
    Altered(Error),
}

/// Try a passphrase on a slot. A slot that cannot be parsed, or whose KDF parameters exceed
/// the caps, is an error (and Argon2 never runs on it).
pub fn try_slot(object: &str, bytes: &[u8], passphrase: &str) -> Result<SlotUnlock> {
    let doc = parse_slot(object, bytes)?;
    let params = kdf_params(&doc);
    check_kdf_caps(&params).map_err(|e| Error::corrupt(object, e))?;
    let salt = unb64(&doc.kdf.salt, object)?;
    let kek = derive_kek(passphrase, &salt, params).map_err(|e| Error::corrupt(object, e))?;
    let sealed = unb64(&doc.sealed, object)?;
    let Ok(material) = open(&kek, SLOT_AD, &sealed, object) else {
        return Ok(SlotUnlock::NotThisSlot);
    };
    if material.len() != 64 {
        return Err(Error::corrupt(
            object,
            "master material has the wrong length",
        ));
    }
    let keys = MasterKeys::from_material(material);
    Ok(match check_mac(&keys, object, &doc) {
        Ok(()) => SlotUnlock::Unlocked(keys),
        Err(e) => SlotUnlock::Altered(e),
    })
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
            let SlotUnlock::Unlocked(got) = try_slot("keys/x", &doc, &pass).unwrap() else {
                panic!("slot does not unlock");
            };
            verify_slot(&keys, "keys/x", &doc).unwrap();
            prop_assert!(verify_slot(&MasterKeys::generate(), "keys/x", &doc).is_err());
            prop_assert_eq!(got.material.clone(), keys.material.clone());
            if other != pass {
                prop_assert!(matches!(try_slot("keys/x", &doc, &other).unwrap(), SlotUnlock::NotThisSlot));
            }
        }
    }

    /// A slot made with `pass`, then its JSON edited by `edit` (what a planted or altered
    /// slot looks like: the attacker has storage access, not the master keys).
    fn edited_slot(
        keys: &MasterKeys,
        pass: &str,
        edit: impl FnOnce(&mut serde_json::Value),
    ) -> Vec<u8> {
        let (_, doc) = make_slot(keys, pass, KdfParams::insecure_fast()).unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        edit(&mut v);
        serde_json::to_vec(&v).unwrap()
    }

    fn corrupt_detail(r: Result<SlotUnlock>) -> String {
        match r {
            Err(Error::Corrupt { object, detail }) => {
                assert_eq!(object, "keys/x");
                detail
            }
            Err(e) => panic!("not a Corrupt error: {e}"),
            Ok(SlotUnlock::Unlocked(_)) => panic!("unlocked"),
            Ok(SlotUnlock::NotThisSlot) => panic!("Argon2 ran: the passphrase did not fit"),
            Ok(SlotUnlock::Altered(e)) => panic!("Argon2 ran and unlocked: {e}"),
        }
    }

    /// KDF parameters beyond the caps are refused with an error naming the slot before Argon2
    /// runs (had it run with the edited parameters, the passphrase would not fit the slot).
    /// The cheap cases come first; the gigabyte ones are never run.
    #[test]
    fn planted_kdf_parameters_beyond_the_caps_are_refused_before_argon2() {
        let keys = MasterKeys::generate();
        for (m, t, p) in [
            (64u32, KDF_MAX_T + 1, 1u32),
            (64 * 17, 1, KDF_MAX_P + 1),
            (256, 0, 1),
            (64, 1, 0),
            (16, 1, 4),
            (KDF_MAX_M_KIB + 1, 1, 1),
            (4 * 1024 * 1024, 1, 1),
            (u32::MAX, u32::MAX, u32::MAX),
            (KDF_MAX_M_KIB, 3, 1),
            (300 * 1024, KDF_MAX_T, 1),
        ] {
            let doc = edited_slot(&keys, "pw", |v| {
                v["kdf"]["m_kib"] = m.into();
                v["kdf"]["t"] = t.into();
                v["kdf"]["p"] = p.into();
            });
            let detail = corrupt_detail(try_slot("keys/x", &doc, "pw"));
            assert!(
                detail.contains("argon2 parameters"),
                "{m} {t} {p}: {detail}"
            );
            assert!(verify_slot(&keys, "keys/x", &doc).is_err());
        }
    }

    #[test]
    fn caps_accept_the_defaults_and_generous_parameters_but_not_beyond() {
        for ok in [
            KdfParams::default(),
            KdfParams::insecure_fast(),
            KdfParams {
                m_kib: KDF_MAX_M_KIB,
                t: 2,
                p: KDF_MAX_P,
            },
            KdfParams {
                m_kib: 64 * 1024,
                t: KDF_MAX_T,
                p: 4,
            },
        ] {
            assert_eq!(check_kdf_caps(&ok), Ok(()), "{ok:?}");
        }
        let keys = MasterKeys::generate();
        let too_much = KdfParams {
            m_kib: KDF_MAX_M_KIB * 2,
            t: 1,
            p: 1,
        };
        assert!(matches!(
            make_slot(&keys, "pw", too_much),
            Err(Error::Invalid(_))
        ));
    }

    /// The slot MAC is verified when the passphrase unlocks a slot: a slot whose creation date
    /// (or MAC) was altered is refused, naming the slot; a wrong passphrase still just misses.
    #[test]
    fn altered_slot_is_refused_on_unlock() {
        let keys = MasterKeys::generate();
        let edits: [fn(&mut serde_json::Value); 3] = [
            |v| v["created"] = "2001-01-01T00:00:00Z".into(),
            |v| v["mac"] = "00".repeat(32).into(),
            |v| {
                v.as_object_mut().unwrap().remove("mac");
            },
        ];
        for edit in edits {
            let doc = edited_slot(&keys, "pw", edit);
            match try_slot("keys/x", &doc, "pw").unwrap() {
                SlotUnlock::Altered(Error::Corrupt { object, detail }) => {
                    assert_eq!(object, "keys/x");
                    assert!(detail.contains("MAC"), "{detail}");
                }
                _ => panic!("an altered slot was not refused"),
            }
            assert!(matches!(
                try_slot("keys/x", &doc, "other").unwrap(),
                SlotUnlock::NotThisSlot
            ));
            assert!(verify_slot(&keys, "keys/x", &doc).is_err());
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
