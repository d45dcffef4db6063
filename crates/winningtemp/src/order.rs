//! Runs the steps of a plan as soon as the steps they wait for are done, at most `limit` at a
//! time: no step waits for unrelated ones (a wave barrier would).

use std::collections::VecDeque;
use std::future::Future;

use futures::StreamExt;
use futures::stream::FuturesUnordered;

/// Runs `run(i)` for every step `i`, each after the steps `after[i]` names. Only earlier steps
/// (`j < i`) are waited for, so the order can never deadlock; put what a step needs before it.
/// Returns the results in step order.
///
/// A step's future is made only when it may start: a plan of 100,000 steps holds at most
/// `limit` of them at a time, not one for every step.
pub async fn run_after<'a, T, F, Fut>(after: &[Vec<usize>], limit: usize, run: F) -> Vec<T>
where
    T: Send + 'a,
    F: Fn(usize) -> Fut + Sync + 'a,
    Fut: Future<Output = T> + Send + 'a,
{
    let count = after.len();
    // How many earlier steps each step still waits for, and who waits for each step.
    let mut waiting: Vec<usize> = vec![0; count];
    let mut waited_by: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (i, before) in after.iter().enumerate() {
        for &j in before.iter().filter(|&&j| j < i) {
            waiting[i] += 1;
            waited_by[j].push(i);
        }
    }
    let mut ready: VecDeque<usize> = (0..count).filter(|&i| waiting[i] == 0).collect();
    let mut results: Vec<Option<T>> = (0..count).map(|_| None).collect();
    let mut running = FuturesUnordered::new();
    let run = &run;
    loop {
        while running.len() < limit.max(1)
            && let Some(i) = ready.pop_front()
        {
            running.push(async move { (i, run(i).await) });
        }
        let Some((done, out)) = running.next().await else {
            break;
        };
        results[done] = Some(out);
        for &next in &waited_by[done] {
            waiting[next] -= 1;
            if waiting[next] == 0 {
                ready.push_back(next);
            }
        }
    }
    results.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn a_step_starts_after_what_it_waits_for_and_never_waits_for_the_rest() {
        // 0 is slow; 1 waits for 0; 2 and 3 wait for nothing; 3 also names a later step,
        // which is not waited for.
        let after = vec![vec![], vec![0], vec![], vec![4], vec![]];
        let finished = Mutex::new(Vec::new());
        let results = run_after(&after, 4, |i| {
            let finished = &finished;
            async move {
                let pause = if i == 0 { 50 } else { 1 };
                tokio::time::sleep(Duration::from_millis(pause)).await;
                finished.lock().unwrap().push(i);
                i * 10
            }
        })
        .await;
        assert_eq!(results, vec![0, 10, 20, 30, 40]);
        let order = finished.into_inner().unwrap();
        let at = |step| order.iter().position(|&s| s == step).unwrap();
        assert!(at(1) > at(0), "{order:?}");
        assert!(at(2) < at(0) && at(3) < at(0) && at(4) < at(0), "{order:?}");
    }

    #[tokio::test]
    async fn no_more_than_the_limit_run_at_once() {
        let after = vec![Vec::new(); 20];
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        run_after(&after, 3, |_| {
            let (running, most) = (&running, &most);
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(2)).await;
                running.fetch_sub(1, Ordering::SeqCst);
            }
        })
        .await;
        assert_eq!(most.load(Ordering::SeqCst), 3);
    }
}
