//! The key-value store the state machine runs over, and the write overlay
//! that makes a transaction atomic.

use std::collections::BTreeMap;
use std::ops::Bound;

/// Read access to the chain state: byte keys to byte values.
pub trait KvStore {
    /// The value under `key`, if any.
    fn get(&self, key: &[u8]) -> Option<Vec<u8>>;
    /// Every entry whose key starts with `prefix`, sorted by key.
    fn scan_prefix(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)>;
    /// Every entry with `from <= key < to`, sorted by key (empty when
    /// `from >= to`).
    fn scan_range(&self, from: &[u8], to: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)>;
}

/// Write access to the chain state.
pub trait KvStoreMut: KvStore {
    /// Sets `key` to `value`.
    fn set(&mut self, key: Vec<u8>, value: Vec<u8>);
    /// Removes `key` (a no-op when absent).
    fn delete(&mut self, key: &[u8]);
}

impl KvStore for BTreeMap<Vec<u8>, Vec<u8>> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        BTreeMap::get(self, key).cloned()
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn scan_range(&self, from: &[u8], to: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        if from >= to {
            return Vec::new();
        }
        self.range::<[u8], _>((Bound::Included(from), Bound::Excluded(to)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

impl KvStoreMut for BTreeMap<Vec<u8>, Vec<u8>> {
    fn set(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.insert(key, value);
    }

    fn delete(&mut self, key: &[u8]) {
        self.remove(key);
    }
}

/// Pending writes over a read-only base: reads see the writes, nothing
/// reaches the base until [`Overlay::into_writes`] is applied. A failed
/// transaction drops its overlay, so it writes nothing at all.
///
/// ```
/// use std::collections::BTreeMap;
/// use credit_chain::app::{KvStore, KvStoreMut, Overlay};
/// let mut base: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
/// base.set(b"a".to_vec(), b"1".to_vec());
/// let mut overlay = Overlay::new(&base);
/// overlay.set(b"b".to_vec(), b"2".to_vec());
/// overlay.delete(b"a");
/// assert_eq!(overlay.get(b"a"), None);
/// assert_eq!(KvStore::get(&base, b"a"), Some(b"1".to_vec()));
/// let writes = overlay.into_writes();
/// writes.apply(&mut base);
/// assert_eq!(base.scan_prefix(b""), vec![(b"b".to_vec(), b"2".to_vec())]);
/// ```
pub struct Overlay<'a, S: KvStore + ?Sized> {
    base: &'a S,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'a, S: KvStore + ?Sized> Overlay<'a, S> {
    /// An overlay with no writes yet.
    pub fn new(base: &'a S) -> Overlay<'a, S> {
        Overlay {
            base,
            writes: BTreeMap::new(),
        }
    }

    /// The pending writes, to apply to the base.
    pub fn into_writes(self) -> Writes {
        Writes(self.writes)
    }
}

impl<S: KvStore + ?Sized> KvStore for Overlay<'_, S> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self.writes.get(key) {
            Some(written) => written.clone(),
            None => self.base.get(key),
        }
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> =
            self.base.scan_prefix(prefix).into_iter().collect();
        for (k, v) in self
            .writes
            .range::<[u8], _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
        {
            match v {
                Some(v) => merged.insert(k.clone(), v.clone()),
                None => merged.remove(k),
            };
        }
        merged.into_iter().collect()
    }

    fn scan_range(&self, from: &[u8], to: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        if from >= to {
            return Vec::new();
        }
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> =
            self.base.scan_range(from, to).into_iter().collect();
        for (k, v) in self
            .writes
            .range::<[u8], _>((Bound::Included(from), Bound::Excluded(to)))
        {
            match v {
                Some(v) => merged.insert(k.clone(), v.clone()),
                None => merged.remove(k),
            };
        }
        merged.into_iter().collect()
    }
}

impl<S: KvStore + ?Sized> KvStoreMut for Overlay<'_, S> {
    fn set(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }

    fn delete(&mut self, key: &[u8]) {
        self.writes.insert(key.to_vec(), None);
    }
}

/// The writes of an [`Overlay`], in key order (`None` = delete).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Writes(pub BTreeMap<Vec<u8>, Option<Vec<u8>>>);

impl Writes {
    /// Applies every write to `store`.
    pub fn apply<S: KvStoreMut + ?Sized>(self, store: &mut S) {
        for (k, v) in self.0 {
            match v {
                Some(v) => store.set(k, v),
                None => store.delete(&k),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, &str)]) -> BTreeMap<Vec<u8>, Vec<u8>> {
        entries
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn scan_prefix_is_sorted_and_bounded() {
        let m = map(&[("a/1", "x"), ("a/2", "y"), ("a0", "z"), ("b", "w")]);
        let got = m.scan_prefix(b"a/");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, b"a/1");
        assert_eq!(m.scan_prefix(b"").len(), 4);
        assert!(m.scan_prefix(b"c").is_empty());
        let got = m.scan_range(b"a/2", b"b");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, b"a/2");
        assert!(m.scan_range(b"b", b"a").is_empty());
        let mut o = Overlay::new(&m);
        o.delete(b"a/2");
        o.set(b"a/3".to_vec(), b"v".to_vec());
        let keys: Vec<Vec<u8>> = o
            .scan_range(b"a/", b"a0")
            .into_iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(keys, vec![b"a/1".to_vec(), b"a/3".to_vec()]);
    }

    #[test]
    fn overlay_merges_writes_and_deletes() {
        let base = map(&[("a/1", "x"), ("a/2", "y"), ("b", "w")]);
        let mut o = Overlay::new(&base);
        o.set(b"a/3".to_vec(), b"new".to_vec());
        o.delete(b"a/1");
        o.set(b"a/2".to_vec(), b"changed".to_vec());
        let got = o.scan_prefix(b"a/");
        assert_eq!(
            got,
            vec![
                (b"a/2".to_vec(), b"changed".to_vec()),
                (b"a/3".to_vec(), b"new".to_vec())
            ]
        );
        // Nested overlays see their parent's writes.
        let mut inner = Overlay::new(&o);
        inner.delete(b"a/3");
        assert_eq!(inner.scan_prefix(b"a/").len(), 1);
        assert_eq!(o.scan_prefix(b"a/").len(), 2);
        let writes = o.into_writes();
        let mut applied = base.clone();
        writes.apply(&mut applied);
        assert_eq!(
            applied,
            map(&[("a/2", "changed"), ("a/3", "new"), ("b", "w")])
        );
    }
}
