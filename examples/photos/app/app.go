// Package app declares the photos pipeline: uploads under incoming/ get a
// thumbnail under thumbs/ and a record in the photos table; uploads that
// are not images are copied to quarantine/ with the reason; the table's
// stream keeps a per-album count, exactly once per photo; removing an
// upload removes its thumbnail and record.
package app

import (
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// App is the photos pipeline. The Lambda main, the local command and the
// cdk app all import it.
var App = pipeline.New("photos")

// Resources.
var (
	Uploads = App.Bucket("photos-uploads")
	Photos  = App.Table("photos", pipeline.PartitionKey("id", pipeline.String))
	Albums  = App.Table("albums", pipeline.PartitionKey("album", pipeline.String))
	// AlbumPhotos records which photos an album's count includes, so that
	// a stream record delivered twice is counted once.
	AlbumPhotos = App.Table("album-photos", pipeline.PartitionKey("album", pipeline.String), pipeline.SortKey("id", pipeline.String))
)

// Stages.
var (
	Thumbnail = pipeline.OnObject(App, "thumbnail",
		Uploads.Created(triggers.Prefix("incoming/")),
		MakeThumbnail,
	).Reads(Uploads.Keys("incoming/", "")).
		Writes(Uploads.Keys("thumbs/", ""), Uploads.Keys("quarantine/", ""), Photos).
		Memory(512)

	Cleanup = pipeline.OnObject(App, "cleanup",
		Uploads.Removed(triggers.Prefix("incoming/")),
		RemovePhoto,
	).Reads(Uploads.Keys("incoming/", "")).Writes(Uploads.Keys("thumbs/", ""), Photos)

	CountAlbums = pipeline.OnChange(App, "count-albums",
		Photos.Changes(triggers.Insert, triggers.Remove, triggers.BatchSize(100), triggers.Bisect()),
		CountAlbum,
	).Writes(Albums, AlbumPhotos)
)
