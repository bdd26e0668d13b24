//! `fjord-examples`: runnable scenarios.
//!
//! Each scenario will be a folder holding its configs, SQL files or plugins and one script that
//! runs it against `fjord dev`. This library is empty; it only gives the folder a place in the
//! workspace so that scenario code is built and checked with everything else.
