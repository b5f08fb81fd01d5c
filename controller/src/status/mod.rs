//! The status model (M11): what aegis last observed and did, per resource.
//!
//! Plain data ([`ResourceStatus`], [`Condition`], [`Event`], [`InventoryItem`]) plus a
//! [`StatusStore`] that the control loop writes and the API reads. Conditions follow
//! kstatus: `Ready`, `Reconciling` and `Stalled`, and a condition's `last_transition`
//! moves only when its status flips.
//!
//! Status never holds secret values: write names, states and messages here, never env
//! values or file contents.

pub mod agent;
mod conditions;
mod kind_word;
mod model;
mod persist;
mod readiness;
mod rollback;
mod selector;
mod source;
mod store;
mod time;
mod transitions;

pub use agent::{AgentReport, ApiCheck, GuardReport, TunnelReport};
pub use conditions::{reason, set_condition, ConditionStatus, ConditionType};
pub use kind_word::{kind_from_word, kind_plural};
pub use model::{
    Condition, Event, EventReason, EventType, InventoryItem, InventoryKind, ResourceStatus, RolledBackSpec,
    StatusKey, EVENTS_MAX,
};
pub use readiness::{stack_readiness, Readiness};
pub use selector::{LabelSelector, SelectorError};
pub use source::{rejection_line, source_reason, RejectedRevision, SourceStatus};
pub use store::{Change, ChangeType, ListFilter, StatusError, StatusStore, PERSIST_DEBOUNCE};
pub use time::Timestamp;
