// Package stages holds ready-made stages: common jobs of event-driven
// pipelines, each declared with one call that returns an ordinary
// *pipeline.Stage (configure it further with Timeout, Memory, Group...).
//
//	var load = stages.Load[Customer](app, "load",
//		uploads.Created(triggers.Prefix("incoming/"), triggers.Suffix(".csv")),
//		customers,
//	).Timeout(5 * time.Minute).Memory(1024)
//
// # The stages
//
//   - Copy and Move: copy (or move) each created object to another prefix
//     or bucket, server-side, in parts above 5 GiB.
//   - Index: keep a table of object metadata in step with a bucket.
//   - Load: load CSV, TSV or JSON-lines uploads into a table in batches,
//     invalid rows reported next to the upload.
//   - Cascade: when an item is removed, remove the items and objects that
//     belong to it.
//   - Archive: write every removed item (deleted or expired by time to
//     live) to S3 as JSON.
//
// # Grants
//
// Each stage declares what it reads, writes and deletes, exactly: a Move
// from incoming/ reads and deletes incoming/* and writes the destination
// prefix; a Load reads its uploads and writes its table and its reports.
// Those declarations become the function's IAM policy when deployed, are
// the accesses the local environment allows, and are what
// App.Validate checks for loops: a Move into the prefix that
// triggers it, or a Load whose reports would trigger it again, is refused
// with the reason.
//
// # Delivery
//
// S3 and DynamoDB Streams deliver at least once, S3 not always in order.
// Every stage here is idempotent: running it twice on an event leaves what
// running it once does. Stages acting on objects act on the version their
// event names (conditional on its ETag) and skip events whose object was
// replaced or removed since, because the newer version has its own event;
// Index orders writes by S3's sequencer. Errors say what failed on which
// object or table, and are returned so that Lambda retries: an error never
// hides a lost event.
//
// # Declaration errors
//
// Misdeclarations (a Load on a Removed trigger, a Cascade whose trigger
// excludes removals, a row type without the table's key) are reported
// through the app (App.Report) like pipeline's own declarations: they
// panic at the declaration with a message naming the stage and the fix,
// or, for an app made with pipeline.CollectErrors, are returned by the
// app's Validate. A constructor always returns a usable stage, so chained
// calls such as .Timeout(...) work either way; a misdeclared one is a
// stand-in whose every invocation fails with the declaration error.
//
// # Sizing a load
//
// Load streams its upload: memory stays flat whatever the file's size
// (about 256 KB of read buffer, 25 items per writer, the report's listed
// errors). Its time is the rows divided by the write rate, which is set
// by the Writers (concurrent BatchWriteItem calls of 25 items, default 4)
// and by the table. A BatchWriteItem call takes about 10-30 ms in AWS, so
// a writer puts roughly 800-2,500 rows a second and 8 writers 6,000 or
// more, as long as the table keeps up: an on-demand table takes 4,000
// writes a second when new and scales from there; a throttled batch
// comes back as unprocessed items, retried with backoff. The ingest
// example's end-to-end test loads 100,000 rows on the local environment
// in about 14 seconds (7,000 rows a second, 8 writers, on two shared
// cores).
//
// Give a load a Timeout that fits the largest file with a margin, at
// most 15 minutes: Timeout(5 * time.Minute) suits files of up to about a
// million rows. If a file takes longer, the load is still safe: with a
// tenth of the time left it stops reading, lets its writes finish,
// records in the report where it stopped and fails, and Lambda's retry of
// the event (two retries by default, after about one and two minutes)
// resumes there. So a file may take up to three timeouts; files larger
// than that should be split. Memory above the default mostly buys CPU and
// network for parsing and writing: 1,024 MB is a good start.
//
// # Reports
//
// A Load leaves a Report next to the upload (KEY + ReportSuffix, or where
// ReportTo says) when rows were invalid or the file could not be read:
// counts, the invalid rows with their line and reason, the columns it
// ignored. A clean load removes the report of an earlier version.
package stages
