//go:build tools

// Package tools keeps istio.io/api required, so that go mod download resolves the pinned version.
package tools

import _ "istio.io/api/networking/v1"
