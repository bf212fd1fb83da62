//! The generation queue: generation runs on dedicated threads, off the async runtime, a bounded
//! number at a time; callers learn their place, a full queue says "busy", a gone caller frees its slot.

use std::collections::{HashMap, VecDeque};
use std::ops::ControlFlow;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

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

struct Job {
    generator: SharedGenerator,
    request: GenerateRequest,
    events: UnboundedSender<Event>,
}

struct State {
    waiting: VecDeque<Job>,
    closed: bool,
    running: usize,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    capacity: usize,
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
    /// Starts `workers` threads (at least one); at most `capacity` requests may wait.
    pub fn new(workers: usize, capacity: usize) -> GenerationQueue {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                waiting: VecDeque::new(),
                closed: false,
                running: 0,
            }),
            wake: Condvar::new(),
            capacity,
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

    /// Queues a request. Fails at once with [`LlmError::Busy`] when the queue is full.
    pub fn submit(
        &self,
        generator: SharedGenerator,
        request: GenerateRequest,
    ) -> Result<Ticket, LlmError> {
        request.sampling.validate().map_err(LlmError::Sampling)?;
        let (tx, rx) = unbounded_channel();
        let mut st = self.shared.lock();
        if st.closed {
            return Err(LlmError::QueueClosed);
        }
        // Requests that were cancelled while waiting do not count against the capacity.
        st.waiting.retain(|j| !j.events.is_closed());
        if st.waiting.len() >= self.shared.capacity {
            return Err(LlmError::Busy {
                capacity: self.shared.capacity,
            });
        }
        let position = st.waiting.len() + 1;
        let _ = tx.send(Event::Queued { position });
        st.waiting.push_back(Job {
            generator,
            request,
            events: tx,
        });
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

fn worker(shared: &Shared) {
    // One KV cache per model, kept between requests so a shared prompt prefix is not recomputed.
    let mut caches: HashMap<String, Cache> = HashMap::new();
    loop {
        let job = {
            let mut st = shared.lock();
            loop {
                if let Some(job) = st.waiting.pop_front() {
                    st.running += 1;
                    for (i, j) in st.waiting.iter().enumerate() {
                        let _ = j.events.send(Event::Queued { position: i + 1 });
                    }
                    break job;
                }
                if st.closed {
                    return;
                }
                st = shared.wake.wait(st).unwrap_or_else(|p| p.into_inner());
            }
        };
        run(job, &mut caches);
        shared.lock().running -= 1;
    }
}

fn run(job: Job, caches: &mut HashMap<String, Cache>) {
    if job.events.is_closed() {
        return;
    }
    let _ = job.events.send(Event::Started);
    let generator = &job.generator;
    let cache = caches
        .entry(generator.name.clone())
        .or_insert_with(|| generator.new_cache());
    let events = &job.events;
    let result = generator.generate(cache, &job.request, |piece| {
        if events.is_closed() {
            return ControlFlow::Break(());
        }
        if !piece.is_empty() && events.send(Event::Text(piece.to_string())).is_err() {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    let _ = match result {
        Ok(done) => events.send(Event::Done(done)),
        Err(e) => {
            // A failed forward pass may leave the cache half-written: start clean next time.
            cache.clear();
            events.send(Event::Failed(e))
        }
    };
}
