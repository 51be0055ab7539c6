// Command analyze-files runs istioctl analyze's analyzers over YAML files as if the files were
// the whole cluster: the measuring instrument of tests/analyzer_parity, built outside the
// project (see tests/analyzer_parity/README.md), never shipped.
//
// `istioctl analyze --use-kube=false` reads only Istio config from files: Pods, Namespaces,
// Services, ConfigMaps and webhooks are taken from a cluster only, so its injection, webhook,
// subset and selector analyzers are skipped offline. This runs the same combined analyzers
// (analyzers.AllCombined, as istioctl) with every kind read from the files
// (AddTestReaderKubeSource, as Istio's own analyzer tests), the default mesh config, all
// namespaces, and prints the messages as `istioctl analyze -o json` does.
package main

import (
	"fmt"
	"os"
	"runtime/debug"

	"istio.io/istio/istioctl/pkg/util/formatting"
	"istio.io/istio/pkg/config/analysis/analyzers"
	"istio.io/istio/pkg/config/analysis/local"
	"istio.io/istio/pkg/config/resource"
	"istio.io/istio/pkg/log"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "version" {
		info, _ := debug.ReadBuildInfo()
		for _, dep := range info.Deps {
			if dep.Path == "istio.io/istio" {
				fmt.Printf("istio.io/istio %s\n", dep.Version)
			}
		}
		return
	}
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: analyze-files FILE... | analyze-files version")
		os.Exit(2)
	}
	// stdout carries the JSON answer only: the analyzer's own log goes to stderr, errors only
	logOptions := log.DefaultOptions()
	logOptions.OutputPaths = []string{"stderr"}
	logOptions.SetDefaultOutputLevel(log.OverrideScopeName, log.ErrorLevel)
	if err := log.Configure(logOptions); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	sa := local.NewIstiodAnalyzer(analyzers.AllCombined(), resource.Namespace(""),
		resource.Namespace("istio-system"), nil)
	var sources []local.ReaderSource
	for _, path := range os.Args[1:] {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		defer f.Close()
		sources = append(sources, local.ReaderSource{Name: path, Reader: f})
	}
	if err := sa.AddTestReaderKubeSource(sources); err != nil {
		fmt.Fprintf(os.Stderr, "Error(s) adding files: %v\n", err)
		os.Exit(2)
	}
	cancel := make(chan struct{})
	result, err := sa.Analyze(cancel)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	out, err := formatting.Print(*result.Messages.SetDocRef("istioctl-analyze"), formatting.JSONFormat, false)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println(out)
}
