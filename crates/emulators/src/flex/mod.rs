//! The Flex HRM Web API emulator: serves a data file (`docs/flex-hrm-api.md` section 4) over HTTP
//! under `/webapi/api` and `/api`, with the shared knobs and page faults for tests.
//!
//! - [`data`]: the data file, kept as JSON values so records are served as the file holds them.
//! - [`api`]: the routes, authentication, per-company access and paging.

pub mod api;
pub mod data;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use data::{ApiUser, FlexData, FlexDataError};

use crate::knobs::{Faults, Knobs};
use data::Served;

/// What an injected page fault does to the page it hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageFaultKind {
    /// Answer 500.
    Fail,
    /// Leave the last item out while `TotalItemCount` stays the same.
    Short,
    /// Answer 200 with an HTML body.
    NotJson,
    /// Answer 200 with the JSON cut off halfway.
    Truncated,
    /// Start the page one item early, as when a record before it left the list between two
    /// page reads: one item comes twice and another is never sent, with the same total.
    Shifted,
}

/// A fault for one page of one resource (`employees`, `employmentperiods`, `companies`,
/// `accountdistributions`, `accounts`, `employmentdefaultaccounts`; see [`api`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageFault {
    pub resource: String,
    pub page_index: u32,
    pub kind: PageFaultKind,
}

/// How lists are sent, to test clients against the envelope shapes a real server might use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ListStyle {
    /// `{"PageIndex", "PageSize", "TotalItemCount", "Items"}`: the documented form.
    #[default]
    Envelope,
    /// The same envelope in camelCase keys.
    CamelCase,
    /// A bare array holding the requested page, without a total.
    BareArray,
    /// A bare array of the whole list whatever page is asked for.
    Unpaged,
}

/// The emulator's live state: the data served, the knobs, the page fault. Cheap to clone.
#[derive(Clone)]
pub struct FlexEmulator {
    served: Arc<RwLock<Arc<Served>>>,
    knobs: Arc<Knobs>,
    page_fault: Arc<Mutex<Option<PageFault>>>,
    list_style: Arc<Mutex<ListStyle>>,
}

impl FlexEmulator {
    pub fn new(data: FlexData, faults: Faults) -> FlexEmulator {
        FlexEmulator {
            served: Arc::new(RwLock::new(Arc::new(Served::new(data)))),
            knobs: Knobs::new(faults),
            page_fault: Arc::new(Mutex::new(None)),
            list_style: Arc::new(Mutex::new(ListStyle::default())),
        }
    }

    pub fn knobs(&self) -> Arc<Knobs> {
        self.knobs.clone()
    }

    /// Replaces the data served from the next request on.
    pub fn set_data(&self, data: FlexData) {
        let served = Arc::new(Served::new(data));
        match self.served.write() {
            Ok(mut guard) => *guard = served,
            Err(poisoned) => *poisoned.into_inner() = served,
        }
    }

    pub fn set_page_fault(&self, fault: Option<PageFault>) {
        match self.page_fault.lock() {
            Ok(mut guard) => *guard = fault,
            Err(poisoned) => *poisoned.into_inner() = fault,
        }
    }

    /// Makes page `page_index` of `resource` answer 500 (`None` clears any page fault).
    pub fn set_fail_page(&self, page: Option<(String, u32)>) {
        self.set_page_fault(page.map(|(resource, page_index)| PageFault {
            resource,
            page_index,
            kind: PageFaultKind::Fail,
        }));
    }

    /// Makes page `page_index` of `resource` come back one item short (`None` clears it).
    pub fn set_short_page(&self, page: Option<(String, u32)>) {
        self.set_page_fault(page.map(|(resource, page_index)| PageFault {
            resource,
            page_index,
            kind: PageFaultKind::Short,
        }));
    }

    pub fn set_list_style(&self, style: ListStyle) {
        match self.list_style.lock() {
            Ok(mut guard) => *guard = style,
            Err(poisoned) => *poisoned.into_inner() = style,
        }
    }

    fn list_style(&self) -> ListStyle {
        match self.list_style.lock() {
            Ok(guard) => *guard,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    fn page_fault(&self) -> Option<PageFault> {
        match self.page_fault.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn served(&self) -> Arc<Served> {
        match self.served.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The HTTP routes, for serving or for embedding in another router.
    pub fn router(&self) -> axum::Router {
        api::router(self.clone())
    }
}

/// Serves the emulator on a bound listener until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: FlexEmulator,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, state.router())
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds `127.0.0.1:0` and serves `data` in the background, for tests.
pub async fn start(data: FlexData, faults: Faults) -> std::io::Result<RunningFlex> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let emulator = FlexEmulator::new(data, faults);
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, emulator.clone(), async move {
        let _ = rx.await;
    }));
    Ok(RunningFlex {
        addr,
        knobs: emulator.knobs(),
        emulator,
        shutdown: Some(tx),
        task: Some(task),
    })
}

/// A Flex emulator running in the background. Stops when dropped or on [`RunningFlex::shutdown`].
pub struct RunningFlex {
    pub addr: SocketAddr,
    pub knobs: Arc<Knobs>,
    pub emulator: FlexEmulator,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningFlex {
    /// `http://127.0.0.1:PORT`, as a customer would quote a Flex host.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_data(&self, data: FlexData) {
        self.emulator.set_data(data);
    }

    pub fn set_fail_page(&self, page: Option<(String, u32)>) {
        self.emulator.set_fail_page(page);
    }

    pub fn set_short_page(&self, page: Option<(String, u32)>) {
        self.emulator.set_short_page(page);
    }

    pub fn set_page_fault(&self, fault: Option<PageFault>) {
        self.emulator.set_page_fault(fault);
    }

    pub fn set_list_style(&self, style: ListStyle) {
        self.emulator.set_list_style(style);
    }

    /// Requests counted for a route under either prefix, e.g. `route_count("GET /employees")`.
    pub fn route_count(&self, route: &str) -> u64 {
        let Some((method, path)) = route.split_once(' ') else {
            return 0;
        };
        let counters = self.knobs.counters();
        ["/webapi/api", "/api"]
            .iter()
            .filter_map(|prefix| counters.get(&format!("{method} {prefix}{path}")))
            .sum()
    }

    /// Stops serving and waits for the server to finish.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningFlex {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
