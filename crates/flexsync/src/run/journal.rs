//! The journal of the apply phase over the state store: every write's intent and outcome go to
//! one committer thread, which writes whatever is pending together in one transaction (group
//! commit). A step goes on once its intent is committed; the steps of one batch go on together,
//! so their writes share Bulk requests ([`Waiting`]). [`StoreJournal::flush`] waits until
//! everything handed over is committed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::task::{Poll, Waker};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use flexsync_core::current::LinkKind;
use flexsync_core::group_plan::GroupStep;
use flexsync_core::ids::ExternalId;
use flexsync_core::kind::OperationKind;
use flexsync_core::plan::Step;
use flexsync_core::retry_hold::FailedStep;
use flexsync_state::{JournalEntry, OpId, OpOutcome, Recorded, RunId, StateStore, StepDone};
use flexsync_winningtemp::{IntentRecorded, Journal, StepOutcome};

/// How long the committer waits for more once entries stop coming: the steps that became ready
/// together hand over their intents one after the other, and should share a batch (and then
/// their writes a Bulk request).
const SETTLE: Duration = Duration::from_micros(200);

/// The most a batch takes, so that a steady stream is still committed.
const MOST_IN_BATCH: usize = 10_000;

/// Why an intent is refused when the committer is gone.
const NO_COMMITTER: &str = "the journal's committer stopped";

/// Where the committer puts an intent's id, or why it could not be recorded.
type IntentAnswer = Arc<OnceLock<Result<i64, String>>>;

/// What the committer is handed, in the order the steps hand it over.
enum Queued {
    /// An intent, answered with its id once committed.
    Intent {
        entry: JournalEntry,
        answer: IntentAnswer,
    },
    /// What a step came to: its outcome and what goes with it.
    Outcome(Vec<JournalEntry>),
    /// Answered once everything handed over before it is committed.
    Flush(oneshot::Sender<()>),
}

/// Records intents and outcomes in the state store, and keeps the links it learns.
pub(super) struct StoreJournal {
    run: RunId,
    /// Steps that came to an outcome, for the progress of the apply phase.
    pub(super) done: Arc<AtomicU64>,
    /// None once the journal is dropped: the committer finishes what is queued and ends.
    queue: Option<mpsc::Sender<Queued>>,
    waiting: Arc<Waiting>,
    committer: Option<JoinHandle<()>>,
}

impl StoreJournal {
    /// Starts the committer. If it cannot start, every intent is refused, so nothing is written.
    pub(super) fn start(store: StateStore, run: RunId) -> StoreJournal {
        let (queue, pending) = mpsc::channel();
        let waiting = Arc::new(Waiting::default());
        let woken = waiting.clone();
        let committer = std::thread::Builder::new()
            .name("flexsync-journal".into())
            .spawn(move || {
                let _close = CloseOnExit(&woken);
                commit_batches(&store, &pending, &woken)
            })
            .map_err(|error| {
                tracing::error!(%error, "could not start the journal; writing stops");
                waiting.close();
            })
            .ok();
        StoreJournal {
            run,
            done: Arc::default(),
            queue: Some(queue),
            waiting,
            committer,
        }
    }

    /// Waits until everything handed over so far is committed (or has failed, and was logged).
    pub(super) async fn flush(&self) {
        let (answer, flushed) = oneshot::channel();
        if let Some(queue) = &self.queue
            && queue.send(Queued::Flush(answer)).is_ok()
        {
            let _ = flushed.await;
        }
    }

    fn intent_of(
        &self,
        external_id: &ExternalId,
        operation: OperationKind,
        detail: serde_json::Value,
    ) -> IntentRecorded<'_> {
        let answer = IntentAnswer::default();
        let entry = JournalEntry::Intent {
            run: self.run,
            external_id: external_id.clone(),
            operation,
            detail,
        };
        // Sent now, not when awaited: the committer sees intents and outcomes in call order.
        if let Some(queue) = &self.queue {
            let _ = queue.send(Queued::Intent {
                entry,
                answer: answer.clone(),
            });
        }
        Box::pin(answer_of(answer, self.waiting.clone()))
    }

    fn outcome_of(&self, entries: Vec<JournalEntry>) {
        self.done.fetch_add(1, Ordering::Relaxed);
        let sent = self
            .queue
            .as_ref()
            .is_some_and(|queue| queue.send(Queued::Outcome(entries)).is_ok());
        if !sent {
            tracing::warn!("could not record an outcome: {NO_COMMITTER}");
        }
    }
}

impl Drop for StoreJournal {
    /// Closes the queue and waits for the committer to write what is left in it.
    fn drop(&mut self) {
        self.queue = None;
        if let Some(committer) = self.committer.take()
            && committer.join().is_err()
        {
            tracing::error!("the journal's committer panicked");
        }
    }
}

impl Journal for StoreJournal {
    fn intent(&self, step: &Step) -> IntentRecorded<'_> {
        let detail = super::redact::journal_detail(step);
        self.intent_of(step.operation.external_id(), step.operation.kind(), detail)
    }

    fn group_intent(&self, step: &GroupStep) -> IntentRecorded<'_> {
        let detail = serde_json::to_value(step).unwrap_or_default();
        self.intent_of(step.operation.external_id(), step.operation.kind(), detail)
    }

    fn outcome(&self, intent: i64, step: &Step, outcome: &StepOutcome) {
        self.outcome_of(user_outcome(OpId(intent), step, outcome));
    }

    fn group_outcome(&self, intent: i64, outcome: &StepOutcome) {
        self.outcome_of(group_outcome(OpId(intent), outcome));
    }
}

/// The outcome of an intent as stored.
fn op_outcome(outcome: &StepOutcome) -> OpOutcome {
    match &outcome.error {
        None => OpOutcome::Done {
            target_id: outcome.target_id.clone().unwrap_or_default(),
        },
        Some(error) => OpOutcome::Failed {
            message: error.message.clone(),
        },
    }
}

/// What a user step leaves: a success its link, the fingerprints of what it wrote and the
/// failure it mends; a failure its outcome and the record's failure.
fn user_outcome(op: OpId, step: &Step, outcome: &StepOutcome) -> Vec<JournalEntry> {
    let mut entries = Vec::new();
    if outcome.error.is_some() || outcome.target_id.is_none() {
        entries.push(JournalEntry::Outcome {
            op,
            outcome: op_outcome(outcome),
        });
    }
    match (&outcome.error, &outcome.target_id) {
        (None, Some(target_id)) => {
            let created = outcome.kind == OperationKind::Create && outcome.note.is_none();
            let linked = matches!(outcome.kind, OperationKind::Create | OperationKind::Adopt);
            let done = StepDone {
                external_id: outcome.external_id.clone(),
                target_id: target_id.clone(),
                kind: outcome.kind,
                link: linked.then_some((LinkKind::User, created)),
                written: flexsync_core::drift::written_by(&step.operation),
            };
            entries.push(JournalEntry::StepDone { op, done });
        }
        // A refused token is the run's failure, not the record's: nothing is counted.
        (Some(error), _) if error.is_refused_token() => {}
        (Some(error), _) => entries.push(JournalEntry::Failure {
            external_id: outcome.external_id.clone(),
            message: error.message.clone(),
            class: error.class,
            failed_step: Some(FailedStep::of(step)),
        }),
        (None, None) => {}
    }
    entries
}

/// What a group step leaves: its outcome, and the link of a group it created, or a retired
/// group forgotten.
fn group_outcome(op: OpId, outcome: &StepOutcome) -> Vec<JournalEntry> {
    let mut entries = vec![JournalEntry::Outcome {
        op,
        outcome: op_outcome(outcome),
    }];
    if outcome.error.is_some() {
        return entries;
    }
    let external_id = outcome.external_id.clone();
    match (outcome.kind, &outcome.target_id) {
        (OperationKind::CreateGroup, Some(target_id)) => entries.push(JournalEntry::Link {
            kind: LinkKind::Group,
            external_id,
            target_id: target_id.clone(),
            created_by_us: outcome.note.is_none(),
        }),
        (OperationKind::RetireGroup, _) => {
            entries.push(JournalEntry::ForgetGroup { external_id });
        }
        _ => {}
    }
    entries
}

/// The steps waiting for their intent's answer. Once a batch is answered the committer wakes
/// them one by one; the first to go on wakes the rest where it runs (the steps share one task),
/// so the steps of a batch go on together, not one by one as the committer's thread gets the
/// processor.
#[derive(Default)]
struct Waiting {
    wakers: Mutex<Vec<Waker>>,
    /// Batches answered so far, and of those the last whose steps were all woken.
    batches: AtomicU64,
    woken: AtomicU64,
    /// The committer has ended: no more answers come.
    closed: AtomicBool,
}

impl Waiting {
    fn wait(&self, waker: &Waker) {
        if let Ok(mut wakers) = self.wakers.lock() {
            wakers.push(waker.clone());
        }
    }

    /// Called by a step that found its answer: the first of a batch wakes the others.
    fn answered(&self) {
        let batches = self.batches.load(Ordering::SeqCst);
        if self.woken.fetch_max(batches, Ordering::SeqCst) < batches {
            self.wake_all();
        }
    }

    /// Called by the committer once every intent of a batch has its answer.
    fn batch_answered(&self) {
        self.batches.fetch_add(1, Ordering::SeqCst);
        while let Some(waker) = self.wakers.lock().ok().and_then(|mut w| w.pop()) {
            waker.wake();
        }
    }

    /// No more answers come: every waiting step is told so.
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.wake_all();
    }

    fn wake_all(&self) {
        let wakers = self
            .wakers
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default();
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// The answer to one intent, once the committer has answered its batch.
async fn answer_of(answer: IntentAnswer, waiting: Arc<Waiting>) -> Result<i64, String> {
    std::future::poll_fn(move |cx| {
        if let Some(id) = answer.get() {
            waiting.answered();
            return Poll::Ready(id.clone());
        }
        waiting.wait(cx.waker());
        // Answered (or the committer ended) while this step registered: it may not be woken.
        if let Some(id) = answer.get() {
            waiting.answered();
            return Poll::Ready(id.clone());
        }
        if waiting.closed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(NO_COMMITTER.into()));
        }
        Poll::Pending
    })
    .await
}

/// Marks [`Waiting`] closed when the committer ends, however it ends, and wakes every step.
struct CloseOnExit<'a>(&'a Waiting);

impl Drop for CloseOnExit<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Commits what is handed over, everything pending at once, until the journal is dropped. A
/// batch takes what comes until nothing more has come for [`SETTLE`].
fn commit_batches(store: &StateStore, pending: &mpsc::Receiver<Queued>, waiting: &Waiting) {
    while let Ok(first) = pending.recv() {
        let mut batch = vec![first];
        while batch.len() < MOST_IN_BATCH
            && let Ok(next) = pending.recv_timeout(SETTLE)
        {
            batch.push(next);
        }
        commit(store, batch);
        waiting.batch_answered();
    }
}

/// Writes one batch in one transaction, then answers its intents (the steps are woken once all
/// are answered, see [`Waiting`]) and flushes. A batch that cannot be committed refuses every
/// intent in it (writing stops: the store is failing). Its outcomes are written again one step at
/// a time, so that an entry the store cannot hold costs that step's outcome alone; after two
/// refusals in a row the store is taken to be down and the rest are lost (logged).
fn commit(store: &StateStore, batch: Vec<Queued>) {
    let mut steps = Vec::with_capacity(batch.len());
    let mut flushes = Vec::new();
    for queued in batch {
        match queued {
            Queued::Intent { entry, answer } => steps.push((vec![entry], Some(answer))),
            Queued::Outcome(entries) => steps.push((entries, None)),
            Queued::Flush(answer) => flushes.push(answer),
        }
    }
    if let Err(error) = commit_steps(store, &steps) {
        let reason = error.to_string();
        let mut refused = 0;
        for answer in steps.iter().filter_map(|(_, answer)| answer.as_ref()) {
            let _ = answer.set(Err(reason.clone()));
            refused += 1;
        }
        if refused > 0 {
            tracing::error!(%error, intents = refused, "could not record intents; writing stops");
        }
        let outcomes: Vec<_> = steps
            .into_iter()
            .filter(|(_, answer)| answer.is_none())
            .collect();
        if !outcomes.is_empty() {
            retry_outcomes(store, &outcomes, &error);
        }
    }
    for answer in flushes {
        let _ = answer.send(());
    }
}

/// Writes the outcomes of a refused batch one step at a time.
fn retry_outcomes(
    store: &StateStore,
    outcomes: &[(Vec<JournalEntry>, Option<IntentAnswer>)],
    error: &flexsync_state::StateError,
) {
    tracing::warn!(%error, steps = outcomes.len(), "a journal batch failed; writing its outcomes one by one");
    let mut refused_in_a_row = 0;
    for (at, step) in outcomes.iter().enumerate() {
        match commit_steps(store, std::slice::from_ref(step)) {
            Ok(()) => refused_in_a_row = 0,
            Err(error) => {
                tracing::warn!(%error, "could not record an outcome");
                refused_in_a_row += 1;
                if refused_in_a_row == 2 {
                    let lost = outcomes.len() - at - 1;
                    if lost > 0 {
                        tracing::warn!(%error, steps = lost, "the state store refuses outcomes; these are lost");
                    }
                    return;
                }
            }
        }
    }
}

/// Writes the entries of `steps` in one transaction and, once committed, answers their intents
/// with their ids.
fn commit_steps(
    store: &StateStore,
    steps: &[(Vec<JournalEntry>, Option<IntentAnswer>)],
) -> Result<(), flexsync_state::StateError> {
    let entries: Vec<JournalEntry> = steps.iter().flat_map(|(e, _)| e.iter().cloned()).collect();
    let intents = steps.iter().filter(|(_, answer)| answer.is_some()).count();
    let started = std::time::Instant::now();
    let recorded = store.record_journal(&entries, jiff::Timestamp::now())?;
    tracing::debug!(
        entries = entries.len(),
        intents,
        micros = started.elapsed().as_micros() as u64,
        "journal batch"
    );
    for op in recorded.iter().filter_map(|r| match r {
        Recorded::Unmatched(op) => Some(op),
        _ => None,
    }) {
        tracing::warn!("could not record an outcome: no operation {op} without one");
    }
    let mut at = 0;
    for (step_entries, answer) in steps {
        if let Some(answer) = answer {
            let id = match recorded.get(at) {
                Some(Recorded::Intent(op)) => Ok(op.0),
                _ => Err("the state store answered no id for an intent".to_string()),
            };
            let _ = answer.set(id);
        }
        at += step_entries.len();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flexsync_core::desired::UserValues;
    use flexsync_core::outcome::RunKind;
    use flexsync_core::plan::Operation;

    fn create(external_id: &str) -> Step {
        Step {
            operation: Operation::CreateUser {
                external_id: external_id.into(),
                values: UserValues {
                    user_name: format!("{external_id}@example.se"),
                    active: true,
                    ..UserValues::default()
                },
                attributes: Vec::new(),
                manager_external_id: None,
            },
            reason: "new".into(),
        }
    }

    #[tokio::test]
    async fn intents_are_answered_once_committed_and_flush_waits_for_the_outcomes() {
        let store = StateStore::open_in_memory().unwrap();
        let run = store
            .begin_run(jiff::Timestamp::now(), RunKind::Sync)
            .unwrap();
        let journal = StoreJournal::start(store.clone(), run);
        let steps = [create("E1"), create("E2"), create("E3")];
        let intents = futures::future::join_all(steps.iter().map(|s| journal.intent(s))).await;
        let ids: Vec<i64> = intents.into_iter().map(Result::unwrap).collect();
        let stored: Vec<i64> = store
            .operations(run)
            .unwrap()
            .iter()
            .map(|o| o.id.0)
            .collect();
        assert_eq!(stored, ids);

        let mut created = StepOutcome::new("E1", OperationKind::Create);
        created.target_id = Some("t-1".into());
        journal.outcome(ids[0], &steps[0], &created);
        let mut refused = StepOutcome::new("E2", OperationKind::Create);
        refused.fail(flexsync_winningtemp::ApplyError::permanent("refused"));
        journal.outcome(ids[1], &steps[1], &refused);
        journal.flush().await;
        assert_eq!(journal.done.load(Ordering::Relaxed), 2);
        let memory = store.memory().unwrap();
        assert_eq!(memory.links.get("E1").map(|t| t.as_str()), Some("t-1"));
        assert_eq!(store.failures().unwrap().len(), 1);
        let open: Vec<i64> = store
            .unfinished_intents()
            .unwrap()
            .iter()
            .map(|o| o.id.0)
            .collect();
        assert_eq!(open, [ids[2]]);
    }

    #[test]
    fn the_first_step_of_a_batch_to_go_on_wakes_the_others() {
        use futures::StreamExt;
        let waiting = Arc::new(Waiting::default());
        let answers: Vec<IntentAnswer> = (0..3).map(|_| IntentAnswer::default()).collect();
        let mut steps: futures::stream::FuturesUnordered<_> = answers
            .iter()
            .map(|answer| answer_of(answer.clone(), waiting.clone()))
            .collect();
        let mut cx = std::task::Context::from_waker(Waker::noop());
        assert!(steps.poll_next_unpin(&mut cx).is_pending());
        for (id, answer) in (0..).zip(&answers) {
            answer.set(Ok(id)).unwrap();
        }
        waiting.batches.fetch_add(1, Ordering::SeqCst);
        // The committer's thread wakes one step, and loses the processor.
        let first = waiting.wakers.lock().unwrap().pop().unwrap();
        first.wake();
        let mut ids = Vec::new();
        while let Poll::Ready(Some(id)) = steps.poll_next_unpin(&mut cx) {
            ids.push(id.unwrap());
        }
        ids.sort_unstable();
        assert_eq!(ids, [0, 1, 2]);
    }

    #[tokio::test]
    async fn a_batch_the_store_refuses_refuses_every_intent_in_it() {
        let store = StateStore::open_in_memory().unwrap();
        // A run the store does not hold: every intent of it is refused.
        let journal = StoreJournal::start(store.clone(), RunId(99));
        let steps = [create("E1"), create("E2")];
        let intents = futures::future::join_all(steps.iter().map(|s| journal.intent(s))).await;
        assert!(intents.iter().all(Result::is_err), "{intents:?}");
        drop(journal);
        assert!(store.unfinished_intents().unwrap().is_empty());
    }
}
