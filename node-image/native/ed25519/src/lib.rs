//! Ed25519 verification under ZIP-215 rules for EchoNet nodes (a Node-API addon).
//!
//! Every node must accept exactly the same event signatures, whether it checks them one at a
//! time or in a batch: `ed25519-zebra` gives that guarantee (ZIP-215), and batch verification
//! costs about half of a single one per signature.

use ed25519_zebra::{batch, Signature, VerificationKey, VerificationKeyBytes};
use napi::bindgen_prelude::{Buffer, Uint8Array};
use napi_derive::napi;

const PUB: usize = 32;
const SIG: usize = 64;
const HEADER: usize = PUB + SIG + 4;

fn verify_one(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let (Ok(pk), Ok(sig)) = (<[u8; PUB]>::try_from(public_key), <[u8; SIG]>::try_from(signature)) else {
        return false;
    };
    match VerificationKey::try_from(VerificationKeyBytes::from(pk)) {
        Ok(vk) => vk.verify(&Signature::from(sig), message).is_ok(),
        Err(_) => false,
    }
}

/// One signature: true when it verifies for the key and message.
#[napi]
pub fn verify(public_key: Uint8Array, message: Uint8Array, signature: Uint8Array) -> bool {
    verify_one(&public_key, &message, &signature)
}

struct Item<'a> {
    public_key: [u8; PUB],
    signature: [u8; SIG],
    message: &'a [u8],
}

/// Splits `[pub 32][sig 64][len u32 LE][message]…`; None when the packing is malformed.
fn unpack(packed: &[u8]) -> Option<Vec<Item<'_>>> {
    let mut items = Vec::new();
    let mut at = 0usize;
    while at < packed.len() {
        let head = packed.get(at..at + HEADER)?;
        let len = u32::from_le_bytes(head[PUB + SIG..].try_into().ok()?) as usize;
        let message = packed.get(at + HEADER..at + HEADER + len)?;
        items.push(Item {
            public_key: head[..PUB].try_into().ok()?,
            signature: head[PUB..PUB + SIG].try_into().ok()?,
            message,
        });
        at += HEADER + len;
    }
    Some(items)
}

/// Many signatures, packed as `[pub 32][sig 64][len u32 LE][message]…`. Returns one byte per
/// item (1 = verifies, 0 = does not). The batch equation is tried first; only when it fails is
/// each signature checked alone, to name the bad ones.
#[napi]
pub fn verify_packed(packed: Uint8Array) -> napi::Result<Buffer> {
    let items = unpack(&packed).ok_or_else(|| napi::Error::from_reason("malformed packed signatures"))?;
    let mut verifier = batch::Verifier::new();
    for it in &items {
        verifier.queue((VerificationKeyBytes::from(it.public_key), Signature::from(it.signature), it.message));
    }
    let all_ok = items.is_empty() || verifier.verify(rand::thread_rng()).is_ok();
    let out: Vec<u8> = items
        .iter()
        .map(|it| u8::from(all_ok || verify_one(&it.public_key, it.message, &it.signature)))
        .collect();
    Ok(out.into())
}
