//! The engine end to end: started on a free port, driven over gRPC like a client.

mod engine {
    mod access;
    mod assessment;
    mod cli;
    mod closed_loop;
    mod crash;
    mod deploy;
    mod escalation;
    mod hardening;
    mod intake;
    mod lifecycle;
    mod open311;
    mod reload;
    mod retention;
    mod routing;
    mod service;
    mod terminal_console;
    mod tls_oidc;
    mod web;
}
