"""Console accounts: members of workspaces with a role (eventsync/access.py), their
passwords (argon2id), TOTP and recovery codes, server-side sessions, one-time tokens
(invitations, password resets, single sign-on state), sign-in throttling, per-workspace
MFA and OpenID Connect settings, and the e-mail that carries tokens.

Plain functions on an Engine, like the rest of the library: the console
(eventsync/console/) is their only web caller, the CLI and `make demo` call them too.
"""
