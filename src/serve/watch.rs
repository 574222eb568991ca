//! The open terminals of the class, as the board sees them: each one's seat
//! and node, its recent output and size, so that the instructor can watch a
//! student's terminal as it is, or take it over and type in it. The student
//! is told while someone watches or types.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::{broadcast, watch};

use super::terminal::Keys;

/// The output a watcher gets first: the screen as it has been lately.
const RECENT: usize = 64 * 1024;
/// Output pieces a slow watcher may fall behind before it skips some.
const BEHIND: usize = 256;
/// Watchers one terminal may have at once.
pub const WATCHERS: usize = 4;

/// What a watcher is sent.
#[derive(Clone, Debug)]
pub enum Event {
    Output(Arc<[u8]>),
    Size(u16, u16),
    Ended,
}

/// Who looks at a terminal besides its student: (watching, typing).
pub type Onlookers = (usize, usize);

/// One open terminal, shared by its page and its watchers.
pub struct Shared {
    pub id: u64,
    pub seat: u32,
    pub node: String,
    pub opened: Instant,
    keys: Keys,
    size: Mutex<(u16, u16)>,
    recent: Mutex<VecDeque<u8>>,
    events: broadcast::Sender<Event>,
    onlookers: watch::Sender<Onlookers>,
    /// Set before [`Event::Ended`] is sent: a watcher that came after it
    /// knows all the same.
    ended: AtomicBool,
}

impl Shared {
    /// What the shell printed: kept for watchers who come later, and sent
    /// to those watching now.
    pub fn printed(&self, bytes: &[u8]) {
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent.extend(bytes);
        let over = recent.len().saturating_sub(RECENT);
        recent.drain(..over);
        drop(recent);
        let _ = self.events.send(Event::Output(Arc::from(bytes)));
    }

    pub fn resized(&self, cols: u16, rows: u16) {
        *self.size.lock().unwrap_or_else(PoisonError::into_inner) = (cols, rows);
        let _ = self.events.send(Event::Size(cols, rows));
    }

    pub fn size(&self) -> (u16, u16) {
        *self.size.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The screen as it has been lately, and the events after it.
    pub fn follow(&self) -> (Vec<u8>, broadcast::Receiver<Event>) {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        // Subscribed under the lock: nothing printed falls between the two.
        let events = self.events.subscribe();
        (recent.iter().copied().collect(), events)
    }

    pub fn has_ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }

    /// Where an instructor who took the terminal over types.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The student is told who looks: changes as watchers come and go.
    pub fn onlookers(&self) -> watch::Receiver<Onlookers> {
        self.onlookers.subscribe()
    }

    pub fn watchers(&self) -> usize {
        self.onlookers.borrow().0
    }

    /// One more watcher (typing or not), unless it has [`WATCHERS`].
    pub fn join(&self, typing: bool) -> bool {
        self.onlookers.send_if_modified(|(watching, typists)| {
            if *watching >= WATCHERS {
                return false;
            }
            *watching += 1;
            *typists += usize::from(typing);
            true
        })
    }

    pub fn leave(&self, typing: bool) {
        self.onlookers.send_modify(|(watching, typists)| {
            *watching = watching.saturating_sub(1);
            *typists = typists.saturating_sub(usize::from(typing));
        });
    }

    /// A watcher begins or stops typing.
    pub fn typing(&self, now: bool) {
        self.onlookers.send_modify(|(_, typists)| match now {
            true => *typists += 1,
            false => *typists = typists.saturating_sub(1),
        });
    }
}

/// The class's open terminals, by id.
#[derive(Default)]
pub struct Terminals {
    next: AtomicU64,
    open: Mutex<BTreeMap<u64, Arc<Shared>>>,
}

impl Terminals {
    /// The id of the next terminal, before its shell starts.
    pub fn next_id(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Terminal `id` just opened on `node` of seat `seat`.
    pub fn opened(&self, id: u64, seat: u32, node: &str, keys: Keys, size: (u16, u16)) -> Arc<Shared> {
        let (events, _) = broadcast::channel(BEHIND);
        let shared = Arc::new(Shared {
            id,
            seat,
            node: node.to_string(),
            opened: Instant::now(),
            keys,
            size: Mutex::new(size),
            recent: Mutex::default(),
            events,
            onlookers: watch::channel((0, 0)).0,
            ended: AtomicBool::new(false),
        });
        self.open.lock().unwrap_or_else(PoisonError::into_inner).insert(id, shared.clone());
        shared
    }

    /// Its page closed: its watchers are told, and it is gone from the board.
    pub fn closed(&self, shared: &Shared) {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).remove(&shared.id);
        shared.ended.store(true, Ordering::SeqCst);
        let _ = shared.events.send(Event::Ended);
    }

    /// Terminal `id`, if it is open on seat `seat`.
    pub fn find(&self, seat: u32, id: u64) -> Option<Arc<Shared>> {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(&id).filter(|shared| shared.seat == seat).cloned()
    }

    /// Seat `seat`'s open terminals, oldest first.
    pub fn of_seat(&self, seat: u32) -> Vec<Arc<Shared>> {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.values().filter(|shared| shared.seat == seat).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terminals() -> (Terminals, Arc<Shared>, std::sync::mpsc::Receiver<Vec<u8>>) {
        let terminals = Terminals::default();
        let (keys, typed) = std::sync::mpsc::sync_channel(4);
        let shared = terminals.opened(terminals.next_id(), 3, "manager", keys, (80, 24));
        (terminals, shared, typed)
    }

    #[test]
    fn a_watcher_sees_the_recent_screen_then_what_follows_and_the_end() {
        let (terminals, shared, _) = terminals();
        shared.printed(b"before ");
        let (recent, mut events) = shared.follow();
        assert_eq!(recent, b"before ");
        shared.printed(b"after");
        shared.resized(100, 30);
        terminals.closed(&shared);
        assert!(matches!(events.try_recv(), Ok(Event::Output(bytes)) if &*bytes == b"after"));
        assert!(matches!(events.try_recv(), Ok(Event::Size(100, 30))));
        assert!(matches!(events.try_recv(), Ok(Event::Ended)));
        assert!(terminals.find(3, shared.id).is_none(), "a closed terminal is gone from the board");
        assert!(shared.has_ended(), "a watcher who follows it now is told too");
    }

    #[test]
    fn the_recent_screen_is_bounded() {
        let (_, shared, _) = terminals();
        for _ in 0..100 {
            shared.printed(&[b'x'; 4096]);
        }
        shared.printed(b"last");
        let (recent, _) = shared.follow();
        assert_eq!(recent.len(), RECENT);
        assert!(recent.ends_with(b"last"));
    }

    #[test]
    fn a_terminal_is_found_on_its_own_seat_only_and_holds_a_bounded_number_of_watchers() {
        let (terminals, shared, _) = terminals();
        assert!(terminals.find(3, shared.id).is_some());
        assert!(terminals.find(4, shared.id).is_none(), "not through another seat");
        let onlookers = shared.onlookers();
        assert!(shared.join(false) && shared.join(true));
        assert_eq!(*onlookers.borrow(), (2, 1));
        assert!(shared.join(false) && shared.join(false));
        assert!(!shared.join(false), "a fifth watcher is refused");
        shared.leave(true);
        assert_eq!(*onlookers.borrow(), (3, 0));
        assert_eq!(terminals.of_seat(3).len(), 1);
    }
}
