// Package clientauth authenticates an OAuth 2.0 client without sending a
// shared secret over the wire, and binds tokens to a key with DPoP.
//
//   - [PrivateKeyJWT] and [ClientSecretJWT] make the signed client assertions
//     of RFC 7523 §2.2 and OpenID Connect Core §9 (token endpoint
//     authentication methods private_key_jwt and client_secret_jwt); both are
//     an [Authenticator].
//   - [TLSClientAuth] authenticates with a TLS client certificate (RFC 8705
//     tls_client_auth and self_signed_tls_client_auth); it is a
//     [CertificateAuthenticator], which a token client presents in the
//     handshake on connections of the certificate's own.
//   - [DPoP] makes the proofs of possession of RFC 9449 that go in a
//     request's DPoP header; [NonceFrom] and [UseDPoPNonce] read the server's
//     nonce signals from a response.
//   - [VerifyAssertion] and [VerifyProof] check assertions and proofs. They
//     are meant for stand-in servers and tests, not for production
//     authorization servers.
//   - [Thumbprint] and [PublicJWK] encode public keys as JWKs (RFC 7517,
//     RFC 7638, RFC 8037), for registering a client's key or checking a
//     token's cnf.jkt.
//
// The package implements exactly the compact JWS it needs, with the standard
// library only: RS256 (RSASSA-PKCS1-v1_5 with SHA-256, keys of 2048 bits or
// more), ES256 (ECDSA P-256 with SHA-256, the signature as the 64-byte r||s
// of RFC 7518 §3.4), EdDSA (Ed25519, RFC 8037) and HS256 (client_secret_jwt
// only). The algorithm follows from the key; there is no "none".
//
// Keys are secrets: every rendering of the types that hold one — fmt with
// any verb, log/slog, encoding/json, encoding/xml, encoding/gob — prints
// "[REDACTED]" in its place or refuses.
package clientauth
