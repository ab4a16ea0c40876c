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
	// The requests `dynamoctl gpus` made until issue 31: consistent reads (resourceVersion
	// unset), pages of 500, nodes then pods.
	"old": {pageSize: 500},
	// The requests it makes now: pages of 5,000 pods (nodes: 500), nodes and pods at once.
	"new": {pageSize: 5000, nodePageSize: 500, concurrent: true},
	// The API server's watch cache (resourceVersion=0): it ignores the page size and answers
	// each list whole, nodes and pods at once.
	"cache": {rv0: true, concurrent: true},
}

type floorMode struct {
	pageSize, nodePageSize int64
	rv0                    bool
	concurrent             bool
}

// floor makes the two LISTs of mode against kubeconfig, decodes them into typed objects and keeps
// nothing.
func floor(mode, kubeconfig string) error {
	m, ok := floorModes[mode]
	if !ok {
		return fmt.Errorf("unknown floor mode %q", mode)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf
	cfg.QPS, cfg.Burst = 50, 100
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
		if m.nodePageSize > 0 {
			o.Limit = m.nodePageSize
		}
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
