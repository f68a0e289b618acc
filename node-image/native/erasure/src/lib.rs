//! The per-byte work of EchoNet's Reed-Solomon codec as a Node-API addon: multiply a GF(2^8)
//! coefficient matrix (polynomial 0x11d) by a column of shards,
//!
//!   outputs[r][i] = XOR over c of matrix[r][c] · inputs[c][i]
//!
//! directly on the JavaScript buffers (no copies). Written by hand like the wasm kernel it backs up
//! (node-image/src/storage/erasure): the codec's matrices stay in TypeScript, only this loop is here.
//!
//! Three paths, picked at run time from what the CPU has:
//!  - `gfni-avx512`: GF2P8AFFINEQB multiplies 64 bytes by a constant in one instruction, given the
//!    8×8 bit matrix of "multiply by c" (any polynomial works, unlike GF2P8MULB's fixed 0x11b);
//!  - `gfni-avx2`: the same on 32-byte vectors;
//!  - `avx2`: the split-nibble PSHUFB table lookup of ISA-L and klauspost/reedsolomon.
//! Bytes past the last full vector are done with a multiplication table. Every path gives the same
//! bytes (the tests compare them with each other and with the wasm and scalar kernels).

use napi::bindgen_prelude::Uint8Array;
use napi_derive::napi;

const fn gf_tables() -> ([u8; 512], [u8; 256]) {
    let mut exp = [0u8; 512];
    let mut log = [0u8; 256];
    let mut x: u32 = 1;
    let mut i = 0;
    while i < 255 {
        exp[i] = x as u8;
        exp[i + 255] = x as u8;
        log[x as usize] = i as u8;
        x <<= 1;
        if x & 0x100 != 0 {
            x ^= 0x11d;
        }
        i += 1;
    }
    (exp, log)
}

const TABLES: ([u8; 512], [u8; 256]) = gf_tables();

fn gf_mul(a: u8, b: u8) -> u8 {
    if a == 0 || b == 0 {
        return 0;
    }
    TABLES.0[TABLES.1[a as usize] as usize + TABLES.1[b as usize] as usize]
}

/// The 8×8 bit matrix of x ↦ c·x as GF2P8AFFINEQB reads it: result bit i is the parity of
/// (byte 7−i of the matrix) AND x, so bit j of that byte is bit i of c·2^j.
fn affine_matrix(c: u8) -> u64 {
    let mut m = 0u64;
    for j in 0..8 {
        let p = gf_mul(c, 1 << j);
        for i in 0..8 {
            if (p >> i) & 1 == 1 {
                m |= 1u64 << ((7 - i) * 8 + j);
            }
        }
    }
    m
}

/// Products of c with every low nibble, then with every high nibble (PSHUFB tables).
fn nibble_tables(c: u8) -> [u8; 32] {
    let mut t = [0u8; 32];
    for n in 0..16u8 {
        t[n as usize] = gf_mul(c, n);
        t[16 + n as usize] = gf_mul(c, n << 4);
    }
    t
}

struct Job<'a> {
    coef: &'a [u8],
    rows: usize,
    cols: usize,
    ins: Vec<*const u8>,
    outs: Vec<*mut u8>,
    len: usize,
    /** Where the vector loops start: the first output's first 64-byte boundary (see `apply`). */
    start: usize,
}

/// Bytes [from, to) of every output with the multiplication table.
fn tail(j: &Job, from: usize, to: usize) {
    for r in 0..j.rows {
        for i in from..to {
            let mut acc = 0u8;
            for c in 0..j.cols {
                // SAFETY: i < len, the length of every buffer (checked in `apply`).
                acc ^= gf_mul(j.coef[r * j.cols + c], unsafe { *j.ins[c].add(i) });
            }
            unsafe { *j.outs[r].add(i) = acc };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{affine_matrix, nibble_tables, Job};
    use std::arch::x86_64::*;

    /// Largest group of outputs computed in one pass over the inputs (accumulators in registers).
    const GROUP: usize = 8;
    /// How far ahead of the loads the inputs are prefetched (a prefetch never faults).
    const PREFETCH: usize = 2048;
    /// Shard length from which outputs are written with non-temporal stores (several times L2).
    const STREAM_BYTES: usize = 4 * 1024 * 1024;

    macro_rules! groups {
        ($name:ident, $body:ident) => {
            pub unsafe fn $name(j: &Job) -> usize {
                let mut done = 0;
                let mut r0 = 0;
                while r0 < j.rows {
                    let g = (j.rows - r0).min(GROUP);
                    done = match g {
                        1 => $body::<1>(j, r0),
                        2 => $body::<2>(j, r0),
                        3 => $body::<3>(j, r0),
                        4 => $body::<4>(j, r0),
                        5 => $body::<5>(j, r0),
                        6 => $body::<6>(j, r0),
                        7 => $body::<7>(j, r0),
                        _ => $body::<8>(j, r0),
                    };
                    r0 += g;
                }
                done
            }
        };
    }

    #[target_feature(enable = "avx512f,avx512bw,gfni")]
    unsafe fn gfni512_group<const G: usize>(j: &Job, r0: usize) -> usize {
        let mats: Vec<__m512i> = (0..j.cols * G)
            .map(|k| _mm512_set1_epi64(affine_matrix(j.coef[(r0 + k % G) * j.cols + k / G]) as i64))
            .collect();
        let end = j.start + (j.len - j.start) / 64 * 64;
        let mut pos = j.start;
        // Outputs far larger than the caches go around them (non-temporal stores): no line is read
        // for ownership before it is overwritten, which saves a third of the memory traffic.
        // Smaller ones stay cached for whoever reads them next (the encoder hashes its parity).
        let stream = j.len >= STREAM_BYTES && (0..G).all(|o| (j.outs[r0 + o] as usize + pos) % 64 == 0);
        // Two vectors per input per step: twice the loads in flight per stream.
        while pos + 128 <= end {
            let mut acc = [_mm512_setzero_si512(); G];
            let mut acc2 = [_mm512_setzero_si512(); G];
            for c in 0..j.cols {
                let p = j.ins[c].add(pos);
                _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(PREFETCH) as *const i8);
                _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(PREFETCH + 64) as *const i8);
                let x = _mm512_loadu_si512(p as *const _);
                let y = _mm512_loadu_si512(p.add(64) as *const _);
                for o in 0..G {
                    let mat = mats[c * G + o];
                    acc[o] = _mm512_xor_si512(acc[o], _mm512_gf2p8affine_epi64_epi8::<0>(x, mat));
                    acc2[o] = _mm512_xor_si512(acc2[o], _mm512_gf2p8affine_epi64_epi8::<0>(y, mat));
                }
            }
            for o in 0..G {
                let q = j.outs[r0 + o].add(pos);
                if stream {
                    _mm512_stream_si512(q as *mut _, acc[o]);
                    _mm512_stream_si512(q.add(64) as *mut _, acc2[o]);
                } else {
                    _mm512_storeu_si512(q as *mut _, acc[o]);
                    _mm512_storeu_si512(q.add(64) as *mut _, acc2[o]);
                }
            }
            pos += 128;
        }
        if stream {
            _mm_sfence();
        }
        while pos < end {
            let mut acc = [_mm512_setzero_si512(); G];
            for c in 0..j.cols {
                let x = _mm512_loadu_si512(j.ins[c].add(pos) as *const _);
                for o in 0..G {
                    acc[o] = _mm512_xor_si512(acc[o], _mm512_gf2p8affine_epi64_epi8::<0>(x, mats[c * G + o]));
                }
            }
            for o in 0..G {
                _mm512_storeu_si512(j.outs[r0 + o].add(pos) as *mut _, acc[o]);
            }
            pos += 64;
        }
        end
    }
    groups!(gfni512, gfni512_group);

    #[target_feature(enable = "avx,avx2,gfni")]
    unsafe fn gfni256_group<const G: usize>(j: &Job, r0: usize) -> usize {
        let mats: Vec<__m256i> = (0..j.cols * G)
            .map(|k| _mm256_set1_epi64x(affine_matrix(j.coef[(r0 + k % G) * j.cols + k / G]) as i64))
            .collect();
        let end = j.start + (j.len - j.start) / 32 * 32;
        let mut pos = j.start;
        while pos < end {
            let mut acc = [_mm256_setzero_si256(); G];
            for c in 0..j.cols {
                let x = _mm256_loadu_si256(j.ins[c].add(pos) as *const _);
                for o in 0..G {
                    acc[o] = _mm256_xor_si256(acc[o], _mm256_gf2p8affine_epi64_epi8::<0>(x, mats[c * G + o]));
                }
            }
            for o in 0..G {
                _mm256_storeu_si256(j.outs[r0 + o].add(pos) as *mut _, acc[o]);
            }
            pos += 32;
        }
        end
    }
    groups!(gfni256, gfni256_group);

    #[target_feature(enable = "avx,avx2")]
    unsafe fn avx2_group<const G: usize>(j: &Job, r0: usize) -> usize {
        // (lo, hi) table pairs, input-major like the matrices above.
        let tabs: Vec<(__m256i, __m256i)> = (0..j.cols * G)
            .map(|k| {
                let t = nibble_tables(j.coef[(r0 + k % G) * j.cols + k / G]);
                let lo = _mm_loadu_si128(t.as_ptr() as *const _);
                let hi = _mm_loadu_si128(t.as_ptr().add(16) as *const _);
                (_mm256_broadcastsi128_si256(lo), _mm256_broadcastsi128_si256(hi))
            })
            .collect();
        let mask = _mm256_set1_epi8(0x0f);
        let end = j.start + (j.len - j.start) / 32 * 32;
        let mut pos = j.start;
        while pos < end {
            let mut acc = [_mm256_setzero_si256(); G];
            for c in 0..j.cols {
                let x = _mm256_loadu_si256(j.ins[c].add(pos) as *const _);
                let lo = _mm256_and_si256(x, mask);
                let hi = _mm256_and_si256(_mm256_srli_epi64::<4>(x), mask);
                for o in 0..G {
                    let (tl, th) = tabs[c * G + o];
                    let p = _mm256_xor_si256(_mm256_shuffle_epi8(tl, lo), _mm256_shuffle_epi8(th, hi));
                    acc[o] = _mm256_xor_si256(acc[o], p);
                }
            }
            for o in 0..G {
                _mm256_storeu_si256(j.outs[r0 + o].add(pos) as *mut _, acc[o]);
            }
            pos += 32;
        }
        end
    }
    groups!(avx2, avx2_group);

    pub fn available() -> Vec<&'static str> {
        let mut out = Vec::new();
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw") && is_x86_feature_detected!("gfni")
        {
            out.push("gfni-avx512");
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("gfni") {
            out.push("gfni-avx2");
        }
        if is_x86_feature_detected!("avx2") {
            out.push("avx2");
        }
        out
    }
}

/// The SIMD paths this CPU can run, fastest first (empty: use the wasm kernel).
#[napi]
pub fn paths() -> Vec<String> {
    #[cfg(target_arch = "x86_64")]
    return x86::available().into_iter().map(String::from).collect();
    #[cfg(not(target_arch = "x86_64"))]
    return Vec::new();
}

/// outputs[r] = XOR over c of coefficients[r·cols + c] · inputs[c], on `path` (one of `paths()`).
/// Every input and output must have the same length; outputs must not alias inputs.
#[napi]
pub fn apply(
    path: String,
    coefficients: Uint8Array,
    rows: u32,
    cols: u32,
    inputs: Vec<Uint8Array>,
    mut outputs: Vec<Uint8Array>,
) -> napi::Result<()> {
    let (rows, cols) = (rows as usize, cols as usize);
    if coefficients.len() != rows * cols || inputs.len() != cols || outputs.len() != rows || cols == 0 {
        return Err(napi::Error::from_reason("matrix and shard counts disagree"));
    }
    let len = outputs.first().map_or(0, |o| o.len());
    if inputs.iter().any(|s| s.len() != len) || outputs.iter().any(|s| s.len() != len) {
        return Err(napi::Error::from_reason("shards differ in length"));
    }
    let outs: Vec<*mut u8> = outputs.iter_mut().map(|s| s.as_mut_ptr()).collect();
    // Large JS buffers usually sit 16 bytes past a page boundary (the allocator's header): a
    // 64-byte vector access there spans two cache lines, which halves throughput. Starting the
    // vector loop where the first output is 64-byte aligned fixes that for every buffer that
    // shares its alignment (all of them, when they come from the same allocator).
    let start = ((64 - (outs.first().map_or(0, |p| *p as usize) % 64)) % 64).min(len);
    let job = Job {
        coef: &coefficients,
        rows,
        cols,
        ins: inputs.iter().map(|s| s.as_ptr()).collect(),
        outs,
        len,
        start,
    };
    if len == 0 || rows == 0 {
        return Ok(());
    }
    if !paths().contains(&path) {
        return Err(napi::Error::from_reason(format!("this CPU cannot run the {path} kernel")));
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the path's CPU features were just checked; every pointer is valid for `len` bytes.
    let done = unsafe {
        match path.as_str() {
            "gfni-avx512" => x86::gfni512(&job),
            "gfni-avx2" => x86::gfni256(&job),
            _ => x86::avx2(&job),
        }
    };
    #[cfg(not(target_arch = "x86_64"))]
    let done = start;
    tail(&job, 0, start);
    tail(&job, done, len);
    Ok(())
}
