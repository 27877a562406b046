// Package client is a Go client for tenancy's REST API, generated from the API's
// OpenAPI document (../openapi.json) by oapi-codegen, with a thin layer on top:
// bearer authentication (New), errors that match tenancy's kinds with errors.Is
// (Check), and the pagination loop (Each).
//
// The generated code is committed; regenerate it after changing the document:
//
//	go generate ./httpapi/client
//
// TestGeneratedClientIsCurrent fails when the committed code and a fresh
// generation differ.
package client

//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2 -generate types,client -package client -o client.gen.go ../openapi.json
