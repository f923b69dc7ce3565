package stages_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/nanopipe/nanopipe/local"
	"github.com/nanopipe/nanopipe/pipeline"
	"github.com/nanopipe/nanopipe/stages"
	"github.com/nanopipe/nanopipe/triggers"
)

// Product is a row of the uploads and an item of the products table.
type Product struct {
	SKU   string  `dynamodbav:"sku"`
	Name  string  `dynamodbav:"name"`
	Price float64 `dynamodbav:"price"`
}

// Load a CSV upload into a table on the local environment; the invalid
// row is reported next to the upload.
func ExampleLoad() {
	app := pipeline.New("catalog")
	uploads := app.Bucket("catalog-uploads")
	products := app.Table("products", pipeline.PartitionKey("sku", pipeline.String))
	stages.Load[Product](app, "load", uploads.Created(triggers.Prefix("incoming/"), triggers.Suffix(".csv")), products).
		Timeout(5 * time.Minute)

	ctx := context.Background()
	env, err := local.Start(ctx, app, local.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	defer env.Close(ctx)
	csv := "sku,name,price\nA-1,Anvil,99.5\nB-2,Bucket,cheap\nC-3,Crate,12\n"
	env.S3Client().PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("catalog-uploads"), Key: aws.String("incoming/june.csv"), Body: strings.NewReader(csv)})
	env.WaitIdle(ctx, 50*time.Millisecond)

	scan, _ := env.DynamoDBClient().Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("products")})
	fmt.Println("items:", scan.Count)
	out, _ := env.S3Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("catalog-uploads"), Key: aws.String("incoming/june.csv" + stages.ReportSuffix)})
	body, _ := io.ReadAll(out.Body)
	var rep stages.Report
	json.Unmarshal(body, &rep)
	fmt.Printf("rows %d, loaded %d, invalid %d\n", rep.Rows, rep.Loaded, rep.Invalid)
	fmt.Printf("line %d: %s\n", rep.Errors[0].Line, rep.Errors[0].Error)
	// Output:
	// items: 2
	// rows 3, loaded 2, invalid 1
	// line 3: column "price": "cheap" is not a number
}

// Move processed files to an archive bucket: the copy, then the removal
// of the source, with the grants declared.
func ExampleMove() {
	app := pipeline.New("files")
	inbox := app.Bucket("files-inbox")
	archive := app.Bucket("files-archive")
	stages.Move(app, "archive", inbox.Created(triggers.Prefix("done/")), archive, "2026/")
	var d struct {
		Stages []struct {
			Name                   string
			Reads, Writes, Deletes []string
		}
	}
	json.Unmarshal(app.Describe(), &d)
	for _, s := range d.Stages {
		fmt.Println(s.Name, "reads:  ", s.Reads)
		fmt.Println(s.Name, "writes: ", s.Writes)
		fmt.Println(s.Name, "deletes:", s.Deletes)
	}
	// Output:
	// archive reads:   [bucket files-inbox prefix "done/"]
	// archive writes:  [bucket files-archive prefix "2026/"]
	// archive deletes: [bucket files-inbox prefix "done/"]
}
