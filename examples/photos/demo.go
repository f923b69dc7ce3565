package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nanopipe/nanopipe/examples/photos/app"
	"github.com/nanopipe/nanopipe/local"
)

// demoKey is where the demo uploads the bundled sample.
const demoKey = "incoming/samples/sample.jpg"

// demo uploads the bundled sample image and reports what the stages made
// of it: the thumbnail, the photo's record and the album's count.
func demo(sample string) func(context.Context, *local.Environment, func(string)) error {
	return func(ctx context.Context, env *local.Environment, say func(string)) error {
		data, err := os.ReadFile(sample)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // run from elsewhere than the repository root: no demo
		}
		if err != nil {
			return fmt.Errorf("read the sample image: %w", err)
		}
		s3c, ddb := env.S3Client(), env.DynamoDBClient()
		bucket := app.Uploads.Name()
		say(fmt.Sprintf("demo: uploading %s (%d bytes) to s3://%s/%s", sample, len(data), bucket, demoKey))
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(demoKey), Body: bytes.NewReader(data), ContentType: aws.String("image/jpeg")}); err != nil {
			return fmt.Errorf("upload the sample: %w", err)
		}
		id, album := app.PhotoID(demoKey)
		thumb := app.ThumbKey(id)
		deadline := time.Now().Add(20 * time.Second)
		for {
			head, herr := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &thumb})
			photo, perr := ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(app.Photos.Name()), Key: map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}}, ConsistentRead: aws.Bool(true)})
			count, cerr := ddb.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(app.Albums.Name()), Key: map[string]types.AttributeValue{"album": &types.AttributeValueMemberS{Value: album}}, ConsistentRead: aws.Bool(true)})
			if herr == nil && perr == nil && cerr == nil && photo.Item != nil && count.Item != nil {
				say(fmt.Sprintf("demo: thumbnail  s3://%s/%s (%d bytes)", bucket, thumb, aws.ToInt64(head.ContentLength)))
				say(fmt.Sprintf("demo: photo      table %s: %s", app.Photos.Name(), itemText(photo.Item)))
				say(fmt.Sprintf("demo: album      table %s: %s", app.Albums.Name(), itemText(count.Item)))
				say("demo: done; upload your own JPEG or PNG under incoming/ with the commands above")
				return nil
			}
			if time.Now().After(deadline) {
				return errors.New("the stages did not produce the thumbnail, the photo record and the album count within 20s: see the delivery lines above and the dead letters")
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// itemText renders an item compactly, attributes in a stable order.
func itemText(item map[string]types.AttributeValue) string {
	keys := make([]string, 0, len(item))
	for k := range item {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		switch v := item[k].(type) {
		case *types.AttributeValueMemberS:
			fmt.Fprintf(&b, "%s: %q", k, v.Value)
		case *types.AttributeValueMemberN:
			fmt.Fprintf(&b, "%s: %s", k, v.Value)
		case *types.AttributeValueMemberBOOL:
			fmt.Fprintf(&b, "%s: %v", k, v.Value)
		default:
			fmt.Fprintf(&b, "%s: …", k)
		}
	}
	b.WriteByte('}')
	return b.String()
}
