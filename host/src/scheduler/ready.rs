//! Ready steps in priority order, with pools: a step whose pool is full
//! waits in that pool's own queue and comes back when a slot frees.
//!
//! A pool slot is an owned permit of the pool's semaphore, handed out with
//! the step by [`ReadyQueue::pop`] and given back by dropping it: nothing
//! counts slots by hand.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

type Entry = (u64, Reverse<usize>);

/// Ready steps by priority (highest first, then plan order).
pub struct ReadyQueue {
    heap: BinaryHeap<Entry>,
    /// Per pool: steps popped while the pool was full.
    blocked: Vec<BinaryHeap<Entry>>,
    /// Per pool: its slots.
    pools: Vec<Arc<Semaphore>>,
}

/// A slot of a pool, held by the step that runs in it; dropping it frees it.
pub type PoolSlot = OwnedSemaphorePermit;

impl ReadyQueue {
    pub fn new(pool_capacities: &[usize]) -> Self {
        Self {
            heap: BinaryHeap::new(),
            blocked: pool_capacities.iter().map(|_| BinaryHeap::new()).collect(),
            pools: pool_capacities.iter().map(|&c| Arc::new(Semaphore::new(c))).collect(),
        }
    }

    pub fn push(&mut self, step: usize, priority: u64) {
        self.heap.push((priority, Reverse(step)));
    }

    /// The best ready step whose pool (if any) has a free slot, with that
    /// slot. `pool_of` gives a step's pool; `still_ready` drops stale entries.
    pub fn pop(
        &mut self,
        pool_of: impl Fn(usize) -> Option<usize>,
        still_ready: impl Fn(usize) -> bool,
    ) -> Option<(usize, Option<PoolSlot>)> {
        self.unblock(&still_ready);
        while let Some(entry) = self.heap.pop() {
            let step = entry.1.0;
            if !still_ready(step) {
                continue;
            }
            match pool_of(step) {
                Some(p) => match self.pools[p].clone().try_acquire_owned() {
                    Ok(slot) => return Some((step, Some(slot))),
                    Err(_) => self.blocked[p].push(entry),
                },
                None => return Some((step, None)),
            }
        }
        None
    }

    /// Brings back, for each pool with free slots, as many of its best
    /// blocked steps as it has free slots.
    fn unblock(&mut self, still_ready: &impl Fn(usize) -> bool) {
        for (p, blocked) in self.blocked.iter_mut().enumerate() {
            let mut free = self.pools[p].available_permits();
            while free > 0
                && let Some(entry) = blocked.pop()
            {
                if still_ready(entry.1.0) {
                    self.heap.push(entry);
                    free -= 1;
                }
            }
        }
    }

    /// Free slots of `pool`.
    pub fn free(&self, pool: usize) -> usize {
        self.pools[pool].available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highest_priority_first_then_plan_order() {
        let mut q = ReadyQueue::new(&[]);
        q.push(0, 1);
        q.push(1, 5);
        q.push(2, 5);
        let order: Vec<_> = std::iter::from_fn(|| q.pop(|_| None, |_| true).map(|(s, _)| s)).collect();
        assert_eq!(order, [1, 2, 0]);
    }

    #[test]
    fn a_full_pool_holds_its_steps_back_until_its_slot_is_dropped() {
        let mut q = ReadyQueue::new(&[1]);
        let pool = |s: usize| (s < 2).then_some(0);
        q.push(0, 9);
        q.push(1, 8);
        q.push(2, 1);
        let (first, slot) = q.pop(pool, |_| true).expect("step 0");
        assert_eq!(first, 0);
        assert_eq!(q.free(0), 0);
        // 1 needs the pool (full): the free step 2 goes first.
        assert_eq!(q.pop(pool, |_| true).map(|(s, _)| s), Some(2));
        assert!(q.pop(pool, |_| true).is_none());
        drop(slot);
        assert_eq!(q.free(0), 1);
        assert_eq!(q.pop(pool, |_| true).map(|(s, _)| s), Some(1));
    }
}
