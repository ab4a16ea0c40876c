//go:build tools

// Package monitoringcrds only anchors the Prometheus Operator API package in this module so
// controller-gen can load it.
package monitoringcrds

import _ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
