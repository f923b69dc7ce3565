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

// CfnInclude reads every template with a YAML parser, which takes most of
// its time on the fragment: about 0.45 s of a 200-stage app's synth, where
// JSON.parse takes 10 ms. The jsii kernel runs a package's main module
// when it loads the package, so the construct loads a package of its own,
// built here, whose main module makes CfnInclude read the fragment's files
// (named nanopipe-*.template.json, written as JSON by fragment.write) with
// JSON.parse. JSON is YAML, so the values are the same either way. Any
// other file, or a fragment JSON.parse refuses, goes to CfnInclude's own
// reader. Should a later aws-cdk-lib move that reader, the module changes
// nothing and synth is only slower (TestFragmentReadAsJSON notices).
//
// The package is made of three small text files: its package.json, a jsii
// assembly declaring no types, and the module.
const (
	jsonReaderPackage = "@nanopipe/cdk-template-reader"
	jsonReaderVersion = "1.0.0"
)

const jsonReaderModule = `'use strict';
// Makes aws-cdk-lib's CfnInclude read the template fragments of the
// nanopipe construct (nanopipe-*.template.json, always JSON) with
// JSON.parse instead of its YAML parser. Other files are left to it.
const fs = require('fs');
const path = require('path');
const fragment = /^nanopipe-.*\.template\.json$/;
let installed = false;
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
    installed = true;
  }
} catch (e) {
  // aws-cdk-lib laid out otherwise: CfnInclude keeps its own reader.
}
module.exports = { installed };
`

var loadJSONReader = sync.OnceFunc(func() {
	// The module finds aws-cdk-lib where the kernel put it: load that
	// first.
	awscdkjsii.Initialize()
	jsiiruntime.Load(jsonReaderPackage, jsonReaderVersion, jsonReaderTarball())
})

// jsonReaderTarball is the package as npm packs it (files under
// package/), with fixed times so the kernel's package cache sees the same
// bytes every run.
func jsonReaderTarball() []byte {
	pkg, _ := json.Marshal(map[string]any{
		"name":        jsonReaderPackage,
		"version":     jsonReaderVersion,
		"description": "Reads the nanopipe construct's template fragments as JSON in CfnInclude",
		"main":        "index.js",
		"private":     true,
	})
	assembly, _ := json.Marshal(map[string]any{
		"schema":      "jsii/0.10.0",
		"name":        jsonReaderPackage,
		"version":     jsonReaderVersion,
		"description": "Reads the nanopipe construct's template fragments as JSON in CfnInclude",
		"homepage":    "https://github.com/nanopipe/nanopipe",
		"repository":  map[string]any{"type": "git", "url": "https://github.com/nanopipe/nanopipe.git"},
		"author":      map[string]any{"name": "nanopipe", "roles": []string{"author"}},
		"license":     "UNLICENSED",
		"jsiiVersion": "1.142.0",
		"fingerprint": "nanopipe-cdk-template-reader-" + jsonReaderVersion,
		"types":       map[string]any{},
	})
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
		{"package/index.js", []byte(jsonReaderModule)},
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
