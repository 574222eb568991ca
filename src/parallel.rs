//! Running the same work for several items at once (nodes, checks): one
//! scoped thread per item, or a bounded number of them, results in the
//! items' order.

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

/// Like [`in_parallel`], with at most `limit` items running at once (at
/// least one): for work whose cost is this host's CPU, where starting all of
/// it at once only makes every item finish late (unpacking images).
pub fn in_parallel_at_most<T: Sync, R: Send>(
    items: &[T],
    limit: usize,
    work: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<R>>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..limit.clamp(1, items.len().max(1)) {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(index) else { break };
                let result = work(item);
                *results[index].lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(result);
            });
        }
    });
    results
        .into_iter()
        .map(|slot| {
            let result = slot.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
            result.expect("every item ran")
        })
        .collect()
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
    fn at_most_the_limit_runs_at_once_and_results_keep_their_order() {
        let (running, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let items: Vec<usize> = (0..9).collect();
        let results = in_parallel_at_most(&items, 3, |item| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(20));
            running.fetch_sub(1, Ordering::SeqCst);
            Ok(item * 10)
        })
        .unwrap();
        assert_eq!(results, (0..9).map(|item| item * 10).collect::<Vec<_>>());
        assert_eq!(most.load(Ordering::SeqCst), 3, "three at a time, never more, never fewer");
        let error = in_parallel_at_most(&["a", "b", "c"], 2, |item| match *item {
            "a" => Ok(()),
            other => bail!("{other} failed"),
        })
        .unwrap_err();
        assert_eq!(error.to_string(), "b failed", "the first error in item order");
        assert!(in_parallel_at_most(&[] as &[u8], 0, |_| -> Result<()> { panic!("nothing to run") })
            .unwrap()
            .is_empty());
    }

    #[test]
    fn no_items_is_no_work() {
        let results: Vec<()> = in_parallel(&[] as &[u8], |_| panic!("nothing to run")).unwrap();
        assert!(results.is_empty());
    }
}
