//! The Docker Engine API (bollard): connections, observed state, actions.
