// Package conformance is the one suite of pipeline tests that every
// backend of the local environment passes: the embedded S3 and DynamoDB,
// DynamoDB Local for tables and streams, and versitygw for buckets, in any
// combination. It follows gocloud.dev's drivertest: a backend is described
// by a small Backend value and Run runs every test against it.
//
// # What it checks
//
//   - S3 event records of every path (Put, Copy, CompleteMultipartUpload,
//     Delete, DeleteObjects, versioned buckets with delete markers) in
//     AWS's exact shape: eventVersion, encoded keys, sizes and eTags,
//     request IDs matching the response, sequencers ordering one key's
//     events, no event for a delete that removed nothing;
//   - S3 filters, asynchronous retries and dead letters;
//   - stream records of every view type (KEYS_ONLY, NEW_IMAGE, OLD_IMAGE,
//     NEW_AND_OLD_IMAGES) and kind (INSERT, MODIFY, REMOVE), with every
//     attribute type in the images, numbers normalised as DynamoDB does;
//   - records' SizeBytes, numbers sized as DynamoDB stores them;
//   - conditional writes (a failed one, or one that changes nothing,
//     writes no record), transactions (a cancelled one writes nothing and
//     says why), per-item ordering, stream filters, partial batch
//     responses with retries and bisection, dead letters, tumbling
//     windows and LATEST starting positions (records dated to the
//     second);
//   - request checks of the DynamoDB and S3 APIs where the embedded
//     servers once differed from DynamoDB Local or versitygw: reserved
//     words, key and nesting limits, numbers, empty pages, filters on
//     keys, bucket and version errors, conditional and ranged reads,
//     listings, multipart errors.
//
// # Running it
//
// The package's own tests run the suite on every backend combination;
// DynamoDB Local is started once for the test binary (TestMain) and
// shared, each test naming its tables uniquely. A backend that cannot be
// started fails the tests: scripts/backends-setup.sh installs them.
package conformance
