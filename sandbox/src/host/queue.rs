//! Queue-triggered functions as the Azure Storage Queues extension (5.x) runs them, over the storage
//! account the function's identity-based connection names (reached with the app settings' proxy and
//! trust, `HTTPS_PROXY` and `SSL_CERT_FILE`, as the handler reaches it; the host's own token is one the
//! sandbox's identity endpoint would issue).
//!
//! What is followed (sources: the queue trigger reference,
//! https://learn.microsoft.com/azure/azure-functions/functions-bindings-storage-queue-trigger, "Poison
//! messages", "Polling algorithm", "Concurrency", host.json settings; the extension's `QueueListener.cs`
//! and `QueueProcessor.cs` in Azure/azure-sdk-for-net): messages are received up to `batchSize` at once
//! with a 10-minute visibility timeout, renewed at half of it while the function runs; a new batch is
//! fetched when fewer than `newBatchThreshold` run; an empty queue is polled again after a randomised
//! exponential back-off from 100 ms up to `maxPollingInterval`; the message text is base64-decoded
//! unless `messageEncoding` is `none` (a text that does not decode fails like an invocation); on success
//! the message is deleted; on failure it is made visible again after `visibilityTimeout` (default 0),
//! and once its dequeue count reaches `maxDequeueCount` (default 5) it is moved to `<queue>-poison`
//! (created if missing) and deleted. `Data.<binding>` is the text as a string; `Metadata` carries
//! `DequeueCount`, `ExpirationTime`, `Id`, `InsertionTime`, `NextVisibleTime`, `PopReceipt`.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use azure_core::credentials::{AccessToken, Secret, TokenCredential, TokenRequestOptions};
use azure_core::http::{ClientOptions, Transport};
use azure_storage_queue::models::{
    QueueClientReceiveMessagesOptions, QueueMessage, ReceivedMessage,
};
use azure_storage_queue::{QueueClient, QueueClientOptions};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};

use super::clock;
use super::function::{FunctionInfo, QueueTrigger, Trigger};
use super::invoke::{Call, invoke};
use super::local_host::Shared;

/// How long a received message stays invisible while its function runs (renewed at half of it).
const RUNNING_VISIBILITY: Duration = Duration::from_secs(600);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// `extensions.queues` of host.json.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct QueueOptions {
    pub batch_size: usize,
    pub new_batch_threshold: usize,
    pub max_dequeue_count: i64,
    /// How long a failed message stays invisible before it is tried again.
    pub visibility_timeout: Duration,
    pub max_polling_interval: Duration,
    pub base64: bool,
}

impl QueueOptions {
    /// Reads `extensions.queues` (defaults where absent; the local default polling interval is 2 s).
    pub(crate) fn from_host(host: &Value) -> Result<QueueOptions, String> {
        let queues = host.pointer("/extensions/queues");
        let number = |key: &str, default: u64, max: u64| match queues.and_then(|q| q.get(key)) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v.as_u64().filter(|n| (1..=max).contains(n)).ok_or(format!(
                "extensions.queues.{key} must be a whole number from 1 to {max}"
            )),
        };
        let span = |key: &str, default: Duration| match queues.and_then(|q| q.get(key)) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::String(s)) => clock::parse_timespan(s).ok_or(format!(
                "extensions.queues.{key} must be a TimeSpan like \"00:00:30\""
            )),
            Some(_) => Err(format!("extensions.queues.{key} must be a TimeSpan string")),
        };
        let batch_size = number("batchSize", 16, 32)?;
        let base64 = match queues.and_then(|q| q.get("messageEncoding")) {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("base64") => true,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("none") => false,
            Some(_) => {
                return Err(
                    "extensions.queues.messageEncoding must be \"base64\" or \"none\"".into(),
                );
            }
        };
        Ok(QueueOptions {
            batch_size: usize::try_from(batch_size).unwrap_or(16),
            new_batch_threshold: usize::try_from(number(
                "newBatchThreshold",
                batch_size / 2,
                1000,
            )?)
            .unwrap_or(8),
            max_dequeue_count: i64::try_from(number("maxDequeueCount", 5, 1000)?).unwrap_or(5),
            visibility_timeout: span("visibilityTimeout", Duration::ZERO)?,
            max_polling_interval: span("maxPollingInterval", Duration::from_secs(2))?,
            base64,
        })
    }
}

impl Default for QueueOptions {
    fn default() -> Self {
        QueueOptions::from_host(&Value::Null).unwrap_or(QueueOptions {
            batch_size: 16,
            new_batch_threshold: 8,
            max_dequeue_count: 5,
            visibility_timeout: Duration::ZERO,
            max_polling_interval: Duration::from_secs(2),
            base64: true,
        })
    }
}

/// The host's storage identity: a token as the sandbox's identity endpoint issues them.
#[derive(Debug)]
struct HostIdentity;

#[async_trait::async_trait]
impl TokenCredential for HostIdentity {
    async fn get_token(
        &self,
        scopes: &[&str],
        _: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let resource = scopes.first().copied().unwrap_or_default();
        let lifetime = Duration::from_secs(3600);
        let token = crate::identity::mint_token(resource, "host", lifetime);
        Ok(AccessToken::new(
            Secret::new(token),
            time::OffsetDateTime::now_utc() + lifetime,
        ))
    }
}

/// A client of `queue` over the app settings' proxy and trust.
fn client(shared: &Shared, service: &url::Url, queue: &str) -> Result<QueueClient, String> {
    let setting = |key: &str| {
        (shared.app.settings.iter())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(key).ok())
    };
    queue_client(&setting, service, queue)
}

/// A client of `queue` at the queue service `service`, through the proxy and with the trust that
/// `setting` names (`HTTPS_PROXY`, `SSL_CERT_FILE`), authenticated as the sandbox's host identity.
///
/// # Errors
/// An unusable proxy, bundle or URL, in words.
pub fn queue_client(
    setting: &dyn Fn(&str) -> Option<String>,
    service: &url::Url,
    queue: &str,
) -> Result<QueueClient, String> {
    let mut http = reqwest::Client::builder().no_proxy();
    if let Some(proxy) = setting("HTTPS_PROXY").filter(|p| !p.is_empty()) {
        let proxy = reqwest::Proxy::https(&proxy).map_err(|e| format!("HTTPS_PROXY: {e}"))?;
        http = http.proxy(proxy);
    }
    if let Some(path) = setting("SSL_CERT_FILE").filter(|p| !p.is_empty()) {
        let pem = std::fs::read(&path).map_err(|e| format!("SSL_CERT_FILE {path}: {e}"))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("SSL_CERT_FILE {path}: {e}"))?
        {
            http = http.add_root_certificate(cert);
        }
    }
    let http = http.build().map_err(|e| format!("HTTP client: {e}"))?;
    let options = QueueClientOptions {
        client_options: ClientOptions {
            transport: Some(Transport::new(Arc::new(http))),
            ..Default::default()
        },
        ..Default::default()
    };
    let url = service
        .join(queue)
        .map_err(|e| format!("queue {queue}: {e}"))?;
    QueueClient::new(url, Some(Arc::new(HostIdentity)), Some(options))
        .map_err(|e| format!("queue {queue}: {e}"))
}

fn describe(e: &azure_core::Error) -> String {
    match e.http_status() {
        Some(status) => format!("{} ({e})", u16::from(status)),
        None => e.to_string(),
    }
}

/// Listens to the function's queue until the host stops.
pub(crate) async fn listen(shared: Arc<Shared>, function: Arc<FunctionInfo>) {
    let Trigger::Queue(trigger) = &function.trigger else {
        return;
    };
    let category = format!("Host.Triggers.Queue.{}", function.name);
    let (queue, poison) = match (
        client(&shared, &trigger.service, &trigger.queue_name),
        client(
            &shared,
            &trigger.service,
            &format!("{}-poison", trigger.queue_name),
        ),
    ) {
        (Ok(queue), Ok(poison)) => (Arc::new(queue), Arc::new(poison)),
        (Err(why), _) | (_, Err(why)) => {
            shared
                .console
                .error(&category, format!("cannot listen: {why}"));
            return;
        }
    };
    let options = shared.app.queues.clone();
    let running = Arc::new(tokio::sync::Semaphore::new(
        options.batch_size + options.new_batch_threshold,
    ));
    let mut backoff = FIRST_BACKOFF;
    let mut said_error = false;
    loop {
        // A new batch once fewer than the threshold run.
        let free = running.available_permits();
        let busy = options.batch_size + options.new_batch_threshold - free;
        if busy > options.new_batch_threshold {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let wanted = i32::try_from(options.batch_size.min(free)).unwrap_or(1);
        let receive = QueueClientReceiveMessagesOptions {
            number_of_messages: Some(wanted),
            visibility_timeout: Some(seconds(RUNNING_VISIBILITY)),
            ..Default::default()
        };
        let messages = match queue.receive_messages(Some(receive)).await {
            Ok(answer) => answer
                .into_model()
                .map(|m| m.items.unwrap_or_default())
                .unwrap_or_default(),
            // A queue that does not exist yet is an empty one (the host polls it the same way).
            Err(e) if e.http_status().map(u16::from) == Some(404) => Vec::new(),
            Err(e) => {
                if !said_error {
                    said_error = true;
                    shared.console.error(
                        &category,
                        format!("polling '{}' failed: {}", trigger.queue_name, describe(&e)),
                    );
                }
                Vec::new()
            }
        };
        if messages.is_empty() {
            tokio::time::sleep(jittered(backoff)).await;
            backoff = (backoff * 2).min(options.max_polling_interval);
            continue;
        }
        said_error = false;
        backoff = FIRST_BACKOFF;
        for message in messages {
            let Ok(permit) = Arc::clone(&running).acquire_owned().await else {
                return;
            };
            let work = Work {
                shared: Arc::clone(&shared),
                function: Arc::clone(&function),
                queue: Arc::clone(&queue),
                poison: Arc::clone(&poison),
                options: options.clone(),
                category: category.clone(),
            };
            tokio::spawn(async move {
                work.process(message).await;
                drop(permit);
            });
        }
    }
}

/// The randomised part of the back-off: between half and all of it.
fn jittered(d: Duration) -> Duration {
    let half = d / 2;
    let spread = u64::try_from(half.as_millis()).unwrap_or(0).max(1);
    half + Duration::from_millis(u64::from(uuid::Uuid::new_v4().as_u128() as u16) % spread)
}

fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

struct Work {
    shared: Arc<Shared>,
    function: Arc<FunctionInfo>,
    queue: Arc<QueueClient>,
    poison: Arc<QueueClient>,
    options: QueueOptions,
    category: String,
}

impl Work {
    async fn process(&self, message: ReceivedMessage) {
        let Trigger::Queue(trigger) = &self.function.trigger else {
            return;
        };
        let (Some(id), Some(pop)) = (message.message_id.clone(), message.pop_receipt.clone())
        else {
            return;
        };
        let dequeue_count = message.dequeue_count.unwrap_or(1);
        let text = message.message_text.clone().unwrap_or_default();
        if dequeue_count > self.options.max_dequeue_count {
            self.to_poison(trigger, &id, &pop, &text).await;
            return;
        }
        let pop = Arc::new(Mutex::new(pop));
        let renewer = self.keep_invisible(&id, Arc::clone(&pop));
        let succeeded = match self.decode(&text) {
            Ok(decoded) => self.invoke(trigger, &message, &id, &pop, decoded).await,
            Err(why) => {
                self.shared.console.error(
                    &self.category,
                    format!(
                        "message {id} on '{}' cannot be decoded: {why}",
                        trigger.queue_name
                    ),
                );
                false
            }
        };
        renewer.abort();
        let pop = pop.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if succeeded {
            if let Err(e) = self.queue.delete_message(&id, &pop, None).await {
                self.shared.console.error(
                    &self.category,
                    format!("message {id} could not be deleted: {}", describe(&e)),
                );
            }
        } else if dequeue_count >= self.options.max_dequeue_count {
            self.to_poison(trigger, &id, &pop, &text).await;
        } else if let Err(e) = (self.queue)
            .update_message(&id, &pop, seconds(self.options.visibility_timeout), None)
            .await
        {
            self.shared.console.error(
                &self.category,
                format!("message {id} could not be released: {}", describe(&e)),
            );
        }
    }

    fn decode(&self, text: &str) -> Result<String, String> {
        if !self.options.base64 {
            return Ok(text.to_owned());
        }
        let bytes = STANDARD.decode(text.trim()).map_err(|e| {
            format!(
                "not base64 ({e}); set extensions.queues.messageEncoding to \"none\" for plain text"
            )
        })?;
        String::from_utf8(bytes).map_err(|e| format!("not UTF-8 once decoded: {e}"))
    }

    async fn invoke(
        &self,
        trigger: &QueueTrigger,
        message: &ReceivedMessage,
        id: &str,
        pop: &Mutex<String>,
        text: String,
    ) -> bool {
        let stamp = |t: Option<time::OffsetDateTime>| {
            t.map_or(Value::Null, |t| Value::String(clock::json_utc(t)))
        };
        let mut data = Map::new();
        data.insert(trigger.binding.clone(), Value::String(text));
        let metadata = json!({
            "DequeueCount": message.dequeue_count.unwrap_or(1),
            "ExpirationTime": stamp(message.expiration_time),
            "Id": id,
            "InsertionTime": stamp(message.insertion_time),
            "NextVisibleTime": stamp(message.time_next_visible),
            "PopReceipt": pop.lock().unwrap_or_else(PoisonError::into_inner).clone(),
        });
        let call = Call {
            function: self.function.name.clone(),
            reason: format!("New queue message detected on '{}'.", trigger.queue_name),
            data,
            metadata: metadata.as_object().cloned().unwrap_or_default(),
            retry_count: 0,
            http_output: None,
        };
        invoke(&self.shared, call).await.record.succeeded
    }

    /// Renews the message's invisibility at half of it while the function runs (the pop receipt
    /// changes with each renewal).
    fn keep_invisible(&self, id: &str, pop: Arc<Mutex<String>>) -> tokio::task::JoinHandle<()> {
        let queue = Arc::clone(&self.queue);
        let id = id.to_owned();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RUNNING_VISIBILITY / 2).await;
                let current = pop.lock().unwrap_or_else(PoisonError::into_inner).clone();
                if let Ok(answer) = queue
                    .update_message(&id, &current, seconds(RUNNING_VISIBILITY), None)
                    .await
                    && let Some(next) = answer.headers().get_optional_str(
                        &azure_core::http::headers::HeaderName::from_static("x-ms-popreceipt"),
                    )
                {
                    *pop.lock().unwrap_or_else(PoisonError::into_inner) = next.to_owned();
                }
            }
        })
    }

    async fn to_poison(&self, trigger: &QueueTrigger, id: &str, pop: &str, text: &str) {
        let poison = format!("{}-poison", trigger.queue_name);
        self.shared.console.warn(
            &self.category,
            format!(
                "Message has reached MaxDequeueCount of {}. Moving message to queue '{poison}'.",
                self.options.max_dequeue_count
            ),
        );
        if let Err(e) = self.poison.create(None).await
            && e.http_status().map(u16::from) != Some(409)
        {
            self.shared.console.error(
                &self.category,
                format!("queue '{poison}' could not be created: {}", describe(&e)),
            );
            return;
        }
        let body = QueueMessage {
            message_text: Some(text.to_owned()),
        };
        let sent = match body.try_into() {
            Ok(content) => self.poison.send_message(content, None).await.map(drop),
            Err(e) => Err(e),
        };
        match sent {
            Ok(()) => {
                if let Err(e) = self.queue.delete_message(id, pop, None).await {
                    self.shared.console.error(
                        &self.category,
                        format!("message {id} could not be deleted: {}", describe(&e)),
                    );
                }
            }
            Err(e) => self.shared.console.error(
                &self.category,
                format!(
                    "message {id} could not be moved to '{poison}': {}",
                    describe(&e)
                ),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::function::{Parsed, parse};
    use super::*;

    #[test]
    fn host_json_queue_settings_have_the_extensions_defaults_and_are_checked() {
        let defaults = QueueOptions::from_host(&json!({"version": "2.0"})).unwrap();
        assert_eq!(
            (
                defaults.batch_size,
                defaults.new_batch_threshold,
                defaults.max_dequeue_count
            ),
            (16, 8, 5)
        );
        assert_eq!(defaults.visibility_timeout, Duration::ZERO);
        assert!(defaults.base64);
        let set = QueueOptions::from_host(&json!({"extensions": {"queues": {
            "batchSize": 4, "maxDequeueCount": 2, "visibilityTimeout": "00:00:30",
            "messageEncoding": "none"
        }}}))
        .unwrap();
        assert_eq!(
            (
                set.batch_size,
                set.new_batch_threshold,
                set.max_dequeue_count
            ),
            (4, 2, 2)
        );
        assert_eq!(set.visibility_timeout, Duration::from_secs(30));
        assert!(!set.base64);
        let bad =
            |queues: Value| QueueOptions::from_host(&json!({"extensions": {"queues": queues}}));
        assert!(
            bad(json!({"batchSize": 33}))
                .unwrap_err()
                .contains("batchSize")
        );
        assert!(
            bad(json!({"visibilityTimeout": 30}))
                .unwrap_err()
                .contains("TimeSpan")
        );
        assert!(
            bad(json!({"messageEncoding": "utf8"}))
                .unwrap_err()
                .contains("messageEncoding")
        );
    }

    #[test]
    fn a_queue_trigger_needs_an_identity_based_connection_and_a_valid_queue_name() {
        let function = r#"{"bindings": [{"name": "message", "type": "queueTrigger",
            "direction": "in", "queueName": "%Q%", "connection": "Work"}]}"#;
        let with = |settings: &'static [(&'static str, &'static str)]| {
            move |key: &str| {
                (settings.iter())
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let Ok(Parsed::Function(info)) = parse(
            "SyncQueue",
            function,
            &with(&[("Q", "entra-sync-work"), ("Work__accountName", "stapp")]),
        ) else {
            panic!("not loaded")
        };
        let Trigger::Queue(trigger) = info.trigger else {
            panic!("not a queue trigger")
        };
        assert_eq!(trigger.queue_name, "entra-sync-work");
        assert_eq!(
            trigger.service.as_str(),
            "https://stapp.queue.core.windows.net/"
        );
        let Ok(Parsed::Skipped(why)) = parse(
            "SyncQueue",
            function,
            &with(&[
                ("Q", "entra-sync-work"),
                ("Work", "UseDevelopmentStorage=true"),
            ]),
        ) else {
            panic!("loaded without an identity-based connection")
        };
        assert!(why.contains("no identity-based queue settings"), "{why}");
        let Err(why) = parse("SyncQueue", function, &with(&[("Q", "Bad_Name")])) else {
            panic!("a bad queue name was accepted")
        };
        assert!(why.contains("not a valid queue name"), "{why}");
        let Err(why) = parse("SyncQueue", function, &with(&[])) else {
            panic!("a missing setting was accepted")
        };
        assert_eq!(why, "queueName '%Q%': app setting 'Q' is not set");
    }
}
