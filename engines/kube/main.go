// Command mesh-engine runs one component of a real Kubernetes control plane per
// subcommand, so that the shared Kubernetes packages compile once for all of them.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

const usage = "usage: mesh-engine etcd|apiserver|controller-manager|scheduler [flags]"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	component, args := os.Args[1], os.Args[2:]
	if component == "etcd" {
		// etcdmain.Main reads its flags from the whole argument list, program name first.
		etcdmain.Main(append([]string{"etcd"}, args...))
		return
	}
	// Only the chosen component's command is built: each one registers the
	// process-wide klog flags, which may be registered once per process.
	var command *cobra.Command
	switch component {
	case "apiserver":
		command = apiserver.NewAPIServerCommand()
	case "controller-manager":
		command = controllermanager.NewControllerManagerCommand()
	case "scheduler":
		command = scheduler.NewSchedulerCommand()
	default:
		fmt.Fprintf(os.Stderr, "unknown component %q; %s\n", component, usage)
		os.Exit(2)
	}
	command.SetArgs(args)
	os.Exit(cli.Run(command))
}
