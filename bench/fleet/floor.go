package main

import (
	"context"
	"fmt"
	"os"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/dynamo-infra/dynamo-infra/internal/inventory"
)

// floorModes are the ways of making the inventory's two LISTs (every node; the active pods of
// every namespace) that the benchmark measures: what any client-go program making those
// requests must at least spend, with no work on the answers but decoding them into typed
// objects.
var floorModes = map[string]floorMode{
	// What `dynamoctl gpus` asked until issue 31: a consistent read (resourceVersion unset),
	// pages of 500, nodes then pods.
	"paged": {pageSize: 500},
	// The same pages, nodes and pods at once.
	"paged-concurrent": {pageSize: 500, concurrent: true},
	// One request each from the API server's watch cache (resourceVersion=0: any state at
	// least as new as the cache's), nodes then pods.
	"cache": {rv0: true},
	// The same, nodes and pods at once.
	"cache-concurrent": {rv0: true, concurrent: true},
	// Watch cache, pages of 500 (served from the cache's snapshots on servers that have them).
	"cache-paged": {rv0: true, pageSize: 500},
	// Consistent read without pages.
	"whole": {},
	// JSON instead of protobuf, the old requests: what a client without protobuf pays.
	"paged-json": {pageSize: 500, json: true},
	// Responses not compressed (client-go asks for gzip by default).
	"paged-plain":            {pageSize: 500, plain: true},
	"paged-plain-concurrent": {pageSize: 500, plain: true, concurrent: true},
	"paged2000-plain":        {pageSize: 2000, plain: true},
	"paged5000-plain":        {pageSize: 5000, plain: true},
	"paged5000":              {pageSize: 5000},
	"cache-plain":            {rv0: true, plain: true},
}

type floorMode struct {
	pageSize   int64
	rv0        bool
	concurrent bool
	json       bool
	plain      bool
}

// floor makes the two LISTs of mode against kubeconfig and keeps nothing.
func floor(mode, kubeconfig string) error {
	m, ok := floorModes[mode]
	if !ok {
		return fmt.Errorf("unknown floor mode %q", mode)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	if !m.json {
		cfg.ContentType = runtime.ContentTypeProtobuf
		cfg.AcceptContentTypes = runtime.ContentTypeProtobuf
	}
	cfg.QPS, cfg.Burst = 50, 100
	cfg.DisableCompression = m.plain
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx := context.Background()
	opts := metav1.ListOptions{Limit: m.pageSize}
	if m.rv0 {
		opts.ResourceVersion = "0"
	}
	var nodes, pods int
	listNodes := func() error {
		o := opts
		for {
			l, err := cs.CoreV1().Nodes().List(ctx, o)
			if err != nil {
				return err
			}
			nodes += len(l.Items)
			if o.Continue = l.Continue; o.Continue == "" {
				return nil
			}
			o.ResourceVersion = ""
		}
	}
	listPods := func() error {
		o := opts
		o.FieldSelector = inventory.ActivePodsSelector
		for {
			l, err := cs.CoreV1().Pods("").List(ctx, o)
			if err != nil {
				return err
			}
			pods += len(l.Items)
			if o.Continue = l.Continue; o.Continue == "" {
				return nil
			}
			o.ResourceVersion = ""
		}
	}
	if m.concurrent {
		var wg sync.WaitGroup
		var nerr error
		wg.Add(1)
		go func() { defer wg.Done(); nerr = listNodes() }()
		err = listPods()
		wg.Wait()
		if err == nil {
			err = nerr
		}
	} else if err = listNodes(); err == nil {
		err = listPods()
	}
	if err != nil {
		return err
	}
	if nodes == 0 || pods == 0 {
		return fmt.Errorf("listed %d nodes and %d pods", nodes, pods)
	}
	fmt.Fprintf(os.Stdout, "%d nodes, %d pods\n", nodes, pods)
	return nil
}
