package main

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/writeback/writeback/internal/config"
)

// The configuration in the Kubernetes manifest loads (a typo there would
// crash-loop every pod made from it).
func TestKubernetesManifestConfigLoads(t *testing.T) {
	b, err := os.ReadFile("../../deploy/kubernetes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	found := false
	for {
		var doc struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
		}
		if err := dec.Decode(&doc); err != nil {
			break
		}
		if doc.Kind != "ConfigMap" {
			continue
		}
		found = true
		c, err := config.Parse([]byte(doc.Data["writeback.yaml"]))
		if err != nil {
			t.Fatalf("the ConfigMap's writeback.yaml: %v", err)
		}
		if c.Sync.Listen == "" || !c.Sync.ListenToken.IsSet() {
			t.Errorf("the pod's listener: listen %q, token set %v; probes and Prometheus need both", c.Sync.Listen, c.Sync.ListenToken.IsSet())
		}
	}
	if !found {
		t.Fatal("no ConfigMap in deploy/kubernetes.yaml")
	}
}
