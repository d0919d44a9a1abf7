//! Run-scoped, single-flight memoisation: the first caller of a key computes the value, concurrent
//! callers wait for it, later callers get a clone. This is how a group used by several workspaces, or a
//! Key Vault secret shared by them, is read once per run.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::OnceCell;

pub struct Memo<K, V> {
    cells: Mutex<HashMap<K, Arc<OnceCell<V>>>>,
}

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Memo {
            cells: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V: Clone> Memo<K, V> {
    /// The value for `key`, computed by `init` if nobody has yet.
    pub async fn get_or<F: Future<Output = V>>(&self, key: K, init: impl FnOnce() -> F) -> V {
        let cell = {
            let mut cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(cells.entry(key).or_default())
        };
        cell.get_or_init(init).await.clone()
    }

    /// Forgets every value (callers holding one keep theirs).
    pub fn clear(&self) {
        let mut cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        *cells = HashMap::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_callers_of_one_key_share_one_computation() {
        let memo: Memo<&str, usize> = Memo::default();
        let calls = AtomicUsize::new(0);
        let compute = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
            7
        };
        let (a, b) = tokio::join!(memo.get_or("g", compute), memo.get_or("g", compute));
        assert_eq!((a, b), (7, 7));
        assert_eq!(memo.get_or("g", compute).await, 7);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(memo.get_or("h", compute).await, 7);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
