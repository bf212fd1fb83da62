//! Fair shares of the open streams: answers and event streams draw from separate pools, and no
//! conversation or client address may hold more than its cap, so one client cannot take them all.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Open streams per key (`c:<conversation>`, `a:<address>`).
#[derive(Debug, Default)]
pub struct StreamCaps {
    open: Mutex<HashMap<String, usize>>,
}

/// Held for as long as the stream is open; gives its places back when dropped.
#[derive(Debug)]
pub struct CapSlot {
    caps: Arc<StreamCaps>,
    keys: Vec<String>,
}

impl StreamCaps {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place under every `(key, cap)` at once, or `None` when one of them is full (then
    /// nothing is taken).
    pub fn take(self: &Arc<Self>, wanted: &[(String, usize)]) -> Option<CapSlot> {
        let mut open = self.lock();
        if wanted
            .iter()
            .any(|(k, cap)| open.get(k).copied().unwrap_or(0) >= *cap)
        {
            return None;
        }
        for (k, _) in wanted {
            *open.entry(k.clone()).or_insert(0) += 1;
        }
        Some(CapSlot {
            caps: self.clone(),
            keys: wanted.iter().map(|(k, _)| k.clone()).collect(),
        })
    }

    /// Keys holding streams now (for tests and metrics).
    pub fn holders(&self) -> usize {
        self.lock().len()
    }
}

impl Drop for CapSlot {
    fn drop(&mut self) {
        let mut open = self.caps.lock();
        for k in &self.keys {
            if let Some(n) = open.get_mut(k) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    open.remove(k);
                }
            }
        }
    }
}

/// The keys of a customer's stream.
pub fn customer_keys(
    conversation: &str,
    per_conversation: usize,
    address: IpAddr,
    per_address: usize,
) -> [(String, usize); 2] {
    [
        (format!("c:{conversation}"), per_conversation),
        (format!("a:{}", address.to_canonical()), per_address),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_conversation_or_address_cannot_hold_more_than_its_cap() {
        let caps = Arc::new(StreamCaps::default());
        let a: IpAddr = "203.0.113.7".parse().unwrap();
        let b: IpAddr = "203.0.113.8".parse().unwrap();
        let held: Vec<CapSlot> = (0..4)
            .map(|_| caps.take(&customer_keys("c_1", 4, a, 6)).unwrap())
            .collect();
        assert!(
            caps.take(&customer_keys("c_1", 4, a, 6)).is_none(),
            "conversation full"
        );
        assert!(
            caps.take(&customer_keys("c_1", 4, b, 6)).is_none(),
            "from anywhere"
        );
        let two: Vec<CapSlot> = (0..2)
            .map(|_| caps.take(&customer_keys("c_2", 4, a, 6)).unwrap())
            .collect();
        assert!(
            caps.take(&customer_keys("c_3", 4, a, 6)).is_none(),
            "address full"
        );
        // A refused request took nothing: c_3 from another address still opens.
        let other = caps.take(&customer_keys("c_3", 4, b, 6)).unwrap();
        drop(held);
        caps.take(&customer_keys("c_1", 4, a, 6)).unwrap();
        drop(two);
        drop(other);
        assert_eq!(caps.holders(), 0, "every place given back");
    }
}
