//! Random identifiers (token `jti`s, request ids), cheap enough for every
//! request.
//!
//! The bits come from aws-lc's DRBG, drawn 64 identifiers at a time into a
//! per-thread buffer (one generator call per 64 identifiers instead of one
//! per identifier: a call costs about as much as the rest of a request id
//! does); each identifier's bytes are wiped from the buffer when taken.

/// 128 random bits.
pub fn bits128() -> [u8; 16] {
    const ID: usize = 16;
    const BATCH: usize = 64 * ID;
    thread_local! {
        static POOL: std::cell::RefCell<([u8; BATCH], usize)> =
            const { std::cell::RefCell::new(([0; BATCH], BATCH)) };
    }
    POOL.with_borrow_mut(|(buf, used)| {
        if *used == BATCH {
            aws_lc_rs::rand::fill(buf).expect("the system RNG works");
            *used = 0;
        }
        let mut out = [0u8; ID];
        let id = &mut buf[*used..*used + ID];
        out.copy_from_slice(id);
        id.fill(0);
        *used += ID;
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_do_not_repeat_across_batches_and_threads() {
        let mut ids: std::collections::HashSet<[u8; 16]> = (0..1000).map(|_| bits128()).collect();
        let other = std::thread::spawn(|| (0..200).map(|_| bits128()).collect::<Vec<_>>())
            .join()
            .expect("thread");
        ids.extend(other);
        assert_eq!(ids.len(), 1200);
        assert!(!ids.contains(&[0u8; 16]), "a wiped slot was handed out");
    }
}
