//! Running the same work for several items at once: one scoped thread per
//! item (nodes, checks), or at most a bound of them at a time (the seats of
//! a class); results in the items' order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::Result;

/// Run `work` for every item at once, one thread each; the results come
/// back in the order of `items`, and the first error (in that order) wins.
pub fn in_parallel<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> Result<R> + Sync) -> Result<Vec<R>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = items.iter().map(|item| scope.spawn(|| work(item))).collect();
        handles.into_iter().map(|handle| handle.join().expect("worker thread panicked")).collect()
    })
}

/// Run `work` for every item, at most `bound` at a time (at least one):
/// `bound` threads each take the next item not yet started. Every item runs
/// whatever the others return, since each result (an error included) is
/// the item's own; they come back in the order of `items`.
pub fn in_parallel_bounded<T: Sync, R: Send>(items: &[T], bound: usize, work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    let worker = || loop {
        let index = next.fetch_add(1, Ordering::SeqCst);
        let Some(item) = items.get(index) else { break };
        let result = work(item);
        results.lock().unwrap_or_else(|poisoned| poisoned.into_inner())[index] = Some(result);
    };
    std::thread::scope(|scope| {
        for _ in 0..bound.clamp(1, items.len().max(1)) {
            scope.spawn(worker);
        }
    });
    let results = results.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
    results.into_iter().map(|result| result.expect("every item ran")).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;
    use std::time::Duration;

    use anyhow::bail;

    use super::*;

    #[test]
    fn results_come_back_in_the_order_of_the_items() {
        // The first item finishes only after all the others.
        let (done, others_done) = std::sync::mpsc::channel();
        let others_done = Mutex::new(others_done);
        let results = in_parallel(&[0, 1, 2, 3], |item| {
            if *item == 0 {
                let others_done = others_done.lock().unwrap();
                for _ in 1..4 {
                    others_done.recv_timeout(Duration::from_secs(10)).unwrap();
                }
            } else {
                done.send(()).unwrap();
            }
            Ok(item * 10)
        })
        .unwrap();
        assert_eq!(results, vec![0, 10, 20, 30]);
    }

    #[test]
    fn every_item_runs_at_once() {
        // Each waits for all the others: one item at a time would never get past it.
        let items = [1, 2, 3, 4];
        let everyone = Barrier::new(items.len());
        let results = in_parallel(&items, |item| {
            everyone.wait();
            Ok(*item)
        })
        .unwrap();
        assert_eq!(results, items);
    }

    #[test]
    fn the_first_error_in_item_order_wins_and_every_item_still_runs() {
        let ran = Mutex::new(0);
        let error = in_parallel(&["node1", "node2", "node3"], |node| {
            *ran.lock().unwrap() += 1;
            if *node == "node1" {
                std::thread::sleep(Duration::from_millis(20));
            }
            if *node != "node3" {
                bail!("{node} failed");
            }
            Ok(())
        })
        .unwrap_err();
        assert_eq!(error.to_string(), "node1 failed");
        assert_eq!(*ran.lock().unwrap(), 3);
    }

    #[test]
    fn no_items_is_no_work() {
        let results: Vec<()> = in_parallel(&[] as &[u8], |_| panic!("nothing to run")).unwrap();
        assert!(results.is_empty());
    }

    /// How many of `items` ran at once at most, each busy for a moment.
    fn most_at_once(items: usize, bound: usize) -> usize {
        let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let items: Vec<usize> = (0..items).collect();
        in_parallel_bounded(&items, bound, |_| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(30));
            running.fetch_sub(1, Ordering::SeqCst);
        });
        most.into_inner()
    }

    #[test]
    fn no_more_than_the_bound_run_at_once() {
        assert_eq!(most_at_once(8, 1), 1);
        assert!(most_at_once(8, 3) <= 3);
        // Zero would run nothing: it means one at a time.
        assert_eq!(most_at_once(4, 0), 1);
    }

    #[test]
    fn up_to_the_bound_run_together() {
        // Each pair waits for its partner: one at a time would never get past it.
        let together = Barrier::new(2);
        let results = in_parallel_bounded(&[1, 2, 3, 4], 2, |item| {
            together.wait();
            *item
        });
        assert_eq!(results, [1, 2, 3, 4]);
    }

    #[test]
    fn every_item_has_its_own_result_in_item_order() {
        let results = in_parallel_bounded(&["s01", "s02", "s03", "s04"], 2, |seat| {
            if *seat == "s01" {
                // The first finishes last.
                std::thread::sleep(Duration::from_millis(40));
            }
            match *seat {
                "s02" => Err(format!("{seat} failed")),
                _ => Ok(seat.to_uppercase()),
            }
        });
        assert_eq!(
            results,
            [Ok("S01".to_string()), Err("s02 failed".to_string()), Ok("S03".to_string()), Ok("S04".to_string())]
        );
        let nothing: Vec<u8> = in_parallel_bounded(&[] as &[u8], 4, |_| panic!("nothing to run"));
        assert!(nothing.is_empty());
    }
}
