//! Writes of users and groups: each sent alone, or, on a server that advertises Bulk, queued
//! while [`Writer::drive`] runs and sent together in `/Bulk` requests within the advertised
//! limits. Either way each write is answered as the single request would have been.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use futures::future::{Either, select};
use futures::stream::{FuturesUnordered, StreamExt};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::bulk::{
    BulkLimits, BulkOperation, id_from_location, match_results, read_results, request_body,
};
use crate::client::{Answer, ScimClient, decode, decode_optional, describe, encode};
use crate::error::ScimError;
use crate::wire::{Op, PatchOp, PatchOperation, ScimGroup, ScimUser};

/// The most write steps a caller should keep waiting on a Bulk writer at once.
const MAX_QUEUED: usize = 20_000;

/// Yields that may pass while steps that just became ready queue their writes.
const SETTLE_ROUNDS: usize = 16;

/// One write as it would go alone.
pub(crate) struct Write {
    method: Method,
    segments: Vec<String>,
    body: Option<Vec<u8>>,
    /// Whether sending it twice does no harm (see the transport's retry policy).
    idempotent: bool,
    resource: String,
}

struct Queued {
    write: Write,
    operation: BulkOperation,
    bytes: Vec<u8>,
    reply: oneshot::Sender<Result<Answer, ScimError>>,
}

struct Queue {
    limits: BulkLimits,
    in_flight: usize,
    sender: mpsc::UnboundedSender<Queued>,
    receiver: Mutex<Option<mpsc::UnboundedReceiver<Queued>>>,
    serving: AtomicBool,
    next_bulk_id: AtomicU64,
}

/// Sends the writes of users and groups to one SCIM server.
pub struct Writer<'a> {
    client: &'a ScimClient,
    bulk: Option<Queue>,
}

impl<'a> Writer<'a> {
    /// Every write its own request.
    pub fn single(client: &'a ScimClient) -> Writer<'a> {
        Writer { client, bulk: None }
    }

    /// Writes made inside [`Writer::drive`] go in `/Bulk` requests of at most `limits`, at most
    /// `in_flight` of them at once.
    pub fn bulk(client: &'a ScimClient, limits: BulkLimits, in_flight: usize) -> Writer<'a> {
        let (sender, receiver) = mpsc::unbounded_channel();
        Writer {
            client,
            bulk: Some(Queue {
                limits,
                in_flight: in_flight.max(1),
                sender,
                receiver: Mutex::new(Some(receiver)),
                serving: AtomicBool::new(false),
                next_bulk_id: AtomicU64::new(1),
            }),
        }
    }

    pub fn client(&self) -> &'a ScimClient {
        self.client
    }

    pub fn uses_bulk(&self) -> bool {
        self.bulk.is_some()
    }

    /// How many steps, each waiting on one write, a caller may run at once so that `in_flight`
    /// requests can be kept full.
    pub fn steps_in_flight(&self, concurrency: usize) -> usize {
        match &self.bulk {
            Some(queue) => concurrency
                .max(1)
                .saturating_mul(queue.limits.max_operations)
                .min(MAX_QUEUED),
            None => concurrency,
        }
    }

    /// Runs `work`, sending the writes it queues as they come, until it is done.
    pub async fn drive<T>(&self, work: impl Future<Output = T>) -> T {
        let Some(queue) = &self.bulk else {
            return work.await;
        };
        let taken = queue.receiver.lock().ok().and_then(|mut r| r.take());
        // Driven already (by an enclosing call): that one sends.
        let Some(mut receiver) = taken else {
            return work.await;
        };
        queue.serving.store(true, Ordering::SeqCst);
        let out = {
            let serve = pin!(self.serve(queue, &mut receiver));
            match select(pin!(work), serve).await {
                Either::Left((out, _)) => out,
                Either::Right(((), work)) => work.await,
            }
        };
        queue.serving.store(false, Ordering::SeqCst);
        if let Ok(mut slot) = queue.receiver.lock() {
            *slot = Some(receiver);
        }
        out
    }

    /// Sends what is queued: whenever fewer than `in_flight` requests are out, everything
    /// queued so far (once the steps that just became ready have queued theirs) that fits one
    /// request. Runs until `work` in [`Writer::drive`] is done.
    async fn serve(&self, queue: &Queue, receiver: &mut mpsc::UnboundedReceiver<Queued>) {
        let mut pending: VecDeque<Queued> = VecDeque::new();
        let mut sending = FuturesUnordered::new();
        let mut open = true;
        loop {
            while let Ok(queued) = receiver.try_recv() {
                pending.push_back(queued);
            }
            if !pending.is_empty() && sending.len() < queue.in_flight {
                settle(receiver, &mut pending).await;
                let count = queue
                    .limits
                    .take(pending.iter().map(|q| q.bytes.len()))
                    .max(1);
                let batch: Vec<Queued> = pending.drain(..count.min(pending.len())).collect();
                sending.push(self.send_batch(batch));
                continue;
            }
            tokio::select! {
                queued = receiver.recv(), if open => match queued {
                    Some(queued) => pending.push_back(queued),
                    None => open = false,
                },
                Some(()) = sending.next(), if !sending.is_empty() => {}
                else => std::future::pending::<()>().await,
            }
        }
    }

    /// Sends one `/Bulk` request and answers each write in it. A request refused as too large
    /// (413: nothing was done) is sent again in halves, and a lone write alone; a request that
    /// fails whole (after the transport's retries) fails each write in it with that error.
    async fn send_batch(&self, batch: Vec<Queued>) {
        let mut todo = vec![batch];
        while let Some(batch) = todo.pop() {
            let body = request_body(batch.iter().map(|q| q.bytes.as_slice()));
            let idempotent = batch.iter().all(|q| q.write.idempotent);
            tracing::debug!(
                operations = batch.len(),
                bytes = body.len(),
                "SCIM bulk request"
            );
            match self.client.send_bulk(body, idempotent).await {
                Ok(answer) => self.answer_each(batch, &answer).await,
                Err(error) if error.status() == Some(413) && batch.len() > 1 => {
                    let mut first = batch;
                    let second = first.split_off(first.len() / 2);
                    todo.push(second);
                    todo.push(first);
                }
                Err(error) if error.status() == Some(413) => {
                    for queued in batch {
                        let answer = self.client.send_write(&queued.write).await;
                        let _ = queued.reply.send(answer);
                    }
                }
                Err(error) => {
                    for queued in batch {
                        let each =
                            error.about(format!("{} (in POST /Bulk)", queued.write.resource));
                        let _ = queued.reply.send(Err(each));
                    }
                }
            }
        }
    }

    /// Answers each write of a batch from the BulkResponse. A write answered 429 or 503 was not
    /// done (the server was busy): it is sent again alone, retried as any single request is.
    async fn answer_each(&self, batch: Vec<Queued>, answer: &Answer) {
        let results = serde_json::from_slice::<Value>(&answer.body)
            .map_err(|e| e.to_string())
            .and_then(|body| read_results(&body));
        let results = match results {
            Ok(results) => results,
            Err(message) => {
                for queued in batch {
                    let _ = queued.reply.send(Err(ScimError::Decode {
                        resource: format!("{} (in POST /Bulk)", queued.write.resource),
                        message: message.clone(),
                    }));
                }
                return;
            }
        };
        let sent: Vec<BulkOperation> = batch.iter().map(|q| q.operation.clone()).collect();
        let matched = match_results(&sent, &results);
        for (queued, found) in batch.into_iter().zip(matched) {
            let answer = match found.and_then(|j| results.get(j)) {
                Some(result) if matches!(result.status, Some(429 | 503)) => {
                    self.client.send_write(&queued.write).await
                }
                Some(result) => self.one_answer(&queued, result),
                None => Err(ScimError::Decode {
                    resource: format!("{} (in POST /Bulk)", queued.write.resource),
                    message: "the BulkResponse has no result for this operation".into(),
                }),
            };
            let _ = queued.reply.send(answer);
        }
    }

    /// What the single request would have answered: the status, and the resource (from the
    /// result's `response`, or for a create without one, what was sent with the new id).
    fn one_answer(
        &self,
        queued: &Queued,
        result: &crate::bulk::BulkResult,
    ) -> Result<Answer, ScimError> {
        let resource = &queued.write.resource;
        let Some(status) = result.status else {
            return Err(ScimError::Decode {
                resource: format!("{resource} (in POST /Bulk)"),
                message: "the operation's result has no status".into(),
            });
        };
        let response = result.response.as_ref().map(Value::to_string);
        if !(200..300).contains(&status) {
            let body = response.unwrap_or_default().into_bytes();
            return Err(self.client.refused(status, &body, resource));
        }
        let body = match (response, queued.write.method == Method::POST) {
            (Some(body), _) => body.into_bytes(),
            (None, true) => created_body(&queued.write, result)?,
            (None, false) => Vec::new(),
        };
        Ok(Answer { status, body })
    }

    /// Sends `write` alone, or queues it for the next Bulk request while [`Writer::drive`] runs.
    async fn write(&self, write: Write) -> Result<Answer, ScimError> {
        let Some(queue) = self
            .bulk
            .as_ref()
            .filter(|q| q.serving.load(Ordering::SeqCst))
        else {
            return self.client.send_write(&write).await;
        };
        let operation = BulkOperation {
            method: write.method.to_string(),
            path: self.client.relative_path(&write.segments)?,
            bulk_id: (write.method == Method::POST)
                .then(|| format!("b{}", queue.next_bulk_id.fetch_add(1, Ordering::Relaxed))),
            data: write.body.clone(),
        };
        let bytes = operation.to_bytes();
        if !queue.limits.fits(bytes.len()) {
            return self.client.send_write(&write).await;
        }
        let (reply, answer) = oneshot::channel();
        let resource = write.resource.clone();
        let queued = Queued {
            write,
            operation,
            bytes,
            reply,
        };
        if let Err(mpsc::error::SendError(queued)) = queue.sender.send(queued) {
            return self.client.send_write(&queued.write).await;
        }
        answer.await.unwrap_or_else(|_| {
            Err(ScimError::Decode {
                resource: format!("{resource} (in POST /Bulk)"),
                message: "the bulk request was abandoned before it was answered".into(),
            })
        })
    }

    // ---- the writes

    /// Creates a user; `schemas` is completed from the extensions it carries, and `id` and
    /// `meta` are left to the server.
    pub async fn create_user(&self, user: &ScimUser) -> Result<ScimUser, ScimError> {
        let mut user = user.clone();
        user.id = None;
        user.meta = None;
        user.complete_schemas();
        self.create("Users", &user).await
    }

    /// Applies `operations`; `None` when the server answered 204 (or 200 without a body).
    pub async fn patch_user(
        &self,
        id: &str,
        operations: Vec<PatchOperation>,
    ) -> Result<Option<ScimUser>, ScimError> {
        self.patch("Users", id, operations).await
    }

    pub async fn delete_user(&self, id: &str) -> Result<(), ScimError> {
        self.delete("Users", id).await
    }

    pub async fn create_group(&self, group: &ScimGroup) -> Result<ScimGroup, ScimError> {
        let mut group = group.clone();
        group.id = None;
        group.meta = None;
        group.complete_schemas();
        self.create("Groups", &group).await
    }

    pub async fn patch_group(
        &self,
        id: &str,
        operations: Vec<PatchOperation>,
    ) -> Result<Option<ScimGroup>, ScimError> {
        self.patch("Groups", id, operations).await
    }

    pub async fn delete_group(&self, id: &str) -> Result<(), ScimError> {
        self.delete("Groups", id).await
    }

    async fn create<T: Serialize + DeserializeOwned>(
        &self,
        endpoint: &str,
        resource_body: &T,
    ) -> Result<T, ScimError> {
        let resource = describe(&Method::POST, &[endpoint]);
        let write = Write {
            method: Method::POST,
            segments: vec![endpoint.to_string()],
            body: Some(encode(resource_body, &resource)?),
            idempotent: false,
            resource,
        };
        let resource = write.resource.clone();
        let answer = self.write(write).await?;
        decode(&answer.body, &resource)
    }

    async fn patch<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        id: &str,
        operations: Vec<PatchOperation>,
    ) -> Result<Option<T>, ScimError> {
        let resource = describe(&Method::PATCH, &[endpoint, id]);
        // Re-sending an "add" may duplicate values on some servers; replace and remove may not.
        let idempotent = operations.iter().all(|o| o.op != Op::Add);
        let write = Write {
            method: Method::PATCH,
            segments: vec![endpoint.to_string(), id.to_string()],
            body: Some(encode(&PatchOp::new(operations), &resource)?),
            idempotent,
            resource,
        };
        let resource = write.resource.clone();
        let answer = self.write(write).await?;
        decode_optional(&answer, &resource)
    }

    async fn delete(&self, endpoint: &str, id: &str) -> Result<(), ScimError> {
        let write = Write {
            method: Method::DELETE,
            segments: vec![endpoint.to_string(), id.to_string()],
            body: None,
            idempotent: true,
            resource: describe(&Method::DELETE, &[endpoint, id]),
        };
        // A DELETE resent after a dropped connection finds the resource gone: that is success.
        match self.write(write).await {
            Err(error) if error.is_not_found() => Ok(()),
            result => result.map(|_| ()),
        }
    }
}

impl Write {
    pub(crate) fn method(&self) -> &Method {
        &self.method
    }

    pub(crate) fn segments(&self) -> Vec<&str> {
        self.segments.iter().map(String::as_str).collect()
    }

    pub(crate) fn body(&self) -> Option<&Vec<u8>> {
        self.body.as_ref()
    }

    pub(crate) fn idempotent(&self) -> bool {
        self.idempotent
    }

    pub(crate) fn resource(&self) -> &str {
        &self.resource
    }
}

/// A create answered without the resource: what was sent, with the id its `location` names.
fn created_body(write: &Write, result: &crate::bulk::BulkResult) -> Result<Vec<u8>, ScimError> {
    let missing = |what: &str| ScimError::Decode {
        resource: format!("{} (in POST /Bulk)", write.resource),
        message: format!("the create's result has {what}"),
    };
    let id = result
        .location
        .as_deref()
        .and_then(id_from_location)
        .ok_or_else(|| missing("no location"))?;
    let mut sent: Value = write
        .body
        .as_deref()
        .and_then(|b| serde_json::from_slice(b).ok())
        .ok_or_else(|| missing("no body sent"))?;
    if let Value::Object(map) = &mut sent {
        map.insert("id".into(), Value::String(id.to_string()));
    }
    Ok(sent.to_string().into_bytes())
}

/// Waits while the steps that just became ready queue their writes (they run in the same task,
/// so each yield lets them go on), until a yield brings nothing new.
async fn settle(receiver: &mut mpsc::UnboundedReceiver<Queued>, pending: &mut VecDeque<Queued>) {
    for _ in 0..SETTLE_ROUNDS {
        tokio::task::yield_now().await;
        let before = pending.len();
        while let Ok(queued) = receiver.try_recv() {
            pending.push_back(queued);
        }
        if pending.len() == before {
            return;
        }
    }
}
