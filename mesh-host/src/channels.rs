//! The channels an adapter answers its callers on, as the shared host code
//! sees them: one-shot replies and bounded event queues. Each runtime has
//! its own channel types; [`Channels`] names them and says how to use them.

use mesh_proto::mesh::Event;

/// What became of an event offered to one subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Publish {
    /// Queued for the subscriber.
    Sent,
    /// The subscriber's queue is full: this event is dropped for it.
    Full,
    /// The subscriber is gone: forget it.
    Gone,
}

/// A runtime's reply and subscriber channels.
///
/// Implemented by a marker type of each adapter (the channel types are not
/// the adapter's own, so the channels cannot carry the trait themselves).
pub trait Channels {
    /// The sending side of a one-shot answer to a caller.
    type Reply<T>;
    /// The sending side of one event subscriber's bounded queue.
    type Subscriber;

    /// Answers; gives `value` back if the caller stopped waiting.
    fn reply<T>(to: Self::Reply<T>, value: T) -> Result<(), T>;

    /// Whether the caller already stopped waiting (`false` where the channel
    /// cannot tell: the answer is then made and dropped).
    fn gave_up<T>(to: &Self::Reply<T>) -> bool;

    /// Offers `event` to one subscriber without waiting.
    fn publish(to: &Self::Subscriber, event: Event) -> Publish;
}
