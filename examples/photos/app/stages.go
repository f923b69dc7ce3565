package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"net/url"
	"path"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"golang.org/x/image/draw"

	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// Photo is a row of the photos table.
type Photo struct {
	ID     string `dynamodbav:"id"`
	Album  string `dynamodbav:"album"`
	Key    string `dynamodbav:"key"`
	Thumb  string `dynamodbav:"thumb"`
	Width  int    `dynamodbav:"width"`
	Height int    `dynamodbav:"height"`
	Size   int64  `dynamodbav:"size"`
}

// ThumbWidth is the width thumbnails are scaled to.
const ThumbWidth = 160

// PhotoID names the photo of an upload key: incoming/ALBUM/NAME.jpg has
// id ALBUM/NAME.jpg. Uploads directly under incoming/ are in album "default".
func PhotoID(key string) (id, album string) {
	id = strings.TrimPrefix(key, "incoming/")
	album = "default"
	if dir := path.Dir(id); dir != "." {
		album = dir
	}
	return id, album
}

// ThumbKey is where the thumbnail of an upload goes.
func ThumbKey(id string) string {
	return "thumbs/" + strings.TrimSuffix(id, path.Ext(id)) + ".png"
}

// errBadImage marks uploads that are not images: they are quarantined, not retried.
var errBadImage = errors.New("not a JPEG or PNG image")

// MakeThumbnail scales an uploaded JPEG or PNG down to ThumbWidth pixels
// wide, stores it under thumbs/ and records the photo. An upload that is
// not an image is copied to quarantine/ (its reason in the copy's
// metadata and in a .reason.txt next to it), where it triggers nothing;
// the upload itself stays, for its owner to replace or remove.
//
// Redelivered events redo the same work with the same result. An event
// whose upload is gone by now is skipped: its removal's event cleans up.
func MakeThumbnail(ctx context.Context, o triggers.Object) error {
	data, err := Uploads.Get(ctx, o.Key)
	if isNotFound(err) {
		pipeline.Logger(ctx).Info("skipped: the upload is gone", "key", o.Key)
		return nil
	}
	if err != nil {
		return err
	}
	id, album := PhotoID(o.Key)
	img, err := decodeImage(data)
	if err != nil {
		return quarantine(ctx, o, id, err)
	}
	thumb := Scale(img, ThumbWidth)
	var buf bytes.Buffer
	if err := png.Encode(&buf, thumb); err != nil {
		return fmt.Errorf("encode thumbnail: %w", err)
	}
	if err := Uploads.Put(ctx, ThumbKey(id), buf.Bytes(), pipeline.ContentType("image/png")); err != nil {
		return err
	}
	b := img.Bounds()
	return Photos.Put(ctx, Photo{ID: id, Album: album, Key: o.Key, Thumb: ThumbKey(id), Width: b.Dx(), Height: b.Dy(), Size: o.Size})
}

// QuarantineKey is where an upload that is not an image goes; its reason
// is at QuarantineKey(id) + ".reason.txt".
func QuarantineKey(id string) string { return "quarantine/" + id }

func quarantine(ctx context.Context, o triggers.Object, id string, why error) error {
	pipeline.Logger(ctx).Warn("quarantined", "key", o.Key, "reason", why.Error())
	reason := fmt.Sprintf("%s: %v\n", o.Key, why)
	if err := Uploads.Put(ctx, QuarantineKey(id)+".reason.txt", []byte(reason), pipeline.ContentType("text/plain")); err != nil {
		return err
	}
	bucket := Uploads.PhysicalName(ctx)
	client := Uploads.S3(ctx)
	_, err := client.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket:            &bucket,
		Key:               aws.String(QuarantineKey(id)),
		CopySource:        aws.String(url.PathEscape(bucket) + "/" + strings.ReplaceAll(url.PathEscape(o.Key), "%2F", "/")),
		CopySourceIfMatch: etag(o.ETag),
		MetadataDirective: s3types.MetadataDirectiveReplace,
		Metadata:          map[string]string{"quarantine-reason": why.Error(), "source-key": o.Key},
	})
	if isNotFound(err) || isPreconditionFailed(err) {
		return nil // removed or replaced since: the newer version's event decides
	}
	if err != nil {
		return fmt.Errorf("quarantine %s: %w", o.Key, err)
	}
	return nil
}

func etag(e string) *string {
	if e == "" {
		return nil
	}
	return aws.String(`"` + e + `"`)
}

func isNotFound(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound")
}

func isPreconditionFailed(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "PreconditionFailed"
}

func decodeImage(data []byte) (image.Image, error) {
	if img, err := jpeg.Decode(bytes.NewReader(data)); err == nil {
		return img, nil
	}
	if img, err := png.Decode(bytes.NewReader(data)); err == nil {
		return img, nil
	}
	return nil, errBadImage
}

// Scale returns img scaled to the given width, keeping its aspect ratio.
func Scale(img image.Image, width int) image.Image {
	b := img.Bounds()
	if b.Dx() <= width {
		width = b.Dx()
	}
	height := b.Dy() * width / max(b.Dx(), 1)
	dst := image.NewRGBA(image.Rect(0, 0, width, max(height, 1)))
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, b, draw.Over, nil)
	return dst
}

// RemovePhoto deletes the thumbnail and the record of a removed upload.
// When the upload exists again (it was uploaded anew after the removal
// and the events arrived out of order), the thumbnail and record belong
// to the new upload and are kept.
func RemovePhoto(ctx context.Context, o triggers.Object) error {
	bucket := Uploads.PhysicalName(ctx)
	_, err := Uploads.S3(ctx).HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &o.Key})
	if err == nil {
		pipeline.Logger(ctx).Info("kept: the upload exists again", "key", o.Key)
		return nil
	}
	if !isNotFound(err) {
		return fmt.Errorf("cleanup %s: %w", o.Key, err)
	}
	id, _ := PhotoID(o.Key)
	if err := Uploads.Delete(ctx, ThumbKey(id)); err != nil {
		return err
	}
	return Photos.Delete(ctx, map[string]string{"id": id})
}

// CountAlbum keeps the per-album count: +1 for an inserted photo, -1 for
// a removed one. Streams deliver records at least once, so the count and
// a marker saying whether the photo is counted (an item of album-photos)
// change together in one transaction, conditional on the marker: a record
// delivered again finds the marker as it left it and changes nothing.
func CountAlbum(ctx context.Context, c triggers.Change[Photo]) error {
	var p *Photo
	delta, cond := 1, "attribute_not_exists(id)"
	switch c.Kind {
	case triggers.Insert:
		p = c.New
	case triggers.Remove:
		p, delta, cond = c.Old, -1, "attribute_exists(id)"
	default:
		return nil
	}
	if p == nil {
		return fmt.Errorf("count album: the %s record %s has no image of the photo", c.Kind, c.EventID)
	}
	marker := map[string]types.AttributeValue{
		"album": &types.AttributeValueMemberS{Value: p.Album},
		"id":    &types.AttributeValueMemberS{Value: p.ID},
	}
	markerTable := AlbumPhotos.PhysicalName(ctx)
	mark := types.TransactWriteItem{}
	if delta > 0 {
		mark.Put = &types.Put{TableName: &markerTable, Item: marker, ConditionExpression: &cond}
	} else {
		mark.Delete = &types.Delete{TableName: &markerTable, Key: marker, ConditionExpression: &cond}
	}
	albums := Albums.PhysicalName(ctx)
	_, err := Albums.DynamoDB(ctx).TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{mark, {Update: &types.Update{
			TableName:        &albums,
			Key:              map[string]types.AttributeValue{"album": &types.AttributeValueMemberS{Value: p.Album}},
			UpdateExpression: aws.String("ADD photos :d"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":d": &types.AttributeValueMemberN{Value: fmt.Sprint(delta)},
			},
		}}},
	})
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) && len(tce.CancellationReasons) > 0 && aws.ToString(tce.CancellationReasons[0].Code) == "ConditionalCheckFailed" {
		pipeline.Logger(ctx).Info("already counted", "album", p.Album, "photo", p.ID, "kind", string(c.Kind))
		return nil
	}
	if err != nil {
		return fmt.Errorf("count album %q (photo %s): %w", p.Album, p.ID, err)
	}
	return nil
}
