//! The places a connection holds while the relay server accepts it
//! (SPEC.md 12.2): one of the pending places, which go to newcomers when
//! all are taken, and its source's connection and pending places.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// The source a connection is counted against: its IPv4 address, or the
/// /64 of its IPv6 address (one host usually has a whole /64).
pub(super) fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
        v4 => v4,
    }
}

/// How many of something each source holds, within a cap.
#[derive(Clone, Default)]
pub(super) struct PerSource(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One of a source's places; given back when dropped.
pub(super) struct SourceSlot {
    counts: PerSource,
    pub(super) source: IpAddr,
}

impl PerSource {
    pub(super) fn take(&self, source: IpAddr, max: usize) -> Option<SourceSlot> {
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(source).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(SourceSlot {
            counts: self.clone(),
            source,
        })
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.source) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.source);
            }
        }
    }
}

/// The connections before their WebSocket or answer, by age: when every
/// place is taken, a newcomer takes the oldest's (SPEC.md 12.2).
#[derive(Clone)]
pub(super) struct PendingPlaces {
    held: Arc<Mutex<BTreeMap<u64, oneshot::Sender<()>>>>,
    max: usize,
}

/// One connection's pending place; given back when dropped. `evicted`
/// fires when a newcomer took it.
pub(super) struct PendingPlace {
    places: PendingPlaces,
    id: u64,
    pub(super) evicted: oneshot::Receiver<()>,
}

impl PendingPlaces {
    pub(super) fn new(max: usize) -> Self {
        PendingPlaces {
            held: Arc::default(),
            max: max.max(1),
        }
    }

    /// A place for connection `id` (newer than all before it), taken from
    /// the oldest if all are held.
    pub(super) fn take(&self, id: u64) -> PendingPlace {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        while held.len() >= self.max {
            match held.pop_first() {
                Some((_, oldest)) => {
                    let _ = oldest.send(());
                }
                None => break,
            }
        }
        let (tx, evicted) = oneshot::channel();
        held.insert(id, tx);
        PendingPlace {
            places: self.clone(),
            id,
            evicted,
        }
    }
}

impl Drop for PendingPlace {
    fn drop(&mut self) {
        let mut held = self.places.held.lock().unwrap_or_else(|e| e.into_inner());
        held.remove(&self.id);
    }
}

/// The places a connection holds: a pending one (given back once it is a
/// WebSocket or answered) and its source's connection place.
pub(super) struct Places {
    pub(super) pending: PendingPlace,
    pub(super) pending_from_source: SourceSlot,
    pub(super) from_source: SourceSlot,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Per-source limits group IPv6 by /64 and see IPv4-mapped
    /// addresses as IPv4; places come back when dropped.
    #[test]
    fn sources_and_their_places() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(source_of(a), source_of(b));
        assert_ne!(source_of(a), source_of(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(source_of(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
        let counts = PerSource::default();
        let first = counts.take(source_of(a), 1);
        assert!(first.is_some());
        assert!(counts.take(source_of(b), 1).is_none());
        assert!(counts.take(source_of(c), 1).is_some());
        drop(first);
        assert!(counts.take(source_of(b), 1).is_some());
    }
}
