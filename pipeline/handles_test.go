package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nanopipe/nanopipe/local"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/triggers"
)

// TestHandles runs a stage that uses every bucket and table handle against
// the embedded local environment, with its declared access enforced.
func TestHandles(t *testing.T) {
	a := pipeline.New("handles")
	files := a.Bucket("handles-files")
	items := a.Table("handles-items", pipeline.PartitionKey("id", pipeline.String))
	var steps []string
	pipeline.OnObject(a, "copy", files.Created(triggers.Prefix("in/")), func(ctx context.Context, o triggers.Object) error {
		data, err := files.Get(ctx, o.Key)
		if err != nil {
			return err
		}
		steps = append(steps, "get:"+string(data))
		out := "out/" + strings.TrimPrefix(o.Key, "in/")
		if err := files.Put(ctx, out, append(data, '!'), pipeline.ContentType("text/plain")); err != nil {
			return err
		}
		if err := items.Put(ctx, item{ID: o.Key, Status: "copied", Size: int(o.Size)}); err != nil {
			return err
		}
		var got item
		if err := items.Get(ctx, map[string]string{"id": o.Key}, &got); err != nil {
			return err
		}
		steps = append(steps, "item:"+got.Status)
		if err := items.Delete(ctx, map[string]string{"id": o.Key}); err != nil {
			return err
		}
		if err := items.Get(ctx, map[string]string{"id": o.Key}, &got); !errors.Is(err, pipeline.ErrNotFound) {
			return errors.New("Get after Delete: " + errString(err))
		}
		if err := files.Delete(ctx, o.Key); err != nil {
			return err
		}
		// Not declared: refused locally as IAM would refuse it deployed.
		if err := files.Put(ctx, "elsewhere/x", nil); err == nil || !strings.Contains(err.Error(), `add .Writes(<bucket handles-files>.Keys("elsewhere/", ""))`) {
			return errors.New("undeclared write: " + errString(err))
		}
		return nil
	}).Reads(files.Keys("in/", ""), items).Writes(files.Keys("out/", ""), items).Deletes(files.Keys("in/", ""))

	env, err := local.Start(context.Background(), a, local.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close(context.Background())
	ctx := context.Background()
	if _, err := env.S3Client().PutObject(ctx, putInput("handles-files", "in/a.txt", "hello")); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := env.WaitIdle(wctx, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if stats := env.Stats(); len(stats) != 1 || stats[0].Failed != 0 {
		t.Errorf("stage stats %+v, want one stage without failures", stats)
	}
	if strings.Join(steps, ",") != "get:hello,item:copied" {
		t.Fatalf("steps %v", steps)
	}
	got, err := env.S3Client().GetObject(ctx, getInput("handles-files", "out/a.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer got.Body.Close()
	b := make([]byte, 16)
	n, _ := got.Body.Read(b)
	if string(b[:n]) != "hello!" {
		t.Errorf("out/a.txt = %q", b[:n])
	}
	if _, err := env.S3Client().HeadObject(ctx, headInput("handles-files", "in/a.txt")); err == nil {
		t.Error("in/a.txt still there after the stage deleted it")
	}
}

func errString(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}

func putInput(bucket, key, body string) *s3.PutObjectInput {
	return &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}
}

func getInput(bucket, key string) *s3.GetObjectInput {
	return &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
}

func headInput(bucket, key string) *s3.HeadObjectInput {
	return &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
}
