//! TLS on both listeners, and tokens of a city's own OpenID Connect provider.
