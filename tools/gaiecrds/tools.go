//go:build tools

// Package tools keeps sigs.k8s.io/gateway-api-inference-extension required, so that go mod
// download resolves the pinned version.
package tools

import _ "sigs.k8s.io/gateway-api-inference-extension/api/v1"
