//! A connection's writer queue on the relay: what the relay loop hands one
//! connection's writer task, in order and bounded in count. Unlike a tokio
//! channel, whose first block of slots is allocated when it is made, it
//! holds memory only while frames wait, so thousands of idle connections
//! cost nothing here (issue 19: a few KiB per connection).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

struct Shared<T> {
    state: Mutex<State<T>>,
    /// Something to take, or the sender is gone.
    ready: Notify,
}

struct State<T> {
    items: VecDeque<T>,
    sender_gone: bool,
    receiver_gone: bool,
}

/// The relay loop's end.
pub(super) struct OutboxTx<T> {
    shared: Arc<Shared<T>>,
    capacity: usize,
}

/// The writer task's end.
pub(super) struct OutboxRx<T> {
    shared: Arc<Shared<T>>,
}

/// A queue of at most `capacity` items.
pub(super) fn outbox<T>(capacity: usize) -> (OutboxTx<T>, OutboxRx<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            sender_gone: false,
            receiver_gone: false,
        }),
        ready: Notify::new(),
    });
    (
        OutboxTx {
            shared: Arc::clone(&shared),
            capacity,
        },
        OutboxRx { shared },
    )
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T> OutboxTx<T> {
    /// Queue `item`, or hand it back when the queue is full or the writer
    /// task is gone.
    pub(super) fn try_send(&self, item: T) -> Result<(), T> {
        let mut state = self.shared.lock();
        if state.receiver_gone || state.items.len() >= self.capacity {
            return Err(item);
        }
        let was_empty = state.items.is_empty();
        state.items.push_back(item);
        drop(state);
        if was_empty {
            self.shared.ready.notify_one();
        }
        Ok(())
    }
}

impl<T> Drop for OutboxTx<T> {
    fn drop(&mut self) {
        self.shared.lock().sender_gone = true;
        self.shared.ready.notify_one();
    }
}

impl<T> OutboxRx<T> {
    /// The next item, or `None` once the sender is gone and nothing is
    /// left.
    pub(super) async fn recv(&mut self) -> Option<T> {
        loop {
            {
                let mut state = self.shared.lock();
                if let Some(item) = state.items.pop_front() {
                    if state.items.is_empty() {
                        // Idle again: give the slots back.
                        state.items = VecDeque::new();
                    }
                    return Some(item);
                }
                if state.sender_gone {
                    return None;
                }
            }
            // A notification given between the check and here is kept.
            self.shared.ready.notified().await;
        }
    }
}

impl<T> Drop for OutboxRx<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver_gone = true;
        state.items = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn in_order_bounded_and_ended_by_the_sender() {
        let (tx, mut rx) = outbox::<u32>(2);
        assert_eq!(tx.try_send(1), Ok(()));
        assert_eq!(tx.try_send(2), Ok(()));
        assert_eq!(tx.try_send(3), Err(3), "full");
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(tx.try_send(3), Ok(()));
        drop(tx);
        assert_eq!(rx.recv().await, Some(2));
        assert_eq!(rx.recv().await, Some(3));
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn a_gone_writer_takes_nothing() {
        let (tx, rx) = outbox::<u32>(4);
        drop(rx);
        assert_eq!(tx.try_send(1), Err(1));
    }
}
