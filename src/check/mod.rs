//! The consistency checker: compares a draft with the approved answer and the retrieved sources
//! and returns a verdict whose findings carry character spans for the console.
