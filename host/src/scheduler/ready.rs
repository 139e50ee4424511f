//! Ready steps in priority order, with pools: a step whose pool is full
//! waits in that pool's own queue and comes back when a slot frees.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

type Entry = (u64, Reverse<usize>);

/// Ready steps by priority (highest first, then plan order).
pub struct ReadyQueue {
    heap: BinaryHeap<Entry>,
    /// Per pool: steps popped while the pool was full.
    blocked: Vec<BinaryHeap<Entry>>,
    /// Free slots per pool.
    free: Vec<usize>,
}

impl ReadyQueue {
    pub fn new(pool_capacities: &[usize]) -> Self {
        Self {
            heap: BinaryHeap::new(),
            blocked: pool_capacities.iter().map(|_| BinaryHeap::new()).collect(),
            free: pool_capacities.to_vec(),
        }
    }

    pub fn push(&mut self, step: usize, priority: u64) {
        self.heap.push((priority, Reverse(step)));
    }

    /// The best ready step whose pool (if any) has a free slot, taking that
    /// slot. `pool_of` gives a step's pool; `still_ready` drops stale entries.
    pub fn pop(
        &mut self,
        pool_of: impl Fn(usize) -> Option<usize>,
        still_ready: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        while let Some(entry) = self.heap.pop() {
            let step = entry.1.0;
            if !still_ready(step) {
                continue;
            }
            match pool_of(step) {
                Some(p) if self.free[p] == 0 => self.blocked[p].push(entry),
                Some(p) => {
                    self.free[p] -= 1;
                    return Some(step);
                }
                None => return Some(step),
            }
        }
        None
    }

    /// Returns a slot to `pool`; its best blocked step is ready again.
    pub fn release(&mut self, pool: usize) {
        self.free[pool] += 1;
        if let Some(e) = self.blocked[pool].pop() {
            self.heap.push(e);
        }
    }

    /// Free slots of `pool`.
    pub fn free(&self, pool: usize) -> usize {
        self.free[pool]
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
        let order: Vec<_> = std::iter::from_fn(|| q.pop(|_| None, |_| true)).collect();
        assert_eq!(order, [1, 2, 0]);
    }

    #[test]
    fn a_full_pool_holds_its_steps_back() {
        let mut q = ReadyQueue::new(&[1]);
        let pool = |s: usize| (s < 2).then_some(0);
        q.push(0, 9);
        q.push(1, 8);
        q.push(2, 1);
        assert_eq!(q.pop(pool, |_| true), Some(0));
        // 1 needs the pool (full): the free step 2 goes first.
        assert_eq!(q.pop(pool, |_| true), Some(2));
        assert_eq!(q.pop(pool, |_| true), None);
        q.release(0);
        assert_eq!(q.pop(pool, |_| true), Some(1));
    }
}
