//! The generation queue: generation runs on dedicated threads, off the async runtime, a bounded
//! number at a time; clients take turns (round robin, a cap each), callers learn their place, a
//! full queue says "busy", a gone caller frees its slot.

use std::collections::{HashMap, VecDeque};
use std::ops::ControlFlow;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::remote::{ChatRequest, RemoteGenerator, RemoteWorker};
use super::{Cache, Completion, GenerateRequest, LlmError, SharedGenerator};

/// What a caller hears about its request, in order: `Queued` (zero or more times), `Started`,
/// `Text` pieces, then `Done` or `Failed`.
#[derive(Debug)]
pub enum Event {
    /// Requests ahead of this one (1 = next to start).
    Queued {
        position: usize,
    },
    Started,
    Text(String),
    Done(Completion),
    Failed(LlmError),
}

/// The receiving end of one request. Dropping it cancels the request: a waiting request is
/// skipped, a running one stops at its next token.
#[derive(Debug)]
pub struct Ticket {
    pub events: UnboundedReceiver<Event>,
}

impl Ticket {
    /// Waits (blocking this thread) for the next event; `None` once the request has ended.
    pub fn blocking_next(&mut self) -> Option<Event> {
        self.events.blocking_recv()
    }

    /// Waits for the next event; `None` once the request has ended.
    pub async fn next(&mut self) -> Option<Event> {
        self.events.recv().await
    }
}

/// A generation to run: on a model in this process, or on the remote server.
#[derive(Debug)]
pub enum Work {
    Local {
        generator: SharedGenerator,
        request: GenerateRequest,
    },
    Remote {
        generator: Arc<RemoteGenerator>,
        request: ChatRequest,
    },
}

impl Work {
    /// A generation on a model in this process.
    pub fn local(generator: SharedGenerator, request: GenerateRequest) -> Work {
        Work::Local { generator, request }
    }

    fn validate(&self) -> Result<(), LlmError> {
        let sampling = match self {
            Work::Local { request, .. } => &request.sampling,
            Work::Remote { request, .. } => &request.sampling,
        };
        sampling.validate().map_err(LlmError::Sampling)
    }
}

struct Job {
    /// Who asked (the server passes the client's address); `None`: a local caller, not capped.
    client: Option<String>,
    work: Work,
    events: UnboundedSender<Event>,
    /// The place last told to the caller.
    told: usize,
}

struct State {
    waiting: VecDeque<Job>,
    closed: bool,
    running: usize,
    /// When each client's request last started (a count of starts): the least recently served
    /// client goes next.
    served: HashMap<Option<String>, u64>,
    starts: u64,
}

impl State {
    /// The order in which the waiting requests will start (indices into `waiting`).
    fn service_order(&self) -> Vec<usize> {
        take_turns(
            self.waiting.iter().map(|j| &j.client),
            &self.served,
            self.starts,
        )
    }

    /// Tells every waiting caller whose place changed its new place.
    fn tell_places(&mut self) {
        let order = self.service_order();
        for (place, i) in order.into_iter().enumerate() {
            let job = &mut self.waiting[i];
            if job.told != place + 1 {
                job.told = place + 1;
                let _ = job.events.send(Event::Queued {
                    position: place + 1,
                });
            }
        }
    }
}

/// The order in which requests of `clients` (in arrival order) start: clients take turns, the
/// least recently served (`served`, in counts of starts) first, ties to the earliest arrival; one
/// client's requests keep their order.
fn take_turns<'a>(
    clients: impl Iterator<Item = &'a Option<String>>,
    served: &HashMap<Option<String>, u64>,
    mut starts: u64,
) -> Vec<usize> {
    let mut queues: Vec<(&Option<String>, VecDeque<usize>, u64)> = Vec::new();
    let mut n = 0;
    for (i, client) in clients.enumerate() {
        n += 1;
        match queues.iter_mut().find(|(c, _, _)| *c == client) {
            Some((_, jobs, _)) => jobs.push_back(i),
            None => {
                let last = served.get(client).copied().unwrap_or(0);
                queues.push((client, VecDeque::from([i]), last));
            }
        }
    }
    let mut order = Vec::with_capacity(n);
    while order.len() < n {
        let (_, jobs, last) = queues
            .iter_mut()
            .filter(|(_, jobs, _)| !jobs.is_empty())
            .min_by_key(|(_, jobs, last)| (*last, jobs[0]))
            .expect("some client still waits");
        order.push(jobs.pop_front().expect("not empty"));
        starts += 1;
        *last = starts;
    }
    order
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    capacity: usize,
    /// Requests one client may have waiting.
    per_client: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A worker that panicked mid-update leaves a consistent VecDeque; keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A bounded queue in front of `workers` generation threads.
pub struct GenerationQueue {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for GenerationQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenerationQueue")
            .field("workers", &self.threads.len())
            .field("capacity", &self.shared.capacity)
            .finish()
    }
}

impl GenerationQueue {
    /// Starts `workers` threads (at least one); at most `capacity` requests may wait, and at
    /// most `per_client` of one client.
    pub fn new(workers: usize, capacity: usize, per_client: usize) -> GenerationQueue {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                waiting: VecDeque::new(),
                closed: false,
                running: 0,
                served: HashMap::new(),
                starts: 0,
            }),
            wake: Condvar::new(),
            capacity,
            per_client: per_client.max(1),
        });
        let threads = (0..workers.max(1))
            .map(|i| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("concord-gen-{i}"))
                    .spawn(move || worker(&shared))
                    .expect("spawning a generation thread")
            })
            .collect();
        GenerationQueue { shared, threads }
    }

    /// Queues a request of `client` (`None`: a local caller). Fails at once with
    /// [`LlmError::Busy`] when the queue is full or the client has `per_client` waiting.
    pub fn submit(&self, client: Option<&str>, work: Work) -> Result<Ticket, LlmError> {
        work.validate()?;
        let (tx, rx) = unbounded_channel();
        let mut st = self.shared.lock();
        if st.closed {
            return Err(LlmError::QueueClosed);
        }
        // Requests that were cancelled while waiting do not count against the capacity.
        st.waiting.retain(|j| !j.events.is_closed());
        let theirs = client.map_or(0, |c| {
            st.waiting
                .iter()
                .filter(|j| j.client.as_deref() == Some(c))
                .count()
        });
        if st.waiting.len() >= self.shared.capacity || theirs >= self.shared.per_client {
            return Err(LlmError::Busy {
                capacity: self.shared.capacity,
            });
        }
        st.waiting.push_back(Job {
            client: client.map(str::to_string),
            work,
            events: tx,
            told: 0,
        });
        st.tell_places();
        drop(st);
        self.shared.wake.notify_one();
        Ok(Ticket { events: rx })
    }

    /// Requests waiting and running right now.
    pub fn load(&self) -> (usize, usize) {
        let st = self.shared.lock();
        (st.waiting.len(), st.running)
    }
}

impl Drop for GenerationQueue {
    fn drop(&mut self) {
        {
            let mut st = self.shared.lock();
            st.closed = true;
            for job in st.waiting.drain(..) {
                let _ = job.events.send(Event::Failed(LlmError::QueueClosed));
            }
        }
        self.shared.wake.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// What a worker keeps between requests.
#[derive(Default)]
struct Kept {
    /// One KV cache per model, so a shared prompt prefix is not recomputed.
    caches: HashMap<String, Cache>,
    /// A runtime and HTTP client per remote server.
    remotes: HashMap<String, RemoteWorker>,
}

fn worker(shared: &Shared) {
    let mut kept = Kept::default();
    loop {
        let job = {
            let mut st = shared.lock();
            loop {
                st.waiting.retain(|j| !j.events.is_closed());
                if let Some(&next) = st.service_order().first() {
                    let job = st.waiting.remove(next).expect("an index of a waiting job");
                    st.running += 1;
                    st.starts += 1;
                    let starts = st.starts;
                    if st.served.len() > 4096 {
                        // Clients with nothing waiting start afresh (bounded memory).
                        let waiting: Vec<Option<String>> =
                            st.waiting.iter().map(|j| j.client.clone()).collect();
                        st.served.retain(|c, _| waiting.contains(c));
                    }
                    st.served.insert(job.client.clone(), starts);
                    st.tell_places();
                    break job;
                }
                if st.closed {
                    return;
                }
                st = shared.wake.wait(st).unwrap_or_else(|p| p.into_inner());
            }
        };
        run(job, &mut kept);
        shared.lock().running -= 1;
    }
}

fn run(job: Job, kept: &mut Kept) {
    if job.events.is_closed() {
        return;
    }
    let _ = job.events.send(Event::Started);
    let events = &job.events;
    let on_text = |piece: &str| {
        if events.is_closed() {
            return ControlFlow::Break(());
        }
        if !piece.is_empty() && events.send(Event::Text(piece.to_string())).is_err() {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    };
    let result = match &job.work {
        Work::Local { generator, request } => {
            let cache = kept
                .caches
                .entry(generator.name.clone())
                .or_insert_with(|| generator.new_cache());
            let result = generator.generate(cache, request, on_text);
            if result.is_err() {
                // A failed forward pass may leave the cache half-written: start clean next time.
                cache.clear();
            }
            result
        }
        Work::Remote { generator, request } => {
            let worker = match kept.remotes.entry(generator.name.clone()) {
                std::collections::hash_map::Entry::Occupied(e) => Ok(e.into_mut()),
                std::collections::hash_map::Entry::Vacant(e) => {
                    generator.worker().map(|w| e.insert(w))
                }
            };
            worker.and_then(|w| generator.generate(w, request, on_text))
        }
    };
    let _ = match result {
        Ok(done) => events.send(Event::Done(done)),
        Err(e) => events.send(Event::Failed(e)),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(clients: &[Option<&str>], served: &[(Option<&str>, u64)], starts: u64) -> Vec<usize> {
        let clients: Vec<Option<String>> = clients.iter().map(|c| c.map(String::from)).collect();
        let served = served
            .iter()
            .map(|(c, n)| (c.map(String::from), *n))
            .collect();
        take_turns(clients.iter(), &served, starts)
    }

    #[test]
    fn clients_take_turns_and_keep_their_own_order() {
        let a = Some("10.0.0.1");
        let b = Some("10.0.0.2");
        let c = Some("10.0.0.3");
        // One client queued three before two others asked once each: they do not wait behind all three.
        assert_eq!(order(&[a, a, a, b, c], &[], 0), vec![0, 3, 4, 1, 2]);
        // The client served last waits for the others.
        assert_eq!(order(&[a, b], &[(a, 5), (b, 2)], 5), vec![1, 0]);
        // Local callers (None) are one client among the others.
        assert_eq!(order(&[None, None, a], &[], 0), vec![0, 2, 1]);
        assert!(order(&[], &[], 0).is_empty());
    }
}
