package cdk

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"sync"
	"time"

	awscdkjsii "github.com/aws/aws-cdk-go/awscdk/v2/jsii"
	jsiiruntime "github.com/aws/jsii-runtime-go/runtime"
)

// The support package is a small JavaScript package the construct loads
// into the jsii kernel, next to aws-cdk-lib, for the two places where
// synth time went to the bridge between Go and JavaScript rather than to
// CDK itself:
//
//   - CfnInclude reads every template with a YAML parser, which took most
//     of its time on the fragment: about 0.45 s of a 200-stage app's
//     synth, where JSON.parse takes 10 ms. The kernel runs a package's
//     main module when it loads it; this one makes CfnInclude read the
//     fragment's files (named nanopipe-*.template.json, written as JSON by
//     fragment.write) with JSON.parse. JSON is YAML, so the values are the
//     same. Any other file, or a fragment JSON.parse refuses, goes to
//     CfnInclude's own reader. Should a later aws-cdk-lib move that
//     reader, nothing changes but the speed (TestFragmentReadAsJSON
//     notices).
//   - The S3 notifications go through the buckets' L2 constructs: five
//     jsii round trips per S3 stage from Go, one call in all from here
//     (Support.addObjectTriggers), with the same constructs, ids and order.
//
// The package is three small text files written here: its package.json, a
// jsii assembly declaring the Support class, and the module. It uses only
// aws-cdk-lib's public API, apart from the reader it replaces.
const (
	supportPackage = "@nanopipe/cdk-support"
	supportVersion = "1.0.0"
	supportFQN     = supportPackage + ".Support"
)

const supportModule = `'use strict';
const fs = require('fs');
const path = require('path');
const cdk = require('aws-cdk-lib');

// CfnInclude reads the nanopipe construct's template fragments
// (nanopipe-*.template.json, always JSON) with JSON.parse instead of its
// YAML parser. Other files are left to it.
const fragment = /^nanopipe-.*\.template\.json$/;
let jsonReader = false;
try {
  const lib = path.dirname(require.resolve('aws-cdk-lib'));
  const files = require(path.join(lib, 'cloudformation-include', 'lib', 'file-utils.js'));
  const readYaml = files.readYamlSync;
  if (typeof readYaml === 'function' && !readYaml.nanopipe) {
    const read = function (file) {
      if (fragment.test(path.basename(String(file)))) {
        try {
          return JSON.parse(fs.readFileSync(file, 'utf8'));
        } catch (e) {
          // Not JSON after all: the YAML reader says what is wrong.
        }
      }
      return readYaml.apply(this, arguments);
    };
    read.nanopipe = true;
    files.readYamlSync = read;
    jsonReader = true;
  }
} catch (e) {
  // aws-cdk-lib laid out otherwise: CfnInclude keeps its own reader.
}

class Support {
  // addObjectTriggers adds the S3 notifications of the functions serving
  // S3 stages. plan is JSON: [{id, function, notifications: [{bucket,
  // events, prefix, suffix}]}], where id is the id of the function's
  // reference under scope, function its logical ID in template, bucket
  // the id of the bucket's construct under scope, and events the names of
  // s3.EventType members (OBJECT_CREATED, ...).
  static addObjectTriggers(scope, template, plan) {
    for (const f of JSON.parse(plan)) {
      const fn = cdk.aws_lambda.Function.fromFunctionAttributes(scope, f.id, {
        functionArn: template.getResource(f.function).attrArn,
        sameEnvironment: true,
      });
      const dest = new cdk.aws_s3_notifications.LambdaDestination(fn);
      for (const n of f.notifications) {
        const bucket = scope.node.findChild(n.bucket);
        const filters = [];
        if (n.prefix || n.suffix) {
          const filter = {};
          if (n.prefix) filter.prefix = n.prefix;
          if (n.suffix) filter.suffix = n.suffix;
          filters.push(filter);
        }
        for (const name of n.events) {
          const event = cdk.aws_s3.EventType[name];
          if (event === undefined) {
            throw new Error('nanopipe: aws-cdk-lib has no S3 event type ' + name);
          }
          bucket.addEventNotification(event, dest, ...filters);
        }
      }
    }
  }

  static jsonReader() {
    return jsonReader;
  }
}

module.exports = { Support };
`

// loadSupport loads the support package into the jsii kernel. The kernel
// client loads a package once; after jsii.Close the next call starts a new
// kernel, which this loads it into again.
func loadSupport() {
	// The module finds aws-cdk-lib where the kernel put it: load that
	// first.
	awscdkjsii.Initialize()
	jsiiruntime.Load(supportPackage, supportVersion, supportPackageBytes())
}

var supportPackageBytes = sync.OnceValue(supportTarball)

// supportAssembly is the package's jsii assembly: the Support class and
// its static methods, in the form the kernel reads to call them.
func supportAssembly() map[string]any {
	param := func(name string, typ map[string]any) map[string]any {
		return map[string]any{"name": name, "type": typ}
	}
	return map[string]any{
		"schema":      "jsii/0.10.0",
		"name":        supportPackage,
		"version":     supportVersion,
		"description": "Synth support for the nanopipe construct",
		"homepage":    "https://github.com/nanopipe/nanopipe",
		"repository":  map[string]any{"type": "git", "url": "https://github.com/nanopipe/nanopipe.git"},
		"author":      map[string]any{"name": "nanopipe", "roles": []string{"author"}},
		"license":     "UNLICENSED",
		"jsiiVersion": "1.142.0",
		"fingerprint": "nanopipe-cdk-support-" + supportVersion,
		"dependencies": map[string]any{
			"aws-cdk-lib": "^2.0.0",
			"constructs":  "^10.0.0",
		},
		"types": map[string]any{
			supportFQN: map[string]any{
				"assembly": supportPackage,
				"fqn":      supportFQN,
				"kind":     "class",
				"name":     "Support",
				"methods": []any{
					map[string]any{
						"name":   "addObjectTriggers",
						"static": true,
						"parameters": []any{
							param("scope", map[string]any{"fqn": "constructs.Construct"}),
							param("template", map[string]any{"fqn": "aws-cdk-lib.cloudformation_include.CfnInclude"}),
							param("plan", map[string]any{"primitive": "string"}),
						},
					},
					map[string]any{
						"name":    "jsonReader",
						"static":  true,
						"returns": map[string]any{"type": map[string]any{"primitive": "boolean"}},
					},
				},
			},
		},
	}
}

// supportTarball is the package as npm packs it (files under package/),
// with fixed times so the kernel's package cache sees the same bytes
// every run.
func supportTarball() []byte {
	pkg, _ := json.Marshal(map[string]any{
		"name":        supportPackage,
		"version":     supportVersion,
		"description": "Synth support for the nanopipe construct",
		"main":        "index.js",
		"private":     true,
	})
	assembly, _ := json.Marshal(supportAssembly())
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	mtime := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, f := range []struct {
		name string
		body []byte
	}{
		{"package/package.json", pkg},
		{"package/.jsii", assembly},
		{"package/index.js", []byte(supportModule)},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), ModTime: mtime, Typeflag: tar.TypeReg}); err != nil {
			panic(err)
		}
		if _, err := tw.Write(f.body); err != nil {
			panic(err)
		}
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}
