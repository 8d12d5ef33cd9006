//! Receiving Partner Center webhook callbacks: verification and parsing.
